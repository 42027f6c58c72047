"""bench.kfold's two baselines on real utterances: the median-F0 pitch rule and MFCC statistics +
logistic regression. Per-file features (fold-independent) are computed once in worker processes and
cached in the work folder; each fold fits both baselines on its own train speakers."""
import concurrent.futures
import json
import logging
import os
import time
from typing import Callable, List, Sequence

import numpy as np

from components.audio_evaluator import pitch_rule, real_speech
from components.common import audio, fs
from components.common.errors import AudioClfError
from components.speaker_index import corpus

log = logging.getLogger("kfold")
MFCC_RATE, N_MFCC = 16000, 20
LOG_EVERY_S = 10.0


def read_json(path: str, default):
    return json.loads(fs.read_text(path)) if os.path.exists(path) else default


def mfcc_stats(path: str) -> List[float]:
    """Mean and std over frames of 20 MFCCs and their deltas (80 numbers): the classic cheap baseline."""
    import librosa  # pylint: disable=import-outside-toplevel
    mfcc = librosa.feature.mfcc(y=audio.decode_audio(path, MFCC_RATE), sr=MFCC_RATE, n_mfcc=N_MFCC)
    width = min(9, mfcc.shape[1] - (1 - mfcc.shape[1] % 2))   # delta needs an odd width <= frames
    delta = librosa.feature.delta(mfcc, width=width) if width >= 3 else np.zeros_like(mfcc)
    return [round(float(v), 5) for v in np.concatenate([mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1)])]


def _compute_chunk(compute: Callable[[str], object], paths: List[str]) -> List[tuple]:
    """Worker: (path, compute(path)) for each path; an undecodable file gets None (it is then counted
    wrong for the classifier that needs it)."""
    out = []
    for path in paths:
        try:
            out.append((path, compute(path)))
        except AudioClfError as err:
            log.warning("features: %s", err)
            out.append((path, None))
    return out


def cached_features(name: str, compute: Callable[[str], object], paths: Sequence[str], work: str, pool,
                    workers: int) -> dict:
    """path -> compute(path) for every path, computing in `pool` only what `work`/<name>_cache.json lacks,
    with progress lines; the cache is saved as it fills (merged with what another run may have written
    meanwhile), so an interrupted run keeps what it computed. `compute` is a module-level function."""
    cache = os.path.join(work, f"{name}_cache.json")
    values = read_json(cache, {})
    todo = sorted(set(paths) - set(values))
    if todo:
        started = last = time.monotonic()
        log.info("features: %s of %d files (%d processes)", name, len(todo), workers)
        chunks = [todo[i:i + 8] for i in range(0, len(todo), 8)]
        futures = [pool.submit(_compute_chunk, compute, c) for c in chunks]
        done = 0
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            values.update(result)
            done += len(result)
            if time.monotonic() - last > LOG_EVERY_S or done == len(todo):
                last = time.monotonic()
                log.info("features: %s, %d/%d files (%.0f s)", name, done, len(todo), last - started)
                fs.write_text(cache, json.dumps({**read_json(cache, {}), **values}))
    return values


def file_features(paths: Sequence[str], work: str, pool, workers: int, with_f0: bool = True) -> tuple:
    """(path -> median F0, path -> MFCC stats) for every path, computing only what the caches lack
    (pitch_rule.file_f0, the function pitch_rule.files_f0 maps); `with_f0=False`: MFCC statistics only
    (F0 is left as cached)."""
    f0s = (cached_features("f0", pitch_rule.file_f0, paths, work, pool, workers) if with_f0
           else read_json(os.path.join(work, "f0_cache.json"), {}))
    return f0s, cached_features("mfcc", mfcc_stats, paths, work, pool, workers)


def baselines(fidx: dict, test_rows: List[dict], f0s: dict, mfccs: dict) -> tuple:
    """(pitch threshold, path -> P(female) of MFCC + logistic regression): both fitted on every utterance
    of the fold's train speakers only, so they are judged on unseen speakers like the model."""
    from sklearn import linear_model, pipeline as sk_pipeline, preprocessing  # pylint: disable=import-outside-toplevel
    train = corpus.split_files(fidx, "train")
    truth = [real_speech.LABEL_OF_GENDER[r["gender"]] for r in train]
    threshold = pitch_rule.fit_threshold([f0s[r["path"]] for r in train], truth)
    usable = [(mfccs[r["path"]], t) for r, t in zip(train, truth) if mfccs[r["path"]] is not None]
    lr = sk_pipeline.make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression(max_iter=2000, C=1.0))
    lr.fit([x for x, _ in usable], [t for _, t in usable])
    known = [r["path"] for r in test_rows if mfccs[r["path"]] is not None]
    return threshold, dict(zip(known, lr.predict_proba([mfccs[p] for p in known])[:, 1] if known else []))
