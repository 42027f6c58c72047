"""Would averaging several trained models beat the pitch rule where one model does not?

Two runs of one recipe on the same folds differ by up to 4.7 points on a fold (README, "Model quality"):
TensorFlow on 2 threads is not deterministic, and early stopping picks different epochs. Averaging the
probabilities of several models removes that spread, at the cost of training each of them. Before paying
for it, this check asks it of models already trained: finished k-fold runs on the same folds (same
`--seed`, so every utterance was scored by one model per run that never heard its speaker) are combined
utterance by utterance, the mean of their probabilities being the decision, as `predict` combines windows.

Reported, pooled over the folds, beside the pitch rule on the same utterances: each run alone, the
average of all of them (speaker-bootstrap interval, and its paired difference to the rule and to the
runs' mean), and for every ensemble size k the mean, lowest and highest accuracy over all the ways of
choosing k of the runs. A row a run could not score (model_error) is wrong for that run alone; an
ensemble averages the runs that scored it and is wrong only when none did.

Run:  .venv/bin/python -m bench.ensemble_check --runs r10,r10-rerun,r11,r13 [--out bench/results/ensemble_check.md]
"""
import argparse
import itertools
import os
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from bench import _util
from bench.kfold_summary import accuracy, accuracy_cell, difference, difference_cell
from bench.kfold_results import KFOLD_RESULTS, class1_probability, read_folds, run_names
from components.audio_evaluator.real_speech import LABEL_OF_GENDER

MAX_SUBSETS = 2000   # per ensemble size; above it, a fixed random sample of the combinations
GENDER_OF_LABEL = {label: gender for gender, label in LABEL_OF_GENDER.items()}
MOSTLY_WRONG_MIN = 3   # utterances a speaker needs to be listed among those the average gets mostly wrong


def read_runs(names: Sequence[str], results: str = KFOLD_RESULTS) -> Dict[str, List[dict]]:
    """Each run's folds, checked to be the same folds: the same test speakers in each fold, so that every
    utterance was unseen by every model that is averaged over it."""
    runs = {name: read_folds(name, results) for name in names}
    first = names[0]
    for name, folds in runs.items():
        if len(folds) != len(runs[first]) or any(
                sorted(a["speakers"]["test"]) != sorted(b["speakers"]["test"]) for a, b in zip(folds, runs[first])):
            raise SystemExit(f"bench: error: {os.path.join(results, name)}: its folds are not those of {first} "
                             "(different test speakers); combine runs made with the same --seed and corpora.")
    return runs


def combine(runs: Dict[str, List[dict]]) -> List[dict]:
    """One row per utterance: truth, corpus, speaker, the rule's answer and each run's P(class 1)."""
    by_path: Dict[str, dict] = {}
    for name, folds in runs.items():
        for fold in folds:
            for r in fold["rows"]:
                row = by_path.setdefault(r["path"], {"path": r["path"], "corpus": r["corpus"], "speaker": r["speaker"],
                                                     "truth": r["truth"], "pitch": r["pitch"], "f0": r.get("f0"),
                                                     "p": {}})
                row["p"][name] = class1_probability(r)
    return [by_path[p] for p in sorted(by_path)]


def vote(rows: List[dict], names: Sequence[str], key: str) -> List[dict]:
    """`rows` with `key` set to the decision of the mean P(class 1) over `names` (-1 when none scored it)."""
    for r in rows:
        ps = [r["p"][n] for n in names if r["p"].get(n) is not None]
        r[key] = int(np.mean(ps) > 0.5) if ps else -1
    return rows


def mostly_wrong(rows: List[dict]) -> List[dict]:
    """Speakers with at least MOSTLY_WRONG_MIN utterances that the average gets wrong on more than half
    of them, with the rule's errors and median F0 beside: where the errors sit."""
    out = []
    for speaker in sorted({r["speaker"] for r in rows}):
        mine = [r for r in rows if r["speaker"] == speaker]
        wrong = sum(r["average"] != r["truth"] for r in mine)
        if len(mine) >= MOSTLY_WRONG_MIN and wrong > len(mine) / 2:
            f0s = [r["f0"] for r in mine if r["f0"]]
            out.append({"speaker": speaker, "truth": mine[0]["truth"], "utterances": len(mine), "average_wrong": wrong,
                        "rule_wrong": sum(r["pitch"] != r["truth"] for r in mine),
                        "median_f0": round(float(np.median(f0s)), 1) if f0s else None})
    return out


def _accuracy(rows: List[dict], key: str) -> float:
    """kfold_summary.accuracy's figure alone, without its bootstrap intervals (computed here for a thousand
    ensembles, where only the figure is reported)."""
    return round(sum(r[key] == r["truth"] for r in rows) / len(rows), 4)


