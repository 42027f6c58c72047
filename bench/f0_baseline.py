"""A trivial gender baseline: the median fundamental frequency (F0) of a recording against a threshold.

Men speak at roughly 85-155 Hz, women at roughly 165-255 Hz, so one number per recording and one
threshold fitted on training recordings already classify most single utterances. `bench/accuracy.py`
quotes every model accuracy beside this baseline, measured on the same audio.

F0 is computed with `librosa.pyin` (fmin 60 Hz, fmax 400 Hz, frames of >= 64 ms: 1024 samples at
16 kHz): the median of its F0 over the frames it flags as voiced; None when it flags none (silence,
noise). Measured on the 183 files of data/librispeech-mini at 16 kHz (2152 s of audio, one thread,
2-core shared machine): 0.076 s of CPU per second of audio once warm. The first call of a process adds
about 1.3 s; the very first call on this machine took 22 s for a 14 s file (presumably numba
compiling its cache). That is under the 0.3 s/s budget, so pyin and its own voicing decision are used,
not `librosa.yin` (0.005 s/s) with a hand-made voicing rule; on those files both separated the
genders equally well (91 % accuracy with the best threshold, fitted and measured on the same files).

`predict` counts a recording without F0 as wrong (it returns -1, which is neither label): that can
only make the baseline look worse, never better, and `bench/accuracy.py` reports how often it happens.
"""
from typing import Optional, Sequence

import librosa
import numpy as np

FMIN, FMAX = 60.0, 400.0
MALE, FEMALE, NO_F0 = 0, 1, -1


def median_f0(samples: np.ndarray, rate: int) -> Optional[float]:
    """Median F0 in Hz over pyin's voiced frames of mono float samples, or None when none is voiced."""
    y = np.asarray(samples, dtype=np.float32)
    if y.size == 0 or not np.any(y):
        return None
    frame_length = 1 << int(np.ceil(np.log2(0.064 * rate)))   # >= 64 ms: 1024 at 16 kHz, 2048 at 22.05 kHz
    f0, voiced, _ = librosa.pyin(y, fmin=FMIN, fmax=FMAX, sr=rate, frame_length=frame_length)
    return float(np.median(f0[voiced])) if voiced.any() else None


def fit_threshold(f0s: Sequence[Optional[float]], labels: Sequence[int]) -> float:
    """The threshold (Hz) that classifies most training values right, F0 above it meaning female (1).

    Candidates are the midpoints between consecutive distinct values (and just below/above the range);
    values that are None are left out. The first best candidate (lowest threshold) wins."""
    pairs = [(float(f), int(l)) for f, l in zip(f0s, labels) if f is not None]
    if not pairs:
        raise ValueError("no F0 values to fit a threshold on")
    values = np.array([f for f, _ in pairs])
    truth = np.array([l for _, l in pairs])
    distinct = np.unique(values)
    candidates = np.concatenate([[distinct[0] - 1.0], (distinct[:-1] + distinct[1:]) / 2, [distinct[-1] + 1.0]])
    correct = [np.sum((values > t) == (truth == FEMALE)) for t in candidates]
    return float(candidates[int(np.argmax(correct))])


def predict(f0: Optional[float], threshold: float) -> int:
    """1 (female) above the threshold, 0 (male) at or below it, NO_F0 (-1, always wrong) without F0."""
    if f0 is None:
        return NO_F0
    return FEMALE if f0 > threshold else MALE
