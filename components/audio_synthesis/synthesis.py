"""Building one clip: utterances of same-gender speakers laid on silence.

A clip is one of three kinds: a crop (one random piece of one real utterance, speed 1.0: what
`predict` hears; synthesis.crop_probability of the clips), or one of the post's mixtures: a "room full
of people" (every chosen speaker talks at once, each at a random offset) or a sequence (utterances one
after another with random pauses). Each mixed utterance gets a random gain (dB) and playback speed.
Everything random comes from a generator seeded by (seed, split, clip index), so a clip's bytes do not
depend on which worker makes it or in which order.

Speed: utterances are decoded once per worker (see UtteranceCache) and every operation here is one
vectorised numpy pass over the samples the clip actually uses; see bench/ for the figures.
"""
import collections
import logging
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from components.common import audio
from components.audio_synthesis.config import EVAL_CROPS, FAIL, SynthesisConfig, clip_samples
from components.common.vocabulary import CROP, LABELS, LABEL_NAMES, SEQUENTIAL, SIMULTANEOUS, SPLITS
from components.common.errors import AudioClfError, clip

log = logging.getLogger(__name__)

PEAK = 0.99  # a mix louder than this is scaled down rather than clipped

Pools = Dict[str, Dict[str, List[str]]]  # gender -> speaker -> file paths (as the speaker index holds them)

# Why an utterance drawn for a clip was not used (the manifest's `skipped_why`, the summary's counts).
UNDECODABLE, TOO_SHORT, SILENT = "undecodable", "too short", "silent"
SKIP_REASONS = (UNDECODABLE, TOO_SHORT, SILENT)
FRAME_SECONDS = 0.05   # the frames whose RMS level decides whether an utterance holds any sound


def split_pools(index: dict, split: str) -> Pools:
    """The speakers (and their files) a clip of `split` may draw from: that split's only."""
    return {gender: {spk: [f["path"] for f in index["speakers"][spk]["files"]] for spk in ids}
            for gender, ids in index["splits"][split].items()}


def clip_rng(config: SynthesisConfig, split: str, clip_index: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, SPLITS.index(split), clip_index])


def clip_label(config: SynthesisConfig, clip_index: int) -> int:
    """Labels alternate by index, so every split is balanced to within one clip."""
    return clip_index % (3 if config.mixed_class else 2)


# Work in chunks of this many output samples: every temporary stays ~128 KB, which glibc serves from
# memory it already holds. Whole-clip temporaries (several MB each) were mapped fresh from the kernel
# and page-faulted for every clip, about 30 % of synthesis time (bench/bench_synthesis.py, row a2).
CHUNK = 16384


def stretch_into(out: np.ndarray, samples: np.ndarray, speed: float, gain: float, out_start: int) -> None:
    """Adds output samples [out_start, out_start + len(out)) of `samples` played `speed` times faster,
    times `gain`, to `out`.

    Linear interpolation, like changing a recording's frame rate: tempo and pitch move together.
    Only the part of the utterance that lands in the clip is computed.
    """
    last = len(samples) - 1
    for begin in range(0, len(out), CHUNK):
        end = min(begin + CHUNK, len(out))
        positions = np.arange(out_start + begin, out_start + end, dtype=np.float64) * speed
        left = positions.astype(np.int64)
        np.minimum(left, last, out=left)
        frac = positions - left
        x0 = samples[left]
        x1 = samples[np.minimum(left + 1, last)]
        out[begin:end] += ((x0 + (x1 - x0) * frac) * gain).astype(np.float32)


def stretched_length(num_samples: int, speed: float) -> int:
    return int(num_samples / speed)


def loudest_frame_dbfs(samples: np.ndarray, rate: int) -> float:
    """The RMS level (dBFS) of the loudest FRAME_SECONDS frame; -inf for digital silence."""
    frame = max(1, int(rate * FRAME_SECONDS))
    whole = len(samples) // frame * frame
    frames = samples[:whole].reshape(-1, frame) if whole else samples[None, :]
    power = float(np.max(np.einsum("ij,ij->i", frames, frames))) / frames.shape[1]   # no squared temporary
    return 10.0 * np.log10(power) if power > 0 else float("-inf")


