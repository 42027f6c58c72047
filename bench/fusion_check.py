"""Would a model that also sees the pitch beat the rule? An upper bound from finished k-fold runs.

The model and the pitch rule are each right on about 92 % of the utterances of unseen speakers. If they
were wrong on different utterances, a head that weighs the model's evidence against the median F0 (an
in-graph pitch estimate fed beside the pooled conv features) could beat both. Before building it, this
check asks it of what is already measured, training nothing:

* **stacked**: per fold, a logistic regression on [the model's logit for class 1, log(median F0 / the
  fold's pitch threshold), F0 found or not], fitted on the *other* folds' rows (speakers that fold's
  models never heard either, so the fusion itself is judged on speakers it was not fitted on), decides
  the fold's utterances;
* **either right**: an oracle that is right wherever the model's or the rule's decision is: no choice
  between the two decisions can do better. (The stacked fusion sees the F0 itself, not the rule's
  decision, so where its fitted threshold differs from the rule's it can, by a little, be right where
  both were wrong.)

Reported per run, pooled, beside the model and the rule: accuracies with their speaker-bootstrap
interval, the stacked fusion's paired difference to the rule, and per corpus. With `--loco` the "folds"
are a leave-one-corpus-out run's left-out corpora: each corpus is then decided by a fusion fitted on
the other left-out corpus, a corpus it was not fitted on either.

Run:  .venv/bin/python -m bench.fusion_check --runs r10,r10-seed1,r10-seed2 [--out bench/results/fusion_check.md]
      .venv/bin/python -m bench.fusion_check --loco --runs r10-loco,r21-loco --out bench/results/fusion_check_loco.md
"""
import argparse
import math
import sys
from typing import List, Optional, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from bench import _util
from bench.kfold_results import KFOLD_RESULTS, class1_probability, read_folds, report_path, run_names
from bench.kfold_summary import accuracy, accuracy_cell, corpus_shares, difference, difference_cell

CLIP = 1e-4   # probabilities are rounded to 4 places: keep the logit finite


def features(row: dict, threshold_hz: float) -> List[float]:
    """[model logit for class 1 (0 when it could not score), log(F0 / threshold) (0 without F0), F0 found]."""
    p1 = class1_probability(row)
    logit = 0.0 if p1 is None else math.log(min(max(p1, CLIP), 1 - CLIP) / (1 - min(max(p1, CLIP), 1 - CLIP)))
    f0 = row.get("f0")
    return [logit, math.log(f0 / threshold_hz) if f0 else 0.0, 1.0 if f0 else 0.0]


def stack(folds: List[dict]) -> List[dict]:
    """Every row of the run with "stacked" (the fusion fitted on the other folds) and "either" (1 when the
    model or the rule is right, as the truth; else the wrong class) set."""
    if len(folds) < 2:
        raise SystemExit("bench: error: fusion_check needs a run of at least two folds (the fusion of one fold "
                         "is fitted on the others).")
    table = [(i, r, features(r, fold["pitch_threshold_hz"])) for i, fold in enumerate(folds) for r in fold["rows"]]
    out = []
    for i, fold in enumerate(folds):
        train = [(x, r["truth"]) for j, r, x in table if j != i]
        if len({y for _, y in train}) < 2:
            raise SystemExit(f"bench: error: the folds other than fold {i} hold one class only; nothing to fit.")
        fusion = LogisticRegression().fit(np.array([x for x, _ in train]), np.array([y for _, y in train]))
        mine = [(r, x) for j, r, x in table if j == i]
        decided = fusion.predict(np.array([x for _, x in mine]))
        for (r, _), d in zip(mine, decided):
            right = r["model"] == r["truth"] or r["pitch"] == r["truth"]
            out.append(dict(r, stacked=int(d), either=r["truth"] if right else 1 - r["truth"]))
    return out


def check(names: Sequence[str], results: str = KFOLD_RESULTS, loco: bool = False) -> dict:
    runs = {}
    for name in names:
        rows = stack(read_folds(name, results, "loco-*.json" if loco else "fold-*.json"))
        runs[name] = {
            "utterances": len(rows), "speakers": len({r["speaker"] for r in rows}),
            **{key: accuracy(rows, key) for key in ("model", "pitch", "stacked", "either")},
            "stacked_minus_pitch": difference(rows, "stacked", "pitch"),
            "stacked_minus_model": difference(rows, "stacked", "model"),
            "per_corpus": corpus_shares(rows, ("model", "pitch", "stacked", "either"))}
    return {"runs": runs, "loco": loco}


def markdown(result: dict) -> str:
    runs = result["runs"]
    title = ("left-out corpora, each stacked on the other" if result["loco"] else "stacked on the other folds")
    lines = [f"# The model fused with the pitch ({title}), and the either-right oracle", "",
             *_util.machine_lines([f"git commit: {_util.git_commit()}"]), "",
             "Pooled single-utterance accuracy (speaker-bootstrap 95 % interval); stacked - rule is paired:", "",
             _util.table(["run", "utterances", "model", "pitch rule", "stacked (model + F0)", "either decision right",
                          "stacked - rule, points", "stacked - model, points"],
                         [[n, r["utterances"], accuracy_cell(r["model"]), accuracy_cell(r["pitch"]),
                           accuracy_cell(r["stacked"]), accuracy_cell(r["either"]),
                           difference_cell(r["stacked_minus_pitch"]), difference_cell(r["stacked_minus_model"])]
                          for n, r in runs.items()]), "",
             "Per corpus (accuracy):", "",
             _util.table(["run", "corpus", "utterances", "model", "pitch rule", "stacked", "either right"],
                         [[n, c, v["utterances"], f"{v['model']:.3f}", f"{v['pitch']:.3f}", f"{v['stacked']:.3f}",
                           f"{v['either']:.3f}"] for n, r in runs.items() for c, v in r["per_corpus"].items()]), ""]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, help="finished k-fold runs, comma-separated (each is checked alone)")
    parser.add_argument("--loco", action="store_true", help="the runs are leave-one-corpus-out runs (loco-*.json)")
    parser.add_argument("--results", default=KFOLD_RESULTS)
    parser.add_argument("--out", default=None, help="default bench/results/fusion_check.md (--loco: fusion_check_loco.md)")
    args = parser.parse_args(argv)
    result = check(run_names(args.runs), args.results, args.loco)
    _util.write_report(args.out or report_path("fusion_check", args.loco), markdown(result), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
