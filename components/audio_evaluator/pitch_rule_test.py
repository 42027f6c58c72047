"""The pitch rule (median F0 against a fitted threshold) on harmonic tones whose F0 is known."""
import numpy as np
import pytest

from components.audio_evaluator import pitch_rule as f0_baseline

RATE = 8000


def tone(f0: float, seconds: float = 0.5, rate: int = RATE) -> np.ndarray:
    """A voice-like harmonic tone: the first 8 harmonics, amplitude falling as 1/k."""
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 9) if k * f0 < rate / 2)
    return (0.3 * wave / np.max(np.abs(wave))).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("f0,rate", [(110.0, 16000), (220.0, 16000), (110.0, 8000), (220.0, 8000)])
def test_median_f0_of_harmonic_tones(f0, rate):
    measured = f0_baseline.median_f0(tone(f0, rate=rate), rate)
    assert measured is not None and abs(measured - f0) / f0 < 0.05, measured


def test_silence_and_empty_have_no_f0():
    assert f0_baseline.median_f0(np.zeros(RATE, dtype=np.float32), RATE) is None
    assert f0_baseline.median_f0(np.zeros(0, dtype=np.float32), RATE) is None


def test_fit_threshold_separates_two_clusters_and_predict():
    male, female = [95.0, 110.0, 120.0, 130.0], [180.0, 200.0, 210.0, 240.0]
    threshold = f0_baseline.fit_threshold(male + female + [None], [0] * 4 + [1] * 5)
    assert 130.0 < threshold < 180.0
    assert [f0_baseline.predict(f, threshold) for f in male + female] == [0] * 4 + [1] * 4
    assert f0_baseline.predict(None, threshold) == f0_baseline.NO_F0   # counted as wrong for both labels
    # Overlap: 115 and 195 both leave one value wrong (155 two); the lower one wins.
    assert f0_baseline.fit_threshold([100, 110, 190, 120, 200, 210], [0, 0, 0, 1, 1, 1]) == 115.0
    with pytest.raises(ValueError):
        f0_baseline.fit_threshold([None], [1])


@pytest.mark.slow
def test_files_f0_in_worker_processes_matches_one_process(tmp_path):
    import soundfile as sf  # pylint: disable=import-outside-toplevel
    paths = []
    for i, f0 in enumerate((110.0, 220.0, 150.0)):
        paths.append(str(tmp_path / f"tone{i}.wav"))
        sf.write(paths[-1], tone(f0, seconds=1.0, rate=16000), 16000)
    one = f0_baseline.files_f0(paths, workers=1)
    assert [round(f) for f in one] == pytest.approx([110, 220, 150], rel=0.05)
    assert f0_baseline.files_f0(paths, workers=2) == one
