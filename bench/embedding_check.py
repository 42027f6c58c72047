"""Would a pretrained speaker embedding carry a second cue beyond pitch? Measured on finished k-fold runs.

Every classifier here (the model, the pitch rule, MFCC or formant statistics) is right on about 92 % of
the utterances of unseen speakers, and the model and the rule are wrong on the same ones. Before building
a pretrained front end into the model, this check asks what one would add, training nothing but a
logistic regression: on each fold, an LR on the utterances' Resemblyzer speaker embeddings
(bench/speaker_embeddings.py), fitted on the other folds' utterances (speakers neither the fold's model
nor the LR heard), its regularization C chosen by a speaker-grouped 5-fold search *inside* those train
rows (the test fold plays no part in it). Reported beside the run's own model and rule, on the same
utterances:

* **embedding LR** alone;
* **vote**: the majority of the model's, the rule's and the embedding LR's decisions (a head that weighs
  three witnesses of which two look at other evidence than pitch);
* **any right**: an oracle right wherever one of the three is, the ceiling of any choice among them;
* the **label-audit suspects** (bench/results/label_audit.json, chosen without the embedding): how often
  the embedding LR contradicts their labels, a witness trained on speaker identity, not on gender.

With `--loco` the runs are leave-one-corpus-out runs: the LR for a left-out corpus is fitted on every
utterance of the other corpora (labels from `--labels-from`, a k-fold run over the same corpora).

Run:  .venv/bin/python -m bench.embedding_check --runs r10,r10-seed1,r10-seed2
      .venv/bin/python -m bench.embedding_check --loco --runs r10-loco,r10-loco-run2 --out bench/results/embedding_check_loco.md
(after `.venv-embedding/bin/python -m bench.speaker_embeddings --run r10`; `--embeddings FILE` for another).
"""
import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bench import _util, speaker_embeddings
from bench.kfold_results import KFOLD_RESULTS, read_folds, report_path, run_names
from bench.kfold_summary import accuracy, accuracy_cell, corpus_shares, difference, difference_cell

C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
FUSION_WEIGHTS = (0.5, 1.0, 2.0, 4.0)   # model log-odds + w x the LR's: what trainer/speaker_head.py builds in
INNER_FOLDS = 5
LABEL_AUDIT = os.path.join(os.path.dirname(KFOLD_RESULTS), "label_audit.json")
KEYS = ("model", "pitch", "embedding", "vote", "any")


def _classifier(c: float):
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))


def choose_c(x: np.ndarray, y: np.ndarray, groups: Sequence[str], grid: Sequence[float] = C_GRID,
             folds: int = INNER_FOLDS) -> float:
    """The C of `grid` with the best speaker-grouped cross-validated accuracy on (x, y); ties: the smaller C."""
    splits = list(GroupKFold(n_splits=min(folds, len(set(groups)))).split(x, y, groups))
    best, best_acc = grid[0], -1.0
    for c in sorted(grid):
        right = 0
        for tr, te in splits:
            if len(set(y[tr])) < 2:
                continue
            right += int((_classifier(c).fit(x[tr], y[tr]).predict(x[te]) == y[te]).sum())
        if right > best_acc:
            best, best_acc = c, right
    return best


def vectors(rows: Sequence[dict], embeddings: Dict[str, np.ndarray]) -> np.ndarray:
    missing = [r["path"] for r in rows if speaker_embeddings.data_key(r["path"]) not in embeddings]
    if missing:
        raise SystemExit(f"bench: error: {len(missing)} utterances have no speaker embedding (e.g. {missing[0]}); "
                         "run `.venv-embedding/bin/python -m bench.speaker_embeddings --run RUN` for this run.")
    return np.stack([embeddings[speaker_embeddings.data_key(r["path"])] for r in rows])


