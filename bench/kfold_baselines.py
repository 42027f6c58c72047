"""bench.kfold's two baselines on real utterances: the median-F0 pitch rule and MFCC statistics +
logistic regression. Per-file features (fold-independent) are computed once in worker processes and
cached in the work folder; each fold fits both baselines on its own train speakers."""
import concurrent.futures
import json
import logging
import os
import time
from typing import List, Sequence

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


def _file_features(tasks: List[tuple]) -> List[tuple]:
    """Worker: (path, f0 or None, mfcc or None) for each (path, need_f0, need_mfcc); an undecodable file
    gets None (it is then counted wrong for that classifier)."""
    out = []
    for path, need_f0, need_mfcc in tasks:
        f0 = mfcc = None
        try:
            f0 = pitch_rule.file_f0(path) if need_f0 else None
            mfcc = mfcc_stats(path) if need_mfcc else None
        except AudioClfError as err:
            log.warning("features: %s", err)
        out.append((path, need_f0, f0, need_mfcc, mfcc))
    return out


def file_features(paths: Sequence[str], work: str, pool, workers: int, with_f0: bool = True) -> tuple:
    """(path -> median F0, path -> MFCC stats) for every path, computing only what the caches lack
    (pitch_rule.file_f0, the function pitch_rule.files_f0 maps, run here in chunks for progress lines);
    `with_f0=False`: MFCC statistics only (F0 is left as cached)."""
    caches = {n: os.path.join(work, f"{n}_cache.json") for n in ("f0", "mfcc")}
    values = {n: read_json(p, {}) for n, p in caches.items()}
    tasks = [(p, with_f0 and p not in values["f0"], p not in values["mfcc"]) for p in sorted(set(paths))]
    tasks = [t for t in tasks if t[1] or t[2]]
    if tasks:
        started = last = time.monotonic()
        log.info("features: F0 and MFCC of %d files (%d processes)", len(tasks), workers)
        chunks = [tasks[i:i + 8] for i in range(0, len(tasks), 8)]
        done = 0
        for future in concurrent.futures.as_completed([pool.submit(_file_features, c) for c in chunks]):
            for path, need_f0, f0, need_mfcc, mfcc in future.result():
                values["f0"].update({path: f0} if need_f0 else {})
                values["mfcc"].update({path: mfcc} if need_mfcc else {})
                done += 1
            if time.monotonic() - last > LOG_EVERY_S or done == len(tasks):  # saved too: an interrupted
                last = time.monotonic()                                       # run keeps what it computed
                log.info("features: %d/%d files (%.0f s)", done, len(tasks), last - started)
                for name, path in caches.items():  # merged with what another run may have written meanwhile
                    fs.write_text(path, json.dumps({**read_json(path, {}), **values[name]}))
    return values["f0"], values["mfcc"]


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
