"""A finished k-fold run's fold files over real bundled utterances, for tests of the bench checks that read
runs (bench/window_check.py, bench/distill_check.py)."""
import glob
import json
import os

from bench import _util, speaker_embeddings


def real_run(results, name="tiny", per_fold=5):
    """Two folds of single LibriSpeech utterances, per_fold women and per_fold men each, labels from r26."""
    rows = [r for f in sorted(glob.glob(os.path.join(_util.REPO_ROOT, "bench", "results", "kfold", "r26", "fold-*.json")))
            for r in json.load(open(f, encoding="utf-8"))["rows"] if r["corpus"] == "librispeech-mini"]
    seen, folds = set(), [[], []]
    for r in rows:
        key = speaker_embeddings.data_key(r["path"])
        if r["speaker"] in seen:
            continue
        for fold in folds:
            if sum(x["truth"] == r["truth"] for x in fold) < per_fold:
                fold.append({**r, "path": os.path.join(_util.REPO_ROOT, "data", key)})
                seen.add(r["speaker"])
                break
    (results / name).mkdir(parents=True)
    for i, fold in enumerate(folds):
        assert len(fold) == 2 * per_fold
        (results / name / f"fold-{i}.json").write_text(json.dumps(
            {"pitch_threshold_hz": 160.0, "speakers": {"test": [], "train": []}, "rows": fold}))
    return name
