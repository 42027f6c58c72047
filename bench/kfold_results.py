"""Reading finished k-fold runs (bench/kfold.py writes bench/results/kfold/<run>/fold-*.json) for the
checks that reuse them: bench/label_audit.py, bench/cue_check.py, bench/ensemble_check.py, bench/fusion_check.py."""
import glob
import json
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from bench import _util

KFOLD_RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "kfold")


def read_folds(run: str, results: str = KFOLD_RESULTS, pattern: str = "fold-*.json") -> List[dict]:
    """The fold files (fold-*.json) of a finished k-fold run, in fold order; `pattern` "loco-*.json": the
    left-out corpora of a leave-one-corpus-out run."""
    files = sorted(glob.glob(os.path.join(results, run, pattern)))
    if not files:
        how = "--loco CORPORA " if pattern.startswith("loco") else ""
        raise SystemExit(f"bench: error: {os.path.join(results, run)}: no {pattern}; run "
                         f"`python -m bench.kfold --name {run} {how}...` first, or name a run that has them.")
    folds = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            folds.append(json.load(f))
    return folds


def pad_from_start(samples: np.ndarray, clip_samples: int) -> Tuple[np.ndarray, np.ndarray]:
    """How `predict` cut a recording until 2026-12-05 (runs scored before bench.kfold recorded its cut):
    clip-length windows from the start, the last padded with silence, each weighted by its real audio."""
    count = max(1, -(-len(samples) // clip_samples))
    padded = np.zeros(count * clip_samples, dtype=np.float32)
    padded[:len(samples)] = samples
    return padded.reshape(count, clip_samples), np.minimum(clip_samples, len(samples) - np.arange(count) * clip_samples)


def scored_cut(fold: dict) -> Callable[[np.ndarray, int], Tuple[np.ndarray, np.ndarray]]:
    """The cut `predict` made when this fold's test utterances were scored, so a replay can reproduce them."""
    from trainer import classifier  # pylint: disable=import-outside-toplevel
    cut = fold.get("settings", {}).get("predict_cut")
    if cut is None:
        return pad_from_start
    if cut != classifier.WINDOW_CUT:
        raise SystemExit(f"bench: error: {fold.get('run', 'a fold')} was scored with predict's cut {cut!r}; this "
                         f"checkout cuts {classifier.WINDOW_CUT!r} and cannot replay it.")
    return classifier.cut_windows


def run_names(text: str) -> List[str]:
    """The runs a check's --runs names (comma-separated); refuses a list that names none."""
    names = [r.strip() for r in text.split(",") if r.strip()]
    if not names:
        raise SystemExit("bench: error: --runs: name at least one finished k-fold run.")
    return names


def report_path(stem: str, loco: bool) -> str:
    """A check's default report, bench/results/<stem>.md (<stem>_loco.md for leave-one-corpus-out runs)."""
    return os.path.join(os.path.dirname(KFOLD_RESULTS), f"{stem}_loco.md" if loco else f"{stem}.md")


def class1_probability(row: dict) -> Optional[float]:
    """P(class 1) from a k-fold row, which keeps the probability of the class it chose; None if unscored."""
    if row["model"] == -1 or row.get("probability") is None:
        return None
    if row["model"] not in (0, 1):
        raise SystemExit(f"bench: error: {row['path']}: class {row['model']}; the checks handle two "
                         "classes only (the gender task's F and M).")
    return row["probability"] if row["model"] == 1 else 1.0 - row["probability"]


def bundled_path(path: str, data_roots: Sequence[str]) -> str:
    """A row's audio path moved onto this checkout's data/ when the run read a bundled corpus from another
    checkout (the seed runs ran from snapshots), so the features of one file are computed once."""
    for root in data_roots:
        local = os.path.join(_util.REPO_ROOT, "data", os.path.basename(root.rstrip("/")))
        if path.startswith(root.rstrip("/") + "/") and os.path.isdir(local):
            return os.path.join(local, os.path.relpath(path, root))
    return path


def read_run_here(run: str, results: str = KFOLD_RESULTS) -> Tuple[List[dict], Dict[str, List[dict]]]:
    """A run's folds with every row's path moved onto this checkout (`bundled_path`), and its rows by speaker."""
    folds = read_folds(run, results)
    by_speaker: Dict[str, List[dict]] = {}
    for fold in folds:
        for r in fold["rows"]:
            r["path"] = bundled_path(r["path"], fold.get("settings", {}).get("data_roots", []))
            by_speaker.setdefault(r["speaker"], []).append(r)
    return folds, by_speaker
