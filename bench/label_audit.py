"""Which bundled speakers' gender labels do the baselines contradict, and what does that cost the k-fold?

A k-fold run (bench/kfold.py) judges every utterance with three classifiers. A speaker on whom the two
*baselines*, which look at different evidence (the median-F0 pitch rule: the voice's pitch; MFCC
statistics + logistic regression: the spectral envelope, i.e. formants and timbre), both disagree with
the corpus's label on nearly every utterance, in every run given, is a speaker whose label is suspect
(the confident-learning idea: flag labels that independent held-out predictions contradict). The model
under test plays no part in choosing them, so leaving them out favours the pitch rule (it got all of
them wrong), never the model.

This is a diagnostic of the *data*: nothing is dropped from any corpus, training set or headline table.
The report lists the suspects with their median F0 and how often each classifier disagreed, the share of
pooled utterances they hold (the accuracy a classifier that is right about every voice could reach if
their labels are wrong), and each run's pooled model and rule accuracy with and without them.

Run:  .venv/bin/python -m bench.label_audit --runs r10,r10-seed1,r10-seed2 [--min-disagree 0.8]
      [--min-utterances 5] [--out bench/results/label_audit.md]
"""
import argparse
import glob
import json
import os
import statistics
import sys
from typing import Dict, List, Optional, Sequence

from bench import _util
from bench.kfold_summary import accuracy, difference, difference_cell

KFOLD_RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "kfold")


def read_folds(run: str, results: str = KFOLD_RESULTS) -> List[dict]:
    """The fold files (fold-*.json) of a finished k-fold run, in fold order."""
    files = sorted(glob.glob(os.path.join(results, run, "fold-*.json")))
    if not files:
        raise SystemExit(f"bench: error: {os.path.join(results, run)}: no fold-*.json; run "
                         f"`python -m bench.kfold --name {run}` first, or name a run that has them.")
    folds = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            folds.append(json.load(f))
    return folds


def read_rows(run: str, results: str = KFOLD_RESULTS) -> List[dict]:
    """Every scored utterance of a finished k-fold run."""
    return [r for fold in read_folds(run, results) for r in fold["rows"]]


def suspects(runs: Dict[str, List[dict]], min_disagree: float, min_utterances: int) -> List[dict]:
    """Speakers whose label both baselines contradict on at least `min_disagree` of their utterances,
    over all runs pooled, with at least `min_utterances` distinct utterances."""
    by_speaker: Dict[str, List[dict]] = {}
    for rows in runs.values():
        for r in rows:
            by_speaker.setdefault(r["speaker"], []).append(r)
    found = []
    for speaker, rows in sorted(by_speaker.items()):
        utterances = len({os.path.basename(r["path"]) for r in rows})   # each run has its own data root
        if utterances < min_utterances:
            continue
        wrong = {k: sum(r[k] != r["truth"] for r in rows) / len(rows) for k in ("pitch", "mfcc", "model")}
        if wrong["pitch"] >= min_disagree and wrong["mfcc"] >= min_disagree:
            f0s = [r["f0"] for r in rows if r["f0"]]
            found.append({"speaker": speaker, "corpus": rows[0]["corpus"], "label": "F" if rows[0]["truth"] else "M",
                          "utterances": utterances,
                          "median_f0_hz": round(statistics.median(f0s), 1) if f0s else None,
                          **{f"{k}_disagrees": round(v, 3) for k, v in wrong.items()}})
    return found


def audit(run_names: Sequence[str], min_disagree: float, min_utterances: int,
          results: str = KFOLD_RESULTS) -> dict:
    runs = {name: read_rows(name, results) for name in run_names}
    flagged = suspects(runs, min_disagree, min_utterances)
    names = {s["speaker"] for s in flagged}
    per_run = []
    for name, rows in runs.items():
        kept = [r for r in rows if r["speaker"] not in names]
        per_run.append({"run": name, "utterances": len(rows), "without": len(kept),
                        "all": {k: accuracy(rows, k) for k in ("model", "pitch")},
                        "kept": {k: accuracy(kept, k) for k in ("model", "pitch")},
                        "all_diff": difference(rows, "model", "pitch"), "kept_diff": difference(kept, "model", "pitch"),
                        "ceiling": round(len(kept) / len(rows), 4)})
    return {"runs": list(run_names), "min_disagree": min_disagree, "min_utterances": min_utterances,
            "suspects": flagged, "per_run": per_run}


def markdown(result: dict) -> str:
    def acc(a):
        return f"{a['accuracy']:.3f} ({a['speaker_ci95'][0]:.3f}-{a['speaker_ci95'][1]:.3f})"

    lines = [f"# Label audit of the bundled corpora ({', '.join(result['runs'])})", "",
             *_util.machine_lines([f"git commit: {_util.git_commit()}"]), "",
             f"Suspect: a speaker with >= {result['min_utterances']} utterances on whom the pitch rule and MFCC + LR "
             f"each disagree with the label on >= {result['min_disagree']:.0%} of the utterances, over these runs "
             f"pooled. The model plays no part in the choice. Nothing is removed from any corpus or headline table.",
             "", _util.table(["speaker", "corpus", "label", "utterances", "median F0 (Hz)", "pitch rule disagrees",
                              "MFCC + LR disagrees", "model disagrees"],
                             [[s["speaker"].rsplit("/", 1)[-1], s["corpus"], s["label"], s["utterances"],
                               s["median_f0_hz"], f"{s['pitch_disagrees']:.0%}", f"{s['mfcc_disagrees']:.0%}",
                               f"{s['model_disagrees']:.0%}"] for s in result["suspects"]]) if result["suspects"]
             else "No speaker meets the criterion.", "",
             "Pooled single-utterance accuracy (speaker-bootstrap 95 % interval) with every label as the corpus gives "
             "it, and with the suspects left out; 'ceiling' is the share of utterances left, what a classifier "
             "right about every voice would score if the suspects' labels are wrong:", "",
             _util.table(["run", "model, all", "rule, all", "model - rule, all (points)", "model, suspects out",
                          "rule, suspects out", "model - rule, suspects out (points)", "ceiling"],
                         [[r["run"], acc(r["all"]["model"]), acc(r["all"]["pitch"]), difference_cell(r["all_diff"]),
                           acc(r["kept"]["model"]), acc(r["kept"]["pitch"]), difference_cell(r["kept_diff"]),
                           f"{r['ceiling']:.3f}"]
                          for r in result["per_run"]]), ""]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, help="k-fold run names under bench/results/kfold/, comma-separated")
    parser.add_argument("--min-disagree", type=float, default=0.8)
    parser.add_argument("--min-utterances", type=int, default=5)
    parser.add_argument("--results", default=KFOLD_RESULTS)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(KFOLD_RESULTS), "label_audit.md"))
    args = parser.parse_args(argv)
    result = audit([r for r in args.runs.split(",") if r], args.min_disagree, args.min_utterances, args.results)
    text = markdown(result)
    _util.write_report(args.out, text)
    with open(os.path.splitext(args.out)[0] + ".json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
