"""Decoding and encoding audio: float32 mono samples in [-1, 1] at a requested sample rate.

soundfile (libsndfile) reads FLAC, WAV and OGG quickly and exactly; other formats (mp3, m4a, ...)
go through pydub/ffmpeg. Resampling uses soxr, which is deterministic for the same input.
"""
import io
import wave
from typing import NamedTuple, Optional

import numpy as np
import soundfile as sf

from components.common import fs
from components.common.errors import AudioClfError

# Audio files a folder scan picks up (the corpus readers, `audioclf predict FOLDER`); mp3 and the
# others after it decode through ffmpeg.
AUDIO_EXTENSIONS = (".flac", ".wav", ".mp3", ".m4a", ".ogg", ".opus")
CORRUPT_HINT = ("The file is corrupt, empty or not audio: replace it (re-download the corpus), delete it, "
                "or set corpus.skip_corrupt=true to skip such files and report them.")


def audio_info(path: str):
    """Returns (frames, sample_rate) from the header, or raises AudioClfError naming the file."""
    try:
        fs.check_regular_file(path, CORRUPT_HINT)
        with fs.open_file(path, "rb") as f:
            info = sf.info(f)
    except FileNotFoundError as err:
        raise AudioClfError(f"{path}: file not found ({err}).") from err
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as err:
        raise AudioClfError(f"{path}: cannot read the audio header ({err}). {CORRUPT_HINT}") from err
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioClfError(f"{path}: holds no audio samples. {CORRUPT_HINT}")
    return info.frames, info.samplerate


def _to_mono(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1) if samples.ndim == 2 else samples


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    if rate == target_rate:
        return samples.astype(np.float32, copy=False)
    import soxr  # pylint: disable=import-outside-toplevel

    return soxr.resample(samples, rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def _soundfile_header(data: bytes):
    """libsndfile's view of the header, or None if it does not know the format (mp3, m4a, ...)."""
    try:
        return sf.info(io.BytesIO(data))
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError):
        return None


# An MP3 header's frame count is an estimate (encoder delay and padding): measured on the bundled Common
# Voice clips, intact files decode 240 samples short of it. Exact formats (FLAC, WAV) get no slack.
MP3_SLACK_SAMPLES = 4608   # four MPEG frames of 1152 samples


def _decode_with_soundfile(data: bytes, header):
    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    # libsndfile stops quietly at a truncated FLAC body: compare with the header's frame count.
    slack = MP3_SLACK_SAMPLES if header.format == "MP3" else 0
    if len(samples) < header.frames - slack:
        raise RuntimeError(f"decoded {len(samples)} of the {header.frames} samples the header announces")
    return samples, rate


def _decode_with_pydub(data: bytes, max_seconds: Optional[float]):
    from pydub import AudioSegment  # pylint: disable=import-outside-toplevel

    # ffmpeg stops a little past the limit: a small file that decodes to hours is not decoded whole.
    segment = AudioSegment.from_file(io.BytesIO(data), duration=None if max_seconds is None else max_seconds + 1)
    raw = np.array(segment.get_array_of_samples(), dtype=np.float32)
    raw = raw.reshape(-1, segment.channels) / float(1 << (8 * segment.sample_width - 1))
    return raw, segment.frame_rate


class Limits(NamedTuple):
    """What a recording to classify may be (the serving.* settings: the model server and `audioclf predict`
    share them). None: no limit."""
    max_bytes: Optional[int] = None        # the file, before it is read (serving.max_file_mb)
    max_seconds: Optional[float] = None    # decoded audio (serving.max_audio_seconds)
    min_seconds: float = 0.0               # decoded audio (serving.min_audio_seconds)


NO_LIMITS = Limits()