def unusable(samples: np.ndarray, config: SynthesisConfig) -> Optional[Tuple[str, str]]:
    """(reason, detail) when a clip must not use the utterance: shorter than min_piece_seconds, or silent."""
    seconds = len(samples) / config.sample_rate
    if seconds < config.min_piece_seconds:
        return TOO_SHORT, f"{seconds:.2f} s, under synthesis.min_piece_seconds={config.min_piece_seconds:g}"
    level = loudest_frame_dbfs(samples, config.sample_rate)
    if level < config.min_speech_dbfs:
        return SILENT, (f"its loudest {FRAME_SECONDS * 1000:.0f} ms frame is at {level:.1f} dBFS, under "
                        f"synthesis.min_speech_dbfs={config.min_speech_dbfs:g}")
    return None


class UtteranceCache:
    """Decoded utterances at the clip sample rate, least recently used dropped past `max_bytes`.

    With `config`, an utterance too short or silent (`unusable`) is skipped like a corrupt file, or stops
    the run with synthesis.unusable_utterances=fail. `reasons`: path -> why each skipped file was skipped."""

    def __init__(self, sample_rate: int, max_bytes: int, skip_corrupt: bool = False,
                 config: Optional[SynthesisConfig] = None):
        self._rate, self._max = sample_rate, max_bytes
        self._skip, self._config = skip_corrupt, config
        self._items: "collections.OrderedDict[str, np.ndarray]" = collections.OrderedDict()
        self._bytes = 0
        self.bad: Dict[str, str] = {}
        self.reasons: Dict[str, str] = {}

    def get(self, path: str) -> Optional[np.ndarray]:
        """The samples, or None for a file skipped (corrupt with skip_corrupt, or unusable), else AudioClfError."""
        if path in self._items:
            self._items.move_to_end(path)
            return self._items[path]
        if path in self.bad:
            return None
        try:
            samples = audio.decode_audio(path, self._rate)
        except AudioClfError as err:
            if not self._skip:
                raise
            return self._skipped(path, UNDECODABLE, str(err))
        problem = unusable(samples, self._config) if self._config else None
        if problem:
            message = f"{path}: {problem[0]} ({problem[1]})"
            if self._config.unusable_utterances == FAIL:
                raise AudioClfError(f"{message}; synthesis.unusable_utterances=fail stops the run here: remove the "
                                    f"utterance from the corpus, or set synthesis.unusable_utterances=skip.")
            return self._skipped(path, problem[0], message)
        self._items[path] = samples
        self._bytes += samples.nbytes
        while self._bytes > self._max and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= dropped.nbytes
        return samples

    def _skipped(self, path: str, reason: str, message: str) -> None:
        log.warning("skipping %s", message)
        self.bad[path], self.reasons[path] = message, reason
        return None


def _choose_speakers(rng: np.random.Generator, pools: Pools, label: int, low: int, high: int) -> List[Tuple[str, str]]:
    """(gender, speaker) pairs for one clip: one gender, or both genders for the mixed class."""
    if label == LABELS["mixed"]:
        everyone = [(g, s) for g in sorted(pools) for s in sorted(pools[g])]
        count = int(rng.integers(max(2, low), high + 1))
        first = [(g, sorted(pools[g])[int(rng.integers(len(pools[g])))]) for g in sorted(pools)]
        rest = [p for p in everyone if p not in first]
        extra = [rest[i] for i in rng.permutation(len(rest))[:max(0, count - len(first))]]
        return first + extra
    gender = "M" if label == LABELS["M"] else "F"
    ids = sorted(pools[gender], key=lambda s: (len(s), s))
    count = min(int(rng.integers(low, high + 1)), len(ids))
    return [(gender, ids[i]) for i in sorted(rng.permutation(len(ids))[:count])]


def _draw_utterance(rng, pools: Pools, gender: str, speaker: str, load: Callable,
                    skipped: List[str]) -> Tuple[Optional[str], Optional[np.ndarray]]:
    """A random decodable file of the speaker; files the loader rejects are appended to `skipped`."""
    files = pools[gender][speaker]
    for i in rng.permutation(len(files)):
        samples = load(files[int(i)])
        if samples is not None:
            return files[int(i)], samples
        skipped.append(files[int(i)])
    return None, None


