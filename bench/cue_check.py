"""Is there a gender cue beyond pitch that carries over to unseen speakers of the bundled corpora?

The model is level with the median-F0 pitch rule (README, "Model quality"). To beat it, something other
than pitch has to tell gender apart on speakers never heard: the usual candidate is the spectral envelope
(formants, vocal-tract length), which MFCC statistics summarize. This check asks it of simple models on
the folds of finished k-fold runs (bench/kfold.py), the same train speakers and test utterances:

- `pitch`: the pitch rule as the run scored it (median F0 against a threshold fitted for accuracy);
- `f0_lr`: logistic regression on log median F0 alone (class-balanced): pitch, with another threshold;
- `mfcc`: the run's MFCC statistics + logistic regression baseline;
- `f0_mfcc_lr`: logistic regression on log median F0 *and* the 80 MFCC statistics (class-balanced, its
  regularization chosen by speaker-grouped cross-validation inside the fold's train speakers);
- `formant_lr`: logistic regression on the log median formants F1-F4 (bench/formants.py: LPC), the
  vocal-tract length cue alone;
- `f0_formant_lr`: logistic regression on log median F0 and log F1-F4;
- `model`: the run's model.

If `f0_mfcc_lr` is not above `f0_lr`, the envelope statistics add nothing that transfers to new speakers
here: what they add on the train speakers is who is speaking, not their gender. `f0_formant_lr` asks the
same of four numbers that are a textbook gender cue, with far less room than 80 statistics to learn
voices. A recording without F0 (or without formants, for the formant classifiers) is wrong for every
classifier that needs it in the accuracy table, as for the rule; the paired "second cue" differences
(F0 + MFCC or F0 + formants against F0 alone) are taken on the utterances that have the second cue, so
they measure the cue, not how often it could be computed. Features come from bench.kfold's cache in
`--work` (computed there when missing; formants in formant_cache.json).

Run:  .venv/bin/python -m bench.cue_check --runs r10,r10-seed1,r10-seed2 [--work /tmp/audioclf-kfold]
      [--out bench/results/cue_check.md]
"""
import argparse
import math
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence

from bench import _util, formants, kfold, kfold_baselines
from bench.kfold_summary import accuracy, difference, difference_cell
from bench.kfold_results import KFOLD_RESULTS, read_run_here, run_names
from components.audio_evaluator import pitch_rule

CLASSIFIERS = {"pitch": "pitch rule", "f0_lr": "LR on log F0", "mfcc": "MFCC + LR",
               "f0_mfcc_lr": "LR on log F0 + MFCC", "formant_lr": "LR on log F1-F4",
               "f0_formant_lr": "LR on log F0 + log F1-F4", "model": "model"}
# the paired differences reported beside the ones against the rule: (richer classifier, the F0-only one)
SECOND_CUE = (("f0_mfcc_lr", "f0_lr"), ("f0_formant_lr", "f0_lr"))
# the logistic regressions fitted here, and the features (feature_parts) each one reads
LR_CLASSIFIERS = {"f0_lr": ("f0",), "f0_mfcc_lr": ("f0", "mfcc"), "formant_lr": ("formant",),
                  "f0_formant_lr": ("f0", "formant")}
CS = (0.001, 0.01, 0.1, 1.0)
INNER_FOLDS = 3


def _fit(x: List[list], y: List[int], groups: List[str]):
    """Class-balanced logistic regression on standardized features; C chosen by speaker-grouped CV when
    there are more features than one (one feature needs no regularization choice)."""
    from sklearn import linear_model, model_selection, pipeline, preprocessing  # pylint: disable=import-outside-toplevel
    if len(x[0]) == 1:
        lr = linear_model.LogisticRegression(max_iter=5000, class_weight="balanced")
    else:
        splits = list(model_selection.GroupKFold(n_splits=INNER_FOLDS).split(x, y, groups))
        lr = linear_model.LogisticRegressionCV(Cs=list(CS), cv=splits, max_iter=5000, class_weight="balanced")
    return pipeline.make_pipeline(preprocessing.StandardScaler(), lr).fit(x, y)


def feature_parts(mfccs: dict, formant: dict) -> Dict[str, Callable[[dict], Optional[list]]]:
    """A row's features by name (None when the file has none): log F0, MFCC statistics, log F1-F4."""
    return {"f0": lambda r: [math.log(r["f0"])] if r["f0"] else None,
            "mfcc": lambda r: mfccs.get(r["path"]),
            "formant": lambda r: [math.log(v) for v in formant[r["path"]]] if formant.get(r["path"]) else None}


