"""The `synthesis` settings section: how clips are built from utterances, and what follows from it
(samples per clip, number of classes)."""
from dataclasses import dataclass
from typing import ClassVar, Dict, List

from components.common.errors import AudioClfError
from components.common.settings import SEED_MAX, check_range, setting
from components.common.vocabulary import LABEL_NAMES, SPLITS

MAX_CLIP_SECONDS = 600.0   # 10 minutes (the post used 60 s; at 48 kHz one clip is 115 MB of float32)
MAX_CLIPS = 1_000_000      # per split


SKIP, FAIL = "skip", "fail"
UNUSABLE_POLICIES = (SKIP, FAIL)
# What the eval split (early stopping's and the reports' data) is made of.
EVAL_AS_TRAIN, EVAL_CROPS = "as_train", "crops"
EVAL_CLIP_MODES = (EVAL_AS_TRAIN, EVAL_CROPS)


@dataclass
class SynthesisConfig:
    """How clips are built from utterances (see components/audio_synthesis/synthesis.py)."""
    SECTION: ClassVar[str] = "synthesis"   # its name in the config, in messages
    # LibriSpeech is recorded at 16 kHz: resampling to the post's 22050 Hz adds no information above
    # 8 kHz and costs 38 % more samples in every later stage, so 16 kHz is the default.
    # Limits: 4-48 kHz (speech needs 4 kHz; nothing records above 48 kHz).
    sample_rate: int = setting(16000, low=4000, high=48000)
    # The post used 60 s clips. 4 s is predict's window: a 4-5 s utterance is one or two windows rather
    # than mostly padding, and a small corpus gives more distinct clips (README, "Model quality").
    # The synthesis benchmark measures 60 s clips.
    # At most 10 minutes: a clip is one model input, held whole (several copies) by every Beam worker,
    # and the trainer's memory cache holds every train and eval clip (pipeline/config.py check_memory).
    clip_seconds: float = setting(4.0, above=0.0, high=MAX_CLIP_SECONDS)
    # 1 to 1,000,000 clips per split.
    clips: Dict[str, int] = setting(factory=lambda: {"train": 1500, "eval": 200, "test": 100}, low=1, high=MAX_CLIPS,
                                    note="every split needs at least one clip")
    # Probability that a clip is one random crop of one real utterance (one speaker, no speed change:
    # what `predict` hears) rather than one of the post's mixtures below.
    crop_probability: float = setting(0.5, low=0.0, high=1.0)
    # Probability that a mixture is a "room full of people" (all utterances at once) rather than a sequence.
    simultaneous_probability: float = setting(0.5, low=0.0, high=1.0)
    speakers_per_clip: List[int] = setting(factory=lambda: [1, 3], low=1, high=16)
    pause_seconds: List[float] = setting(factory=lambda: [0.0, 5.0], low=0.0, high=MAX_CLIP_SECONDS)
    gain_db: List[float] = setting(factory=lambda: [-6.0, 6.0], low=-60.0, high=60.0)
    # Playback-speed factor (changes tempo and pitch together, as pydub's frame-rate trick in the post).
    speed: List[float] = setting(factory=lambda: [0.9, 1.1], low=0.25, high=4.0)
    # Probability of white noise over a clip, at an SNR (dB) drawn from noise_snr_db.
    noise_probability: float = setting(0.3, low=0.0, high=1.0)
    noise_snr_db: List[float] = setting(factory=lambda: [10.0, 40.0], low=-30.0, high=120.0)
    # Probability that a clip goes through a random recording channel: a 2nd-order Butterworth high-pass at a
    # cutoff drawn from channel_highpass_hz and a low-pass at one drawn from channel_lowpass_hz (a phone
    # line is about 300-3400 Hz; a low-pass at or above half the sample rate is left out). It moves no
    # harmonic and no formant, only how loud the recording chain leaves them. Off (0) by default.
    channel_probability: float = setting(0.0, low=0.0, high=1.0)
    channel_highpass_hz: List[float] = setting(factory=lambda: [20.0, 300.0], low=1.0, high=24000.0)
    channel_lowpass_hz: List[float] = setting(factory=lambda: [3400.0, 8000.0], low=100.0, high=24000.0)
    # No utterance piece shorter than this is placed in a clip (a sequence stops instead).
    min_piece_seconds: float = setting(1.0, above=0.0, high=MAX_CLIP_SECONDS)
    # An utterance none of whose 50 ms frames reaches this RMS level (dBFS: 0 is full scale, a full-scale
    # sine is -3) is silent, so unusable: it would make a clip of nothing under a gender's label.
    min_speech_dbfs: float = setting(-50.0, low=-120.0, below=0.0)
    # Unusable utterances (too short or silent): "skip" them (each clip draws another; counted per clip in
    # the manifest, in summary.json and the report), or "fail" the run naming the first one.
    unusable_utterances: str = SKIP
    # The eval split, which picks the epoch early stopping keeps: "as_train" (the train split's mix of crops,
    # mixtures and noise) or "crops": every eval clip one clean crop of one real utterance (no noise), i.e.
    # what `predict` and the real-speech gate judge, of speakers the model never trained on. Mixed-gender
    # clips (mixed_class) stay mixtures.
    eval_clip_mode: str = EVAL_AS_TRAIN
    # Adds a third class, label 2: clips mixing both genders.
    mixed_class: bool = False
    seed: int = setting(7, low=0, high=SEED_MAX)
    # Decoded utterances kept per Beam worker, so repeated draws don't decode the same file again.
    cache_mb: int = setting(512, low=0, high=1 << 20)

    def validate(self) -> None:
        """Refuses settings that cannot work, naming the setting and what to change."""
        if self.unusable_utterances not in UNUSABLE_POLICIES:
            raise AudioClfError(f"config: synthesis.unusable_utterances={self.unusable_utterances!r} must be one of "
                                f"{', '.join(UNUSABLE_POLICIES)}.")
        if self.clip_seconds < self.min_piece_seconds:
            raise AudioClfError(f"config: synthesis.clip_seconds={self.clip_seconds:g} is shorter than the shortest "
                                f"allowed utterance piece, synthesis.min_piece_seconds={self.min_piece_seconds:g}; "
                                f"raise clip_seconds or lower min_piece_seconds.")
        if self.eval_clip_mode not in EVAL_CLIP_MODES:
            raise AudioClfError(f"config: synthesis.eval_clip_mode={self.eval_clip_mode!r} must be one of "
                                f"{', '.join(EVAL_CLIP_MODES)}.")
        if sorted(self.clips) != sorted(SPLITS):
            raise AudioClfError(f"config: synthesis.clips must give a count for each of {', '.join(SPLITS)}; got {self.clips}.")
        check_range("synthesis.noise_snr_db", self.noise_snr_db)
        check_range("synthesis.channel_highpass_hz", self.channel_highpass_hz)
        check_range("synthesis.channel_lowpass_hz", self.channel_lowpass_hz)
        if self.channel_probability > 0 and self.channel_highpass_hz[1] >= self.channel_lowpass_hz[0]:
            raise AudioClfError(f"config: synthesis.channel_highpass_hz={self.channel_highpass_hz} reaches "
                                f"synthesis.channel_lowpass_hz={self.channel_lowpass_hz}: a channel could pass "
                                f"nothing; keep the high-pass cutoffs below the low-pass ones.")
        check_range("synthesis.speakers_per_clip", self.speakers_per_clip, 1)
        check_range("synthesis.pause_seconds", self.pause_seconds, 0.0)
        check_range("synthesis.gain_db", self.gain_db)
        check_range("synthesis.speed", self.speed)
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
