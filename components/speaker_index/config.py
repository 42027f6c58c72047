"""The `corpus` settings section: which corpora the speaker index reads and how it splits speakers."""
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List

from components.common.errors import AudioClfError
from components.common.settings import SEED_MAX, setting
from components.common.vocabulary import SPLITS


@dataclass
class CorpusConfig:
    """How the speaker index reads the corpora and splits their speakers."""
    SECTION: ClassVar[str] = "corpus"   # its name in the config, in messages
    # The corpora to read, combined: each a root path, or {root, format, name}. `format` is one of
    # librispeech, vctk, kaldi, commonvoice, csv, or auto (detected); `name` prefixes the speaker ids
    # (default: the root's folder name). `audioclf run --data-root` (repeatable) replaces this list;
    # empty and no --data-root: the corpora bundled in data/.
    sources: List[Any] = field(default_factory=list)
    # LibriSpeech subset folders under a root to read (e.g. ["train-clean-100"]); empty = every folder.
    subsets: List[str] = field(default_factory=list)
    # Extensions a folder scan picks up (LibriSpeech, VCTK); mp3/m4a/opus decode through ffmpeg.
    audio_extensions: List[str] = field(default_factory=lambda: [".flac", ".wav", ".mp3", ".m4a", ".ogg", ".opus"])
    # Speakers younger than this (where the metadata gives an age) are left out and counted.
    min_age: float = setting(16.0, low=0.0, high=150.0)
    # A corpus with fewer speakers than this of either gender is not split: it goes whole to train
    # (the run says so). 3 is the least that puts one speaker of each gender in every split.
    min_speakers_to_split: int = setting(3, low=len(SPLITS), high=1_000_000,
                                         note="one speaker of each gender per split")
    # Speakers (not files) of each gender go to train/eval/test in these proportions.
    split_fractions: Dict[str, float] = setting(factory=lambda: {"train": 0.8, "eval": 0.1, "test": 0.1}, above=0.0,
                                                below=1.0)
    seed: int = setting(42, low=0, high=SEED_MAX)
    # false: a corrupt audio file stops the run; true: it is skipped and listed in the outputs. Files
    # that are not regular (a FIFO, a device or a socket named like audio) count as corrupt: never opened.
    skip_corrupt: bool = False
    # Audio reached through a symbolic link that leads out of the data root is read and counted in the
    # summary (links_outside_root); true: such a file stops the run, named.
    refuse_links_outside_root: bool = False

    def validate(self) -> None:
        """Refuses settings that cannot work, naming the setting and what to change."""
        fractions = self.split_fractions
        if sorted(fractions) != sorted(SPLITS):
            raise AudioClfError(f"config: corpus.split_fractions must name exactly {', '.join(SPLITS)}; got {sorted(fractions)}.")
        if not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-6):
            raise AudioClfError(f"config: corpus.split_fractions add up to {sum(fractions.values()):g}, not 1; "
                                f"got {fractions}. Adjust them so that train + eval + test = 1.")
        if isinstance(self.subsets, str):
            self.subsets = [self.subsets]   # one subset named as a string, not its characters
        if not isinstance(self.sources, list):
            self.sources = [self.sources]
