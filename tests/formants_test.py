"""bench/formants.py: LPC formants of a synthetic vowel (a 120 Hz pulse train, tilted like a glottal source,
through four resonators at known frequencies) come out where they were put, scale with them, and silence or
a short clip gives None."""
import numpy as np
import pytest
from scipy import signal

from bench import formants

RATE = formants.RATE


def _vowel(centres, f0=120.0, seconds=1.0, bandwidth=80.0):
    x = np.zeros(int(RATE * seconds))
    x[::int(RATE / f0)] = 1.0
    for _ in range(2):   # the glottal source's -12 dB/octave tilt, which keeps a real vowel's zero crossings few
        x = signal.lfilter([1.0], [1.0, -0.95], x)
    for f in centres:   # one two-pole resonator per formant
        r = np.exp(-np.pi * bandwidth / RATE)
        x = signal.lfilter([1.0 - r], [1.0, -2 * r * np.cos(2 * np.pi * f / RATE), r * r], x)
    x = x / np.abs(x).max() * 0.5
    return (x + np.random.default_rng(0).normal(scale=1e-4, size=len(x))).astype(np.float32)


@pytest.mark.parametrize("centres", [(500, 1500, 2500, 3500), (700, 1200, 2600, 3800)])
def test_formants_of_a_synthetic_vowel(centres):
    found = formants.formants(_vowel(centres))
    assert found is not None
    assert np.allclose(found, centres, rtol=0.06), found


def test_a_shorter_tract_scales_every_formant():
    low = formants.formants(_vowel((500, 1500, 2500, 3500)))
    high = formants.formants(_vowel((600, 1800, 3000, 4200), f0=220.0))
    assert np.allclose(np.array(high) / np.array(low), 1.2, rtol=0.06)


def test_silence_and_short_clips_give_none():
    assert formants.formants(np.zeros(RATE, dtype=np.float32)) is None
    assert formants.formants(_vowel((500, 1500, 2500, 3500), seconds=0.05)) is None
