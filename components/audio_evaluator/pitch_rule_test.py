"""The pitch rule (median F0 against a fitted threshold) on harmonic tones whose F0 is known."""
import os

import numpy as np
import pytest

from components.audio_evaluator import pitch_rule as f0_baseline
from components.common.errors import AudioClfError

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


def _counting_f0(monkeypatch):
    """file_f0 replaced by the file's first byte in Hz, counting its calls."""
    calls = []

    def fake(path):
        calls.append(path)
        with open(path, "rb") as f:
            first = f.read(1)
        return float(first[0]) if first[0] else None
    monkeypatch.setattr(f0_baseline, "file_f0", fake)
    return calls


def test_f0_cache_skips_unchanged_files_and_misses_changed_ones(tmp_path, monkeypatch):
    calls = _counting_f0(monkeypatch)
    a, b, c = (tmp_path / n for n in ("a.flac", "b.flac", "c.flac"))
    a.write_bytes(bytes([120, 1])), b.write_bytes(bytes([210, 2])), c.write_bytes(bytes([0, 3]))   # c: no F0
    paths, cache = [str(a), str(b), str(c)], str(tmp_path / "cache")
    assert f0_baseline.files_f0(paths, cache_dir=cache) == [120.0, 210.0, None] and len(calls) == 3
    assert f0_baseline.files_f0(paths, cache_dir=cache) == [120.0, 210.0, None] and len(calls) == 3   # all cached
    b.write_bytes(bytes([190, 2]))                                  # the same name, other bytes: a miss
    (tmp_path / "copy.flac").write_bytes(a.read_bytes())            # other name, same bytes: a hit
    assert f0_baseline.files_f0([str(b), str(tmp_path / "copy.flac")], cache_dir=cache) == [190.0, 120.0]
    assert calls[3:] == [str(b)]
    monkeypatch.setattr(f0_baseline, "PARAMS", f0_baseline.PARAMS + " changed")   # other F0 settings: all miss
    assert f0_baseline.files_f0([str(a)], cache_dir=cache) == [120.0] and calls[4:] == [str(a)]
    assert f0_baseline.files_f0([str(a)]) == [120.0] and len(calls) == 6             # no cache_dir: no cache
    with pytest.raises(AudioClfError, match=r"gone\.flac: file not found"):
        f0_baseline.files_f0([str(tmp_path / "gone.flac")], cache_dir=cache)


def test_f0_cache_recomputes_a_damaged_entry_and_survives_an_unwritable_folder(tmp_path, monkeypatch, caplog):
    calls = _counting_f0(monkeypatch)
    a = tmp_path / "a.flac"
    a.write_bytes(bytes([150]))
    cache = tmp_path / "cache"
    f0_baseline.files_f0([str(a)], cache_dir=str(cache))
    (entry,) = cache.rglob("*.json")
    entry.write_text("{half")
    assert f0_baseline.files_f0([str(a)], cache_dir=str(cache)) == [150.0] and len(calls) == 2
    assert "unreadable" in caplog.text
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    assert f0_baseline.files_f0([str(a)], cache_dir=str(blocked)) == [150.0]
    assert "cannot write the F0 cache" in caplog.text


WORKER_F0 = """
import sys
from components.audio_evaluator import pitch_rule
print("f0", pitch_rule.file_f0(sys.argv[1]))
"""


@pytest.mark.slow
def test_warm_up_leaves_workers_nothing_to_write_to_the_numba_cache(tmp_path):
    """numba/numba#10128: workers that write guvectorize caches at the same time can leave a pair that
    segfaults. After `warm_up` in one process, a process computing a real file's F0 (as a worker does)
    must only load from the cache: it writes no index or data."""
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"), NUMBA_DEBUG_CACHE="1")
    run = dict(env=env, capture_output=True, text=True, check=True, timeout=600)
    warm = subprocess.run([sys.executable, "-c", "from components.audio_evaluator import pitch_rule; pitch_rule.warm_up()"],
                          **run)
    assert "data saved" in warm.stdout, warm.stdout[-2000:]          # it did fill the empty cache
    flac = "data/librispeech-mini/dev-mini/83/11691/83-11691-0000.flac"
    worker = subprocess.run([sys.executable, "-c", WORKER_F0, flac], **run)
    assert "data loaded" in worker.stdout and "f0 " in worker.stdout, worker.stdout[-2000:]
    assert "saved" not in worker.stdout, [line for line in worker.stdout.splitlines() if "saved" in line]


def _die(_):
    os._exit(3)   # what a segfault in numba's loop does to the pool: the process is gone


def test_a_dead_f0_worker_is_a_clear_error():
    with pytest.raises(AudioClfError, match=r"a worker process died.*numba.*NUMBA_CACHE_DIR"):
        with f0_baseline.worker_pool(2) as pool:
            list(pool.map(_die, range(2)))


def _nap(seconds):
    import time  # pylint: disable=import-outside-toplevel
    time.sleep(seconds)
    return seconds


def test_a_block_that_fails_cancels_the_queue_and_leaves_no_worker_behind():
    import multiprocessing  # pylint: disable=import-outside-toplevel
    import time  # pylint: disable=import-outside-toplevel
    futures = []
    with pytest.raises(SystemExit):   # what SIGTERM becomes in bench.kfold
        with f0_baseline.worker_pool(2) as pool:
            futures = [pool.submit(_nap, 0.5) for _ in range(40)]
            stopped = time.monotonic()
            raise SystemExit(143)
    # the queue (40 x 0.5 s on 2 workers: 10 s) was not run out: the tasks not handed to a worker are cancelled
    assert sum(f.cancelled() for f in futures) >= 34 and all(f.done() for f in futures), [f._state for f in futures]
    assert time.monotonic() - stopped < 5.0
    assert multiprocessing.active_children() == []   # and the workers ended with the pool