def fold_answers(fold: dict, rows_by_speaker: Dict[str, List[dict]], parts: Dict[str, Callable],
                 classifiers: Dict[str, Sequence[str]] = LR_CLASSIFIERS) -> List[dict]:
    """The fold's test rows with the answer of each LR classifier (its features: names in `parts`), each
    fitted on the fold's train speakers only, on the train utterances that have its features; a test
    row without them gets -1 (wrong, as the rule counts a file without F0)."""
    train = [r for s in fold["speakers"]["train"] for r in rows_by_speaker[s]]
    test = [dict(r) for r in fold["rows"]]
    for key, names in classifiers.items():
        def feature(r, names=names):
            return sum((list(parts[n](r)) for n in names), [])

        def has(r, names=names):
            return all(parts[n](r) is not None for n in names)

        usable, known = [r for r in train if has(r)], [r for r in test if has(r)]
        model = _fit([feature(r) for r in usable], [r["truth"] for r in usable], [r["speaker"] for r in usable])
        for r, answer in zip(known, model.predict([feature(r) for r in known]) if known else []):
            r[key] = int(answer)
        for r in test:
            r.setdefault(key, -1)
    return test


def check(names: Sequence[str], work: str, workers: int, results: str = KFOLD_RESULTS) -> dict:
    per_run = []
    with pitch_rule.worker_pool(workers) as pool:   # one pool (and one numba warm-up) for all the runs
        for name in names:
            folds, rows_by_speaker = read_run_here(name, results)
            paths = [r["path"] for f in folds for r in f["rows"]]
            _, mfccs = kfold_baselines.file_features(paths, work, pool, workers, with_f0=False)
            formant = kfold_baselines.cached_features("formant", formants.file_formants, paths, work, pool, workers)
            parts = feature_parts(mfccs, formant)
            scored = [r for f in folds for r in fold_answers(f, rows_by_speaker, parts)]
            per_run.append({"run": name, "utterances": len(scored), "speakers": len(rows_by_speaker),
                            "accuracy": {k: accuracy(scored, k) for k in CLASSIFIERS},
                            "vs_pitch": {k: difference(scored, k, "pitch") for k in CLASSIFIERS if k != "pitch"},
                            # the cue, not its coverage: on the utterances where the richer one had its features
                            "second_cue": {k: difference([r for r in scored if r[k] != -1], k, base)
                                           for k, base in SECOND_CUE},
                            "missing": {k: sum(r[k] == -1 for r in scored) for k, _ in SECOND_CUE}})
    return {"runs": list(names), "per_run": per_run}


def markdown(result: dict) -> str:
    def acc(a):
        return f"{a['accuracy']:.3f} ({a['speaker_ci95'][0]:.3f}-{a['speaker_ci95'][1]:.3f})"

    keys = list(CLASSIFIERS)
    return "\n".join([
        f"# Cues beyond pitch on unseen speakers ({', '.join(result['runs'])})", "",
        *_util.machine_lines([f"git commit: {_util.git_commit()}"]), "",
        "Pooled single-utterance accuracy over each run's folds (speaker-bootstrap 95 % interval); every "
        "classifier is fitted on each fold's train speakers only and judges the same test utterances.", "",
        _util.table(["run", "utterances (speakers)"] + [CLASSIFIERS[k] for k in keys],
                    [[r["run"], f"{r['utterances']} ({r['speakers']})"] + [acc(r["accuracy"][k]) for k in keys]
                     for r in result["per_run"]]), "",
        "Paired differences in points (speaker-bootstrap 95 % interval); the last columns compare an F0 + "
        "second-cue classifier with F0 alone on the utterances that have both features (without them: "
        + "; ".join(f"{CLASSIFIERS[k]}, {', '.join(str(r['missing'][k]) for r in result['per_run'])}"
                    for k, _ in SECOND_CUE) + " utterances per run):", "",
        _util.table(["run"] + [f"{CLASSIFIERS[k]} - pitch rule" for k in keys if k != "pitch"]
                    + [f"{CLASSIFIERS[k]} - {CLASSIFIERS[base]}" for k, base in SECOND_CUE],
                    [[r["run"]] + [difference_cell(r["vs_pitch"][k]) for k in keys if k != "pitch"]
                     + [difference_cell(r["second_cue"][k]) for k, _ in SECOND_CUE] for r in result["per_run"]]), ""])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, help="k-fold run names under bench/results/kfold/, comma-separated")
    parser.add_argument("--work", default=kfold.DEFAULT_WORK, help="bench.kfold's feature cache")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--results", default=KFOLD_RESULTS)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(KFOLD_RESULTS), "cue_check.md"))
    args = parser.parse_args(argv)
    result = check(run_names(args.runs), args.work, args.workers, args.results)
    _util.write_report(args.out, markdown(result), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