def model_log_odds(row: dict) -> float:
    """log P(class 1) - log P(class 0) of the run's model on a row (its probability is the decided class's,
    floored at 1e-7 as trainer/speaker_head.py floors it); 0 where the model gave no answer."""
    p = row.get("probability")
    if p is None or row["model"] not in (0, 1):
        return 0.0
    p1 = min(max(p if row["model"] == 1 else 1.0 - p, 1e-7), 1.0 - 1e-7)
    return float(np.log(p1) - np.log(1.0 - p1))


def decide(train: List[dict], test: List[dict], embeddings: Dict[str, np.ndarray]) -> float:
    """Sets "embedding", "vote" and "any" on every row of `test`; returns the C chosen on `train`."""
    x, y = vectors(train, embeddings), np.array([r["truth"] for r in train])
    if len(set(y)) < 2:
        raise SystemExit("bench: error: the train rows hold one class only; nothing to fit.")
    c = choose_c(x, y, [r["speaker"] for r in train])
    fitted, test_x = _classifier(c).fit(x, y), vectors(test, embeddings)
    for r, d, margin in zip(test, fitted.predict(test_x), fitted.decision_function(test_x)):
        r["embedding"] = int(d)
        log_odds = model_log_odds(r)
        for w in FUSION_WEIGHTS:
            r[f"fused_{w:g}"] = int(log_odds + w * margin > 0)
        witnesses = (r["model"], r["pitch"], r["embedding"])
        r["vote"] = int(sum(w == 1 for w in witnesses) >= 2)
        r["any"] = r["truth"] if r["truth"] in witnesses else 1 - r["truth"]
    return c


def run_rows(name: str, embeddings: Dict[str, np.ndarray], results: str, loco: bool,
             labels_from: str) -> Tuple[List[dict], List[float]]:
    folds = read_folds(name, results, "loco-*.json" if loco else "fold-*.json")
    if not loco and len(folds) < 2:
        raise SystemExit(f"bench: error: {name}: one fold; the LR of a fold is fitted on the others.")
    pool = [r for f in read_folds(labels_from, results) for r in f["rows"]] if loco else []
    rows, cs = [], []
    for i, fold in enumerate(folds):
        test = fold["rows"]
        if loco:
            left = {r["corpus"] for r in test}
            train = [r for r in pool if r["corpus"] not in left]
        else:
            train = [r for j, f in enumerate(folds) if j != i for r in f["rows"]]
        cs.append(decide(train, test, embeddings))
        rows += test
    return rows, cs


def suspects(path: str = LABEL_AUDIT) -> List[str]:
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [s["speaker"] for s in json.load(f).get("suspects", [])]


def check(names: Sequence[str], embeddings: Dict[str, np.ndarray], results: str = KFOLD_RESULTS,
          loco: bool = False, labels_from: str = "r10", audit: str = LABEL_AUDIT) -> dict:
    flagged = suspects(audit)
    runs = {}
    for name in names:
        rows, cs = run_rows(name, embeddings, results, loco, labels_from)
        theirs = [r for r in rows if r["speaker"] in flagged]
        rest = [r for r in rows if r["speaker"] not in flagged]
        runs[name] = {
            "utterances": len(rows), "speakers": len({r["speaker"] for r in rows}), "c_chosen": cs,
            **{key: accuracy(rows, key) for key in KEYS},
            **{f"{key}_minus_pitch": difference(rows, key, "pitch") for key in ("model", "embedding", "vote")},
            "fused": {f"{w:g}": accuracy(rows, f"fused_{w:g}") for w in FUSION_WEIGHTS},
            "per_corpus": corpus_shares(rows, KEYS),
            "without_suspects": {"utterances": len(rest), **{key: accuracy(rest, key) for key in KEYS},
                                 "vote_minus_pitch": difference(rest, "vote", "pitch")} if theirs else None,
            "suspects": {"utterances": len(theirs),
                         **{f"{key}_disagrees": (round(sum(r[key] != r["truth"] for r in theirs) / len(theirs), 3)
                                                 if theirs else None) for key in ("model", "pitch", "embedding")}}}
    return {"runs": runs, "loco": loco, "c_grid": list(C_GRID), "suspects": flagged}


