"""The pitch rule: a recording's median fundamental frequency (F0) against one threshold.

Men speak at roughly 85-155 Hz, women at roughly 165-255 Hz, so one number per recording and one
threshold fitted on training recordings already classify most single utterances (0.92-0.94 on
LibriSpeech). The Evaluator's real-speech gate quotes every model accuracy beside this rule, measured on
the same utterances, and refuses a model that is worse.

F0 is `librosa.pyin` (fmin 60 Hz, fmax 400 Hz) on the recording at 8 kHz with 64 ms frames (512
samples) and a 32 ms hop: the median of its F0 over the frames pYIN flags as voiced; None when it flags
none (silence, noise). Measured on the 183 utterances of data/librispeech-mini (one core): 0.041 s of
CPU per second of audio, half of pYIN at 16 kHz with a 16 ms hop (0.085 s/s), with the same accuracy
(2-fold: 0.880 against 0.869; the F0 values differ by a median 0.9 %). Cutting utterances to their
first 8 s to save more time lost 7 points (0.809), so whole utterances are used.

A recording without F0 is counted as wrong (`predict` returns -1, which is neither label): that can
only make the rule look worse, never better, and the evaluation reports how often it happens.
"""
import concurrent.futures
import multiprocessing
from typing import List, Optional, Sequence

import librosa
import numpy as np

FMIN, FMAX = 60.0, 400.0
RATE = 8000              # pitch lives far below 4 kHz; half the cost of 16 kHz for the same accuracy
MALE, FEMALE, NO_F0 = 0, 1, -1


def median_f0(samples: np.ndarray, rate: int) -> Optional[float]:
    """Median F0 in Hz over pyin's voiced frames of mono float samples, or None when none is voiced."""
    y = np.asarray(samples, dtype=np.float32)
    if y.size == 0 or not np.any(y):
        return None
    frame_length = 1 << int(np.ceil(np.log2(0.064 * rate)))   # >= 64 ms: 512 at 8 kHz, 1024 at 16 kHz
    f0, voiced, _ = librosa.pyin(y, fmin=FMIN, fmax=FMAX, sr=rate, frame_length=frame_length,
                                 hop_length=frame_length // 2)
    return float(np.median(f0[voiced])) if voiced.any() else None


def file_f0(path: str) -> Optional[float]:
    """Median F0 of an audio file (decoded at RATE)."""
    from components.common import audio  # pylint: disable=import-outside-toplevel

    return median_f0(audio.decode_audio(path, RATE), RATE)


def files_f0(paths: Sequence[str], workers: int = 1) -> List[Optional[float]]:
    """Median F0 of each file, in order; `workers` processes (spawned: the caller may hold TensorFlow
    threads, which a fork would copy half-alive)."""
    if workers <= 1 or len(paths) < 2:
        return [file_f0(p) for p in paths]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(file_f0, paths, chunksize=max(1, len(paths) // (8 * workers))))


def fit_threshold(f0s: Sequence[Optional[float]], labels: Sequence[int]) -> float:
    """The threshold (Hz) that classifies most training values right, F0 above it meaning female (1).

    Candidates are the midpoints between consecutive distinct values (and just below/above the range);
    values that are None are left out. The first best candidate (lowest threshold) wins."""
    pairs = [(float(f), int(label)) for f, label in zip(f0s, labels) if f is not None]
    if not pairs:
        raise ValueError("no F0 values to fit a threshold on")
    values = np.array([f for f, _ in pairs])
    truth = np.array([label for _, label in pairs])
    distinct = np.unique(values)
    candidates = np.concatenate([[distinct[0] - 1.0], (distinct[:-1] + distinct[1:]) / 2, [distinct[-1] + 1.0]])
    correct = [np.sum((values > t) == (truth == FEMALE)) for t in candidates]
    return float(candidates[int(np.argmax(correct))])


def predict(f0: Optional[float], threshold: float) -> int:
    """1 (female) above the threshold, 0 (male) at or below it, NO_F0 (-1, always wrong) without F0."""
    if f0 is None:
        return NO_F0
    return FEMALE if f0 > threshold else MALE