def decode_audio(path: str, target_rate: int, hint: str = CORRUPT_HINT, limits: Limits = NO_LIMITS) -> np.ndarray:
    """Reads any audio file into float32 mono at `target_rate`; AudioClfError names a bad file and ends
    with `hint` (what to do about it). Only a regular file is opened (fs.check_regular_file)."""
    try:
        fs.check_regular_file(path, hint)
        data = fs.read_bytes(path, limits.max_bytes, "serving.max_file_mb")
    except FileNotFoundError as err:
        raise AudioClfError(f"{path}: file not found.") from err
    return decode_audio_bytes(data, target_rate, path, hint, limits)


def _too_long(name: str, seconds: float, limits: Limits) -> None:
    if limits.max_seconds is not None and seconds > limits.max_seconds:
        raise AudioClfError(f"{name}: {seconds:.0f} s of audio; at most {limits.max_seconds:g} s per recording "
                            "(serving.max_audio_seconds).")


def check_samples(samples: np.ndarray, rate: int, name: str, limits: Limits) -> None:
    """Refuses decoded audio outside `limits` or holding NaN/infinite samples, naming `name` and the setting."""
    seconds = len(samples) / rate
    _too_long(name, seconds, limits)
    if seconds < limits.min_seconds:
        raise AudioClfError(f"{name}: {seconds:.3f} s of audio; at least {limits.min_seconds:g} s is needed to tell "
                            "(serving.min_audio_seconds).")
    if not np.isfinite(samples).all():
        raise AudioClfError(f"{name}: the audio holds NaN or infinite samples.")


def decode_audio_bytes(data: bytes, target_rate: int, name: str, hint: str = CORRUPT_HINT,
                       limits: Limits = NO_LIMITS) -> np.ndarray:
    """The bytes of an audio file (named `name` in errors) as float32 mono at `target_rate`. NaN or infinite
    samples are refused; with `limits`, audio longer than max_seconds is refused from its header, before
    it is decoded, where the format has an exact one."""
    if not data:
        raise AudioClfError(f"{name}: the file is empty (0 bytes). {hint}")
    header = _soundfile_header(data)
    if header is not None and header.samplerate > 0:
        _too_long(name, header.frames / header.samplerate, limits)
    try:
        # A format libsndfile knows is decoded by it alone: a broken body is corruption, and ffmpeg
        # would hide it by decoding whatever part it can.
        samples, rate = (_decode_with_soundfile(data, header) if header
                         else _decode_with_pydub(data, limits.max_seconds))
    except Exception as err:  # libsndfile: RuntimeError; pydub: CouldntDecodeError, IndexError, ...
        detail = (str(err).strip().splitlines() or [type(err).__name__])[-1]
        raise AudioClfError(f"{name}: cannot decode audio ({detail}). {hint}") from err
    samples = _to_mono(np.asarray(samples, dtype=np.float32))
    if samples.size == 0:
        raise AudioClfError(f"{name}: holds no audio samples. {hint}")
    if not np.isfinite(samples).all():   # a float WAV can hold them; resampling would spread them
        raise AudioClfError(f"{name}: the audio holds NaN or infinite samples. {hint}")
    return resample(samples, rate, target_rate)


def to_pcm16(samples: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """float32 in [-1, 1] -> int16, rounding to nearest and saturating at full scale.

    In chunks, so that no whole-clip float temporary is allocated (see synthesis.CHUNK for why)."""
    pcm = np.empty(len(samples), dtype="<i2")
    for begin in range(0, len(samples), chunk):
        part = samples[begin:begin + chunk] * np.float32(32767.0)
        np.rint(part, out=part)
        np.clip(part, -32768, 32767, out=part)
        pcm[begin:begin + chunk] = part
    return pcm


def from_pcm16(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float32) / 32767.0


def encode_wav(samples: np.ndarray, rate: int) -> bytes:
    """16-bit mono WAV bytes; byte-identical for identical samples (no timestamps in the header)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(to_pcm16(samples).tobytes())
    return buf.getvalue()


def decode_wav_pcm16(data: bytes):
    """Our own clip WAVs back to (int16 samples, rate) without a float round trip."""
    with wave.open(io.BytesIO(data), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise AudioClfError("clip WAV is not 16-bit mono; clips must come from the audio synthesis component")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()