def markdown(result: dict, embeddings_file: str) -> str:
    runs = result["runs"]
    lines = [f"# A pretrained speaker embedding beside the model and the pitch rule"
             f"{' (left-out corpora)' if result['loco'] else ''}", "",
             *_util.machine_lines([f"git commit: {_util.git_commit()}",
                                   f"embeddings: {os.path.relpath(embeddings_file, _util.REPO_ROOT)}",
                                   f"C grid (chosen per fold, speaker-grouped {INNER_FOLDS}-fold inside the train "
                                   f"rows): {result['c_grid']}"]), "",
             "Pooled single-utterance accuracy (speaker-bootstrap 95 % interval); differences to the rule are paired:",
             "",
             _util.table(["run", "utterances", "model", "pitch rule", "embedding LR", "vote of the three", "any right",
                          "model - rule", "embedding - rule", "vote - rule", "C chosen"],
                         [[n, r["utterances"], accuracy_cell(r["model"]), accuracy_cell(r["pitch"]),
                           accuracy_cell(r["embedding"]), accuracy_cell(r["vote"]),
                           accuracy_cell(r["any"]), difference_cell(r["model_minus_pitch"]),
                           difference_cell(r["embedding_minus_pitch"]), difference_cell(r["vote_minus_pitch"]),
                           ", ".join(f"{c:g}" for c in r["c_chosen"])] for n, r in runs.items()]), "",
             "The model and the embedding LR as one product of experts (what `trainer.speaker_embedding_head: "
             "fitted` builds into the model): the model's log-odds + w x the LR's, per weight w:", "",
             _util.table(["run", *(f"w = {w:g}" for w in FUSION_WEIGHTS)],
                         [[n, *(accuracy_cell(r["fused"][f"{w:g}"]) for w in FUSION_WEIGHTS)] for n, r in runs.items()]), "",
             "Per corpus (accuracy):", "",
             _util.table(["run", "corpus", "utterances", "model", "pitch rule", "embedding LR", "vote", "any right"],
                         [[n, c, v["utterances"], *(f"{v[k]:.3f}" for k in KEYS)]
                          for n, r in runs.items() for c, v in r["per_corpus"].items()]), ""]
    if result["suspects"]:
        lines += [f"The label audit's suspects ({', '.join(result['suspects'])}): share of their utterances each "
                  "classifier contradicts the label on:", "",
                  _util.table(["run", "utterances", "model", "pitch rule", "embedding LR"],
                              [[n, r["suspects"]["utterances"],
                                *(("-" if r["suspects"][f"{k}_disagrees"] is None else
                                   f"{r['suspects'][f'{k}_disagrees']:.2f}") for k in ("model", "pitch", "embedding"))]
                               for n, r in runs.items()]), "",
                  "Pooled without the suspects' utterances (as the label audit reports it):", "",
                  _util.table(["run", "utterances", "model", "pitch rule", "embedding LR", "vote", "any right",
                               "vote - rule"],
                              [[n, w["utterances"], *(accuracy_cell(w[k]) for k in KEYS), difference_cell(w["vote_minus_pitch"])]
                               for n, r in runs.items() for w in [r["without_suspects"]] if w]), ""]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, help="finished k-fold runs, comma-separated (each is checked alone)")
    parser.add_argument("--loco", action="store_true", help="the runs are leave-one-corpus-out runs (loco-*.json)")
    parser.add_argument("--labels-from", default="r10", help="--loco: a k-fold run whose rows give every "
                        "utterance's label, to fit the LR on the corpora not left out")
    parser.add_argument("--embeddings", default=speaker_embeddings.cache_path(raw=False))
    parser.add_argument("--results", default=KFOLD_RESULTS)
    parser.add_argument("--out", default=None, help="default bench/results/embedding_check[_loco].md")
    args = parser.parse_args(argv)
    result = check(run_names(args.runs), speaker_embeddings.load(args.embeddings), args.results, args.loco,
                   args.labels_from)
    _util.write_report(args.out or report_path("embedding_check", args.loco), markdown(result, args.embeddings), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
