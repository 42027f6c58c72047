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

Most of pYIN's time is its Viterbi decoding over 2 x 331 pitch states (0.1-semitone bins). A coarser
grid (0.2 semitones), tried once, was about 3x faster but left more recordings without F0 and lowered the
rule's accuracy on the k-fold folds, so the default grid is kept. Instead, `files_f0` can keep each file's median
F0 in a cache folder (`evaluator.f0_cache`), keyed by a hash of the file's bytes and of every setting
above: a pipeline run after the first reads the F0 of unchanged files instead of computing it again.

Worker processes and numba's cache: librosa compiles pYIN's helpers with `guvectorize(cache=True)`,
whose two cache files per function are written separately. Workers that compile at the same time can
leave a mixed pair that segfaults every later process that loads it (numba/numba#10128; seen here as a
BrokenProcessPool in `make demo`). `worker_pool` therefore has one worker run pYIN alone before the
pool takes any other work, so the cache is written by one process and the others only read it; a
crashed worker (a cache damaged before) still ends the run, with an AudioClfError that says how to
clear the cache.

A recording without F0 is counted as wrong (`predict` returns -1, which is neither label): that can
only make the rule look worse, never better, and the evaluation reports how often it happens.
"""
import concurrent.futures
import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
from typing import Iterator, List, Optional, Sequence

import librosa
import numpy as np

from components.common import fs
from components.common.errors import AudioClfError

FMIN, FMAX = 60.0, 400.0
RATE = 8000              # pitch lives far below 4 kHz; half the cost of 16 kHz for the same accuracy
MALE, FEMALE, NO_F0 = 0, 1, -1
# Everything a cached F0 depends on besides the file's bytes: a change to any of it is a cache miss.
PARAMS = f"pyin fmin={FMIN} fmax={FMAX} rate={RATE} frame=64ms hop=1/2 librosa={librosa.__version__}"

log = logging.getLogger(__name__)


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


def cache_key(path: str) -> str:
    """sha256 of PARAMS and the file's digest: the same recording under another name hits, an edited one misses."""
    try:
        content = fs.sha256(path)
    except FileNotFoundError as err:   # as decoding it would say
        raise AudioClfError(f"{path}: file not found.") from err
    return hashlib.sha256(f"{PARAMS}\n{content}".encode("utf-8")).hexdigest()


def _cached(cache_dir: str, key: str) -> tuple:
    """(True, F0 or None) for a readable entry, (False, None) for none; a damaged entry is a miss."""
    entry = os.path.join(cache_dir, key[:2], f"{key}.json")
    if not fs.exists(entry):
        return False, None
    try:
        value = json.loads(fs.read_text(entry))["f0"]
        return True, None if value is None else float(value)
    except (ValueError, KeyError, TypeError, OSError) as err:
        log.warning("pitch rule: F0 cache entry %s is unreadable (%s); computing it again", entry, err)
        return False, None


def _store(cache_dir: str, key: str, f0: Optional[float]) -> bool:
    """Adds an entry; False (logged) when the folder cannot be written: the cache only saves time, so a
    read-only home on a cluster node must not fail the evaluation."""
    folder = os.path.join(cache_dir, key[:2])
    try:
        fs.makedirs(folder)
        fs.write_text(os.path.join(folder, f"{key}.json"), json.dumps({"f0": f0, "params": PARAMS}))
        return True
    except OSError as err:
        log.warning("pitch rule: cannot write the F0 cache %s (%s); set evaluator.f0_cache to a writable "
                    "folder, or to '' to turn it off", cache_dir, err)
        return False


def warm_up() -> None:
    """Runs pYIN once, at RATE on float32 samples as `median_f0` does for every file, so numba compiles
    (or loads) each cached helper with the workers' signatures in this one process."""
    t = np.arange(RATE) / RATE
    median_f0((0.3 * np.sin(2 * np.pi * 150.0 * t)).astype(np.float32), RATE)


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[concurrent.futures.ProcessPoolExecutor]:
    """A pool of `workers` spawned processes for pYIN (spawned: the caller may hold TensorFlow threads,
    which a fork would copy half-alive) whose first task, run alone, is `warm_up` (see the module's note
    on numba's cache). A worker that dies raises AudioClfError instead of a bare BrokenProcessPool. When
    the caller's block ends with an exception (an error, Ctrl-C, SIGTERM made SystemExit), the tasks not
    started are cancelled and the workers end with the pool, instead of running the queue out or staying
    behind."""
    context = multiprocessing.get_context("spawn")
    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pool.submit(warm_up).result()   # in one worker, alone: a damaged cache kills it, not the caller
            try:
                yield pool
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)   # the running tasks end, the rest never start
                raise
    except concurrent.futures.process.BrokenProcessPool as err:
        import numba  # pylint: disable=import-outside-toplevel

        where = numba.config.CACHE_DIR or os.path.join(os.path.dirname(librosa.__file__), "**", "__pycache__")
        raise AudioClfError(
            f"a worker process died ({err}). If it segfaulted in librosa (pYIN), numba's on-disk cache is "
            f"probably damaged (numba/numba#10128): delete the *.nbi and *.nbc files under {where} "
            "(or set NUMBA_CACHE_DIR to an empty folder) and run again.") from err


def files_f0(paths: Sequence[str], workers: int = 1, cache_dir: str = "") -> List[Optional[float]]:
    """Median F0 of each file, in order; `workers` processes (`worker_pool`). With `cache_dir`, files
    whose F0 is cached there are not decoded, and the others' F0 is added to it."""
    keys = [cache_key(p) for p in paths] if cache_dir else []
    found = [_cached(cache_dir, k) for k in keys] if cache_dir else [(False, None)] * len(paths)
    todo = [i for i, (hit, _) in enumerate(found) if not hit]
    if cache_dir:
        log.info("pitch rule: F0 of %d of %d files cached in %s", len(paths) - len(todo), len(paths), cache_dir)
    todo_paths = [paths[i] for i in todo]
    if workers <= 1 or len(todo_paths) < 2:
        computed = [file_f0(p) for p in todo_paths]
    else:
        with worker_pool(workers) as pool:
            computed = list(pool.map(file_f0, todo_paths, chunksize=max(1, len(todo_paths) // (8 * workers))))
    values = [f0 for _, f0 in found]
    writable = bool(cache_dir)
    for i, f0 in zip(todo, computed):
        values[i] = f0
        writable = writable and _store(cache_dir, keys[i], f0)   # warn once, then stop trying
    return values


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
