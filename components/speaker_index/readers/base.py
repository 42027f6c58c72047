"""What every corpus reader returns, and the small parsing helpers they share.

A reader turns one corpus root (LibriSpeech, VCTK, Kaldi data dir, Common Voice, CSV manifest) into a
`CorpusListing`: the speakers it finds with their gender, age (when the metadata gives one) and audio
files. It raises `AudioClfError` naming the file (and line) for anything it cannot read. It does not
open the audio: the speaker index reads every file's header afterwards, the same way for all formats,
and only regular files (a FIFO or device named like audio is refused unopened: fs.check_regular_file).
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

from components.common import audio, fs
from components.common.errors import AudioClfError, clip, quote  # noqa: F401  (the readers import them from here)

# Audio files a folder scan picks up (readers whose metadata names each file read any extension).
SCAN_EXTENSIONS = audio.AUDIO_EXTENSIONS

GENDER_WORDS = {"f": "F", "female": "F", "m": "M", "male": "M"}


@dataclass
class SpeakerRecord:
    speaker_id: str                 # as the corpus names it; the index adds the corpus name in front
    gender: str                     # "F" or "M"
    files: List[str]                # full paths (root joined), sorted
    age: Optional[float] = None     # years; None when the metadata gives no age
    name: str = ""                  # free text shown in reports (e.g. LibriSpeech's NAME column)


@dataclass
class CorpusListing:
    format: str
    speakers: Dict[str, SpeakerRecord] = field(default_factory=dict)
    # Things left out while reading, reason -> count (e.g. {"row without gender": 6}); reported, not errors.
    skipped: Dict[str, int] = field(default_factory=dict)
    # Human-readable remarks for the run's summary (e.g. speakers listed but without audio).
    notes: List[str] = field(default_factory=list)

    def count_skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def read_metadata_text(path: str, what: str) -> str:
    """The text of a metadata file, or AudioClfError saying which file is missing or unreadable."""
    try:
        return fs.read_text(path)
    except FileNotFoundError as err:
        raise AudioClfError(f"{path} not found: {what}") from err
    except UnicodeDecodeError as err:
        raise AudioClfError(f"{path} is not UTF-8 text ({err}); it must be the corpus's text metadata file.") from err
    except OSError as err:
        raise AudioClfError(f"{path} cannot be read ({err}); check its permissions.") from err


def numbered_lines(text: str) -> Iterator[Tuple[int, str]]:
    """(line number, line) split on '\\n' only, so U+2028 or U+0085 inside a field keep line numbers right."""
    for lineno, line in enumerate(text.split("\n"), start=1):
        yield lineno, line.rstrip("\r")


def parse_gender(value: str, where: str, accepted: Dict[str, str] = None) -> str:
    """'F'/'M' from a gender word (any case); AudioClfError naming `where` (file:line) otherwise."""
    accepted = accepted or GENDER_WORDS
    gender = accepted.get(value.strip().lower())
    if gender is None:
        raise AudioClfError(f"{where}: unknown gender code {quote(value)}; accepted: "
                            f"{', '.join(sorted(set(accepted)))} (any case). Correct it or remove the line.")
    return gender


def parse_age(value: str, where: str) -> Optional[float]:
    """Years as a number; None for an empty value; AudioClfError for anything else."""
    value = value.strip()
    if not value:
        return None
    try:
        age = float(value)
    except ValueError:
        age = float("nan")
    if not 0 <= age < 150:
        raise AudioClfError(f"{where}: age {quote(value)} is not a number of years; correct or empty it.")
    return age