def _nothing_usable(split: str, clip_index: int, chosen: List[Tuple[str, str]], skipped: List[str],
                    reasons: Optional[Dict[str, str]]) -> str:
    """The message when no file tried for a clip could be used, naming them with why: undecodable (skipped
    as corrupt; their headers were fine, so the speaker index lists none of them), too short or silent."""
    speakers = ", ".join(clip(s) for _, s in chosen)
    tried = sorted(set(skipped))
    if not tried:
        return f"clip {split}-{clip_index}: speakers {speakers} have no audio file to draw from."
    why = reasons or {}
    shown = ", ".join(f"{clip(path)} ({why.get(path, UNDECODABLE)})" for path in tried[:5])
    shown += f" and {len(tried) - 5} more" if len(tried) > 5 else ""
    return (f"clip {split}-{clip_index}: none of the {len(tried)} file(s) tried could be used ({shown}) and no "
            f"other speaker of the class has a usable file. Undecodable files were skipped as corrupt "
            f"(corpus.skip_corrupt; their headers read fine, so the speaker index did not list them); too short or "
            f"silent ones fall under synthesis.min_piece_seconds and min_speech_dbfs. Repair or remove these files, "
            f"or add speakers.")


def _add_noise(rng: np.random.Generator, mix: np.ndarray, config: SynthesisConfig) -> Optional[float]:
    """White noise at a random SNR (dB, against the speech's RMS over its non-silent samples), with
    probability noise_probability; returns the SNR used, or None. Noise leaves pitch and formants in
    place, so it teaches the model a microphone's hiss, not a different voice."""
    if rng.random() >= config.noise_probability:
        return None
    snr_db = float(rng.uniform(*config.noise_snr_db))
    speech = np.count_nonzero(mix)
    if not speech:
        return None
    power = float(np.dot(mix, mix)) / speech
    scale = np.float32(np.sqrt(power / 10.0 ** (snr_db / 10.0)))
    noise = np.random.default_rng(rng.integers(1 << 63))   # its own stream: the clip's draws stay as they were
    for begin in range(0, len(mix), CHUNK):
        part = mix[begin:begin + CHUNK]
        part += noise.standard_normal(len(part), dtype=np.float32) * scale
    return round(snr_db, 2)


def _add_channel(rng: np.random.Generator, mix: np.ndarray, config: SynthesisConfig) -> Optional[dict]:
    """A random recording channel (high-pass, and low-pass below the Nyquist frequency) over the clip, with
    probability channel_probability; returns its cutoffs, or None. Filtering moves no harmonic and no
    formant: it changes how loud the chain leaves them, as a phone line or a cheap microphone does."""
    if rng.random() >= config.channel_probability:
        return None
    from scipy import signal  # pylint: disable=import-outside-toplevel

    highpass = float(rng.uniform(*config.channel_highpass_hz))
    lowpass = float(rng.uniform(*config.channel_lowpass_hz))
    nyquist = config.sample_rate / 2.0
    sections = [signal.butter(2, highpass, "highpass", fs=config.sample_rate, output="sos")]
    if lowpass < 0.95 * nyquist:
        sections.append(signal.butter(2, lowpass, "lowpass", fs=config.sample_rate, output="sos"))
    mix[:] = signal.sosfilt(np.concatenate(sections), mix).astype(np.float32)
    return {"highpass_hz": round(highpass, 1), "lowpass_hz": round(lowpass, 1) if lowpass < 0.95 * nyquist else None}


