"""The `synthesis` settings section: how clips are built from utterances, and what follows from it
(samples per clip, number of classes)."""
from dataclasses import dataclass, field
from typing import Dict, List

from components.common.errors import AudioClfError
from components.common.settings import check_range
from components.common.vocabulary import LABEL_NAMES, SPLITS


SKIP, FAIL = "skip", "fail"
UNUSABLE_POLICIES = (SKIP, FAIL)


@dataclass
class SynthesisConfig:
    """How clips are built from utterances (see components/audio_synthesis/synthesis.py)."""
    # LibriSpeech is recorded at 16 kHz: resampling to the post's 22050 Hz adds no information above
    # 8 kHz and costs 38 % more samples in every later stage, so 16 kHz is the default.
    sample_rate: int = 16000
    # The post used 60 s clips. 4 s is predict's window: a 4-5 s utterance is one or two windows rather
    # than mostly padding, and a small corpus gives more distinct clips (README, "Model quality").
    # The synthesis benchmark measures 60 s clips.
    clip_seconds: float = 4.0
    clips: Dict[str, int] = field(default_factory=lambda: {"train": 1500, "eval": 200, "test": 100})
    # Probability that a clip is one random crop of one real utterance (one speaker, no speed change:
    # what `predict` hears) rather than one of the post's mixtures below.
    crop_probability: float = 0.5
    # Probability that a mixture is a "room full of people" (all utterances at once) rather than a sequence.
    simultaneous_probability: float = 0.5
    speakers_per_clip: List[int] = field(default_factory=lambda: [1, 3])
    pause_seconds: List[float] = field(default_factory=lambda: [0.0, 5.0])
    gain_db: List[float] = field(default_factory=lambda: [-6.0, 6.0])
    # Playback-speed factor (changes tempo and pitch together, as pydub's frame-rate trick in the post).
    speed: List[float] = field(default_factory=lambda: [0.9, 1.1])
    # Probability of white noise over a clip, at an SNR (dB) drawn from noise_snr_db.
    noise_probability: float = 0.3
    noise_snr_db: List[float] = field(default_factory=lambda: [10.0, 40.0])
    # No utterance piece shorter than this is placed in a clip (a sequence stops instead); an utterance
    # shorter than this is unusable (below).
    min_piece_seconds: float = 1.0
    # An utterance none of whose 50 ms frames reaches this RMS level (dBFS: 0 is full scale, a full-scale
    # sine is -3) is silent, so unusable: it would make a clip of nothing under a gender's label.
    min_speech_dbfs: float = -50.0
    # Unusable utterances (too short or silent): "skip" them (each clip draws another; counted per clip in
    # the manifest, in summary.json and the report), or "fail" the run naming the first one.
    unusable_utterances: str = "skip"
    # Adds a third class, label 2: clips mixing both genders.
    mixed_class: bool = False
    seed: int = 7
    # Decoded utterances kept per Beam worker, so repeated draws don't decode the same file again.
    cache_mb: int = 512

    def validate(self) -> None:
        """Refuses settings that cannot work, naming the setting and what to change."""
        if self.sample_rate < 4000:
            raise AudioClfError(f"config: synthesis.sample_rate={self.sample_rate} is too low for speech; use >= 4000 Hz.")
        if self.min_piece_seconds <= 0:
            raise AudioClfError("config: synthesis.min_piece_seconds must be > 0.")
        if not -120.0 <= self.min_speech_dbfs < 0.0:
            raise AudioClfError(f"config: synthesis.min_speech_dbfs={self.min_speech_dbfs:g} must be in [-120, 0) dBFS.")
        if self.unusable_utterances not in UNUSABLE_POLICIES:
            raise AudioClfError(f"config: synthesis.unusable_utterances={self.unusable_utterances!r} must be one of "
                                f"{', '.join(UNUSABLE_POLICIES)}.")
        if self.clip_seconds < self.min_piece_seconds:
            raise AudioClfError(f"config: synthesis.clip_seconds={self.clip_seconds:g} is shorter than the shortest "
                                f"allowed utterance piece, synthesis.min_piece_seconds={self.min_piece_seconds:g}; "
                                f"raise clip_seconds or lower min_piece_seconds.")
        if sorted(self.clips) != sorted(SPLITS):
            raise AudioClfError(f"config: synthesis.clips must give a count for each of {', '.join(SPLITS)}; got {self.clips}.")
        for split, count in self.clips.items():
            if not isinstance(count, int) or count <= 0:
                raise AudioClfError(f"config: synthesis.clips.{split}={count!r}: zero clips requested; "
                                    f"every split needs at least one clip (2 or more for both labels).")
        for name in ("simultaneous_probability", "crop_probability", "noise_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise AudioClfError(f"config: synthesis.{name} must be within [0, 1].")
        check_range("synthesis.noise_snr_db", self.noise_snr_db)
        check_range("synthesis.speakers_per_clip", self.speakers_per_clip, 1)
        check_range("synthesis.pause_seconds", self.pause_seconds, 0.0)
        check_range("synthesis.gain_db", self.gain_db)
        check_range("synthesis.speed", self.speed)
        if self.speed[0] <= 0:
            raise AudioClfError("config: synthesis.speed factors must be > 0.")
        if self.mixed_class and self.speakers_per_clip[1] < 2:
            raise AudioClfError("config: synthesis.mixed_class needs synthesis.speakers_per_clip to allow 2 or more speakers.")


def clip_samples(synthesis: SynthesisConfig) -> int:
    """Samples in every clip (and so in every model input window)."""
    return int(round(synthesis.clip_seconds * synthesis.sample_rate))


def synthesis_classes(synthesis: SynthesisConfig) -> int:
    """Classes the clips are labelled with: male and female, plus mixed with synthesis.mixed_class."""
    return 3 if synthesis.mixed_class else 2


def label_names(synthesis: SynthesisConfig) -> List[str]:
    return LABEL_NAMES[:synthesis_classes(synthesis)]
