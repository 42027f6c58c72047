"""Formant frequencies of an utterance, for bench/cue_check.py: a second gender cue beside pitch.

Women's vocal tracts are shorter than men's, so their formants lie higher, by about 15-20 %, whatever
the pitch. This is the classic linear-prediction estimate: pre-emphasis, 30 ms Hamming frames every
10 ms, kept where the frame is loud (at or above the utterance's median RMS) and voiced-looking (few
zero crossings, counted before pre-emphasis); an order-12 LPC polynomial per frame at 11025 Hz, whose
complex roots between 250 Hz and 5 kHz with a bandwidth under 300 Hz are the frame's formant
candidates; the utterance's F1-F4 are the medians over the frames that have at least four. A bench
diagnostic, not part of the model or the gate.
"""
from typing import List, Optional

import numpy as np

from components.common import audio

RATE = 11025
ORDER = 12
FRAME_S, HOP_S = 0.030, 0.010
FORMANTS = 4
F_MIN, F_MAX, MAX_BANDWIDTH = 250.0, 5000.0, 300.0
MAX_ZERO_CROSSING_RATE = 0.2
MIN_FRAMES = 10


def formants(samples: np.ndarray, rate: int = RATE) -> Optional[List[float]]:
    """Median F1..F4 in Hz over the loud voiced frames of `samples`; None when fewer than MIN_FRAMES
    frames give four formants (too short, silent or unvoiced)."""
    import librosa  # pylint: disable=import-outside-toplevel
    frame, hop = int(FRAME_S * rate), int(HOP_S * rate)
    if len(samples) < 4 * frame:
        return None
    raw = librosa.util.frame(samples.astype(np.float64), frame_length=frame, hop_length=hop).T
    rms = np.sqrt((raw ** 2).mean(axis=1))
    crossings = (np.abs(np.diff(np.sign(raw), axis=1)) > 0).mean(axis=1)
    y = np.append(samples[:1], samples[1:] - 0.97 * samples[:-1]).astype(np.float64)
    frames = librosa.util.frame(y, frame_length=frame, hop_length=hop).T
    window = np.hamming(frame)
    found = []
    for f in frames[(rms >= np.median(rms)) & (rms > 0) & (crossings < MAX_ZERO_CROSSING_RATE)]:
        try:
            roots = np.roots(librosa.lpc(f * window, order=ORDER))
        except (FloatingPointError, ValueError, np.linalg.LinAlgError):
            continue
        roots = roots[np.imag(roots) > 0.01]
        freq = np.angle(roots) * rate / (2 * np.pi)
        bandwidth = -rate / np.pi * np.log(np.abs(roots))
        freq = np.sort(freq[(freq > F_MIN) & (freq < F_MAX) & (bandwidth < MAX_BANDWIDTH)])
        if len(freq) >= FORMANTS:
            found.append(freq[:FORMANTS])
    if len(found) < MIN_FRAMES:
        return None
    return [round(float(v), 1) for v in np.median(np.array(found), axis=0)]


def file_formants(path: str) -> Optional[List[float]]:
    """`formants` of an audio file, decoded at RATE (AudioClfError names a file that cannot be read)."""
    return formants(audio.decode_audio(path, RATE))