def check(names: Sequence[str], results: str = KFOLD_RESULTS) -> dict:
    if len(names) < 2:
        raise SystemExit("bench: error: --runs: name at least two finished k-fold runs to average.")
    rows = combine(read_runs(names, results))
    for name in names:
        vote(rows, [name], name)
    vote(rows, names, "average")
    singles = {n: accuracy(rows, n) for n in names}
    rng = np.random.default_rng(0)
    sizes = []
    for k in range(1, len(names) + 1):
        subsets = list(itertools.combinations(names, k))
        if len(subsets) > MAX_SUBSETS:
            subsets = [subsets[i] for i in sorted(rng.choice(len(subsets), MAX_SUBSETS, replace=False))]
        accs = [_accuracy(vote(rows, s, "_subset"), "_subset") for s in subsets]
        sizes.append({"k": k, "subsets": len(subsets), "mean": round(float(np.mean(accs)), 4),
                      "min": min(accs), "max": max(accs)})
    for r in rows:
        r["runs_mean_correct"] = float(np.mean([r[n] == r["truth"] for n in names]))
    return {"runs": list(names), "utterances": len(rows), "speakers": len({r["speaker"] for r in rows}),
            "average_wrong": sum(r["average"] != r["truth"] for r in rows),
            "mostly_wrong_speakers": mostly_wrong(rows),
            "pitch": accuracy(rows, "pitch"), "singles": singles, "average": accuracy(rows, "average"),
            "average_minus_pitch": difference(rows, "average", "pitch"),
            "average_minus_runs_mean_points": round(100 * float(np.mean(
                [(r["average"] == r["truth"]) - r["runs_mean_correct"] for r in rows])), 2),
            "by_size": sizes,
            "per_corpus": {c: {"utterances": len(part), "pitch": _accuracy(part, "pitch"),
                               "average": _accuracy(part, "average")}
                           for c in sorted({r["corpus"] for r in rows})
                           for part in [[r for r in rows if r["corpus"] == c]]}}


def markdown(result: dict) -> str:
    return "\n".join([
        f"# Averaging models of several k-fold runs ({', '.join(result['runs'])})", "",
        *_util.machine_lines([f"git commit: {_util.git_commit()}"]), "",
        f"{result['utterances']} utterances of {result['speakers']} speakers, each scored by one model per run "
        "that never heard its speaker. Pooled single-utterance accuracy (speaker-bootstrap 95 % interval):", "",
        _util.table(["classifier", "accuracy"],
                    [["pitch rule", accuracy_cell(result["pitch"])]]
                    + [[f"run {n}", accuracy_cell(a)] for n, a in result["singles"].items()]
                    + [[f"**average of all {len(result['runs'])}**", accuracy_cell(result["average"])]]), "",
        f"Average of all - pitch rule: {difference_cell(result['average_minus_pitch'])} points; average of all - "
        f"the runs' mean accuracy: {result['average_minus_runs_mean_points']:+.2f} points.", "",
        "By ensemble size (every choice of k runs, or a fixed sample of 2000):", "",
        _util.table(["k", "ensembles", "mean", "lowest", "highest"],
                    [[s["k"], s["subsets"], f"{s['mean']:.3f}", f"{s['min']:.3f}", f"{s['max']:.3f}"]
                     for s in result["by_size"]]), "",
        "Per corpus, average of all against the rule:", "",
        _util.table(["corpus", "utterances", "pitch rule", "average"],
                    [[c, v["utterances"], f"{v['pitch']:.3f}", f"{v['average']:.3f}"]
                     for c, v in result["per_corpus"].items()]), "",
        f"The average is wrong on {result['average_wrong']} utterances. Speakers with at least {MOSTLY_WRONG_MIN} "
        "utterances of which it gets more than half wrong:", "",
        _util.table(["speaker", "label", "utterances", "average wrong", "pitch rule wrong", "median F0 (Hz)"],
                    [[m["speaker"], GENDER_OF_LABEL.get(m["truth"], m["truth"]), m["utterances"], m["average_wrong"],
                      m["rule_wrong"], "-" if m["median_f0"] is None else f"{m['median_f0']:.0f}"]
                     for m in result["mostly_wrong_speakers"]]), ""])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, help="finished k-fold runs on the same folds, comma-separated")
    parser.add_argument("--results", default=KFOLD_RESULTS)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(KFOLD_RESULTS), "ensemble_check.md"))
    args = parser.parse_args(argv)
    result = check(run_names(args.runs), args.results)
    _util.write_report(args.out, markdown(result), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