def synthesize_clip(split: str, clip_index: int, pools: Pools, config: SynthesisConfig,
                    load: Callable[[str], Optional[np.ndarray]],
                    reasons: Optional[Dict[str, str]] = None) -> Tuple[np.ndarray, dict]:
    """Returns (float32 samples of exactly clip_seconds, metadata) for clip `clip_index` of `split`.
    `load` gives None for a file to skip; `reasons` (UtteranceCache.reasons) says why (default undecodable)."""
    rng = clip_rng(config, split, clip_index)
    rate = config.sample_rate
    length = clip_samples(config)
    min_piece = int(round(config.min_piece_seconds * rate))
    label = clip_label(config, clip_index)
    croppable = label != LABELS["mixed"]   # a mixed-gender clip needs two speakers
    clean_crops = croppable and split == "eval" and config.eval_clip_mode == EVAL_CROPS
    # Drawn only when crops are asked for, so that other settings keep their clips byte for byte.
    crop = clean_crops or (croppable and config.crop_probability > 0 and rng.random() < config.crop_probability)
    mode = CROP if crop else SIMULTANEOUS if rng.random() < config.simultaneous_probability else SEQUENTIAL
    chosen = _choose_speakers(rng, pools, label, 1, 1) if crop else _choose_speakers(rng, pools, label,
                                                                                      *config.speakers_per_clip)
    mix = np.zeros(length, dtype=np.float32)
    placed: List[dict] = []
    skipped: List[str] = []

    def place(gender: str, speaker: str, at: int, room: int, anywhere: bool) -> int:
        """Puts one random utterance of `speaker` in mix[at:at + room]; returns the samples used.

        anywhere=True (simultaneous): a short utterance lands at a random offset in the room and a
        long one contributes a random window; False (sequence): it starts at `at`, cut at the end.
        """
        path, samples = _draw_utterance(rng, pools, gender, speaker, load, skipped)
        # A crop keeps the speaker's own pitch: playback speed moves F0 and formants, a gender cue.
        speed = 1.0 if mode == CROP else float(rng.uniform(*config.speed))
        gain_db = float(rng.uniform(*config.gain_db))
        if samples is None:
            return 0
        full = stretched_length(len(samples), speed)
        start, used = 0, min(full, room)
        if anywhere and full > room:
            start = int(rng.integers(0, full - room + 1))
        elif anywhere:
            at += int(rng.integers(0, room - full + 1))
        stretch_into(mix[at:at + used], samples, speed, 10.0 ** (gain_db / 20.0), start)
        placed.append({"path": path, "speaker": speaker, "gender": gender, "at_s": round(at / rate, 4),
                       "seconds": round(used / rate, 4), "speed": round(speed, 4), "gain_db": round(gain_db, 3)})
        return used

    if mode in (SIMULTANEOUS, CROP):
        for gender, speaker in chosen:
            place(gender, speaker, 0, length, anywhere=True)
    else:
        at, turn = 0, 0
        order = [chosen[int(i)] for i in rng.permutation(len(chosen))]
        # Speakers take turns until the clip is full; a piece shorter than min_piece is not started.
        while length - at >= min_piece and turn < 4 * len(order) + length // max(min_piece, 1):
            gender, speaker = order[turn % len(order)]
            turn += 1
            used = place(gender, speaker, at, length - at, anywhere=False)
            if used:
                at += used + int(round(rng.uniform(*config.pause_seconds) * rate))
    if not placed:  # every chosen speaker's files were skipped: draw others of the same class
        genders = {g for g, _ in chosen}
        others = [(g, spk) for g in sorted(genders) for spk in sorted(pools[g]) if (g, spk) not in chosen]
        for i in rng.permutation(len(others)):
            if place(*others[int(i)], 0, length, anywhere=(mode != SEQUENTIAL)):
                break
    if not placed:
        raise AudioClfError(_nothing_usable(split, clip_index, chosen, skipped, reasons))
    noise_db = _add_noise(rng, mix, config) if config.noise_probability > 0 and not clean_crops else None
    # After the noise: the chain filters the microphone's hiss too.
    channel = _add_channel(rng, mix, config) if config.channel_probability > 0 and not clean_crops else None
    peak = max(float(mix.max()), -float(mix.min()))  # no |mix| temporary
    if peak > PEAK:
        mix *= np.float32(PEAK / peak)
    speakers = sorted({p["speaker"] for p in placed}, key=lambda s: (len(s), s))
    meta = {"clip_id": f"{split}-{clip_index:06d}", "split": split, "index": clip_index, "label": label,
            "label_name": LABEL_NAMES[label], "mode": mode, "speakers": speakers, "num_speakers": len(speakers),
            "utterances": placed, "duration_s": config.clip_seconds, "sample_rate": rate, "noise_snr_db": noise_db,
            "channel": channel,
            "skipped_files": sorted(set(skipped)),
            "skipped_why": {path: (reasons or {}).get(path, UNDECODABLE) for path in sorted(set(skipped))}}
    return mix, meta
