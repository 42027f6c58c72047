"""bench.kfold, the summary half: accuracy per corpus and overall with Wilson and speaker-bootstrap
intervals, paired model-minus-baseline differences, and the Markdown tables (bench/kfold.py runs the folds)."""
import datetime
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from bench import _util
from components.common import stats

CLASSIFIERS = {"model": "model", "pitch": "pitch rule", "mfcc": "MFCC + LR"}

BOOTSTRAP_DRAWS = 2000


def _speaker_bootstrap(rows: List[dict], value) -> Optional[List[float]]:
    """95 % interval of mean(value(row)) when whole speakers are resampled: the utterances of one speaker
    are not independent (speechocean762 has 10 each), which a per-utterance interval ignores."""
    by_speaker: Dict[str, List[float]] = {}
    for r in rows:
        by_speaker.setdefault(r["speaker"], []).append(value(r))
    if len(by_speaker) < 2:
        return None
    sums = np.array([sum(v) for v in by_speaker.values()])
    counts = np.array([len(v) for v in by_speaker.values()])
    draws = np.random.default_rng(0).integers(0, len(sums), size=(BOOTSTRAP_DRAWS, len(sums)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    return [round(float(q), 4) for q in np.quantile(means, [0.025, 0.975])]


def accuracy(rows: List[dict], key: str) -> dict:
    """Correct, n, accuracy, its 95 % Wilson interval (utterances independent) and its speaker-bootstrap
    interval (speakers resampled); a -1 prediction (no F0, unreadable) is wrong."""
    n, correct = len(rows), sum(r[key] == r["truth"] for r in rows)
    ci = stats.wilson_interval(correct, n)
    return {"correct": correct, "n": n, "accuracy": round(correct / n, 4) if n else None,
            "ci95": [round(v, 4) for v in ci] if ci else None,
            "speaker_ci95": _speaker_bootstrap(rows, lambda r: float(r[key] == r["truth"]))}


def difference(rows: List[dict], key: str, other: str) -> dict:
    """Accuracy of `key` minus that of `other` on the same utterances, with its speaker-bootstrap interval
    (paired: both classifiers judged each resampled speaker)."""
    diff = lambda r: float(r[key] == r["truth"]) - float(r[other] == r["truth"])  # noqa: E731
    return {"points": round(100 * sum(diff(r) for r in rows) / len(rows), 2) if rows else None,
            "speaker_ci95_points": [round(100 * v, 2) for v in _speaker_bootstrap(rows, diff) or []] or None}


def accuracy_by_corpus(rows: List[dict], keys: List[str]) -> Dict[str, dict]:
    """key -> {corpus: `accuracy`, ..., "overall": `accuracy`} over the rows' corpora."""
    corpora = sorted({r["corpus"] for r in rows})
    return {k: {**{c: accuracy([r for r in rows if r["corpus"] == c], k) for c in corpora},
                "overall": accuracy(rows, k)} for k in keys}


def accuracy_rows(summary: dict, minus: str, label=lambda k: k) -> List[List[object]]:
    """Table rows of a replay summary ({"corpora", "accuracy": `accuracy_by_corpus`, minus, "minus_rule"}):
    label, accuracy per corpus and overall, the difference to `minus`'s reference and to the pitch rule."""
    columns = [*summary["corpora"], "overall"]
    return [["pitch rule" if k == "pitch" else label(k), *[f"{by_corpus[c]['accuracy']:.3f}" for c in columns],
             *[difference_cell(summary[d][k]) if k in summary[d] else "-" for d in (minus, "minus_rule")]]
            for k, by_corpus in summary["accuracy"].items()]


def corpus_shares(rows: List[dict], keys: Sequence[str]) -> Dict[str, dict]:
    """corpus -> {key: share of its rows right (4 places), ..., "utterances": n}: per-corpus accuracies
    without intervals, for the checks' per-corpus tables."""
    return {c: {key: round(sum(r[key] == r["truth"] for r in part) / len(part), 4) for key in keys}
            | {"utterances": len(part)}
            for c in sorted({r["corpus"] for r in rows})
            for part in [[r for r in rows if r["corpus"] == c]]}


def accuracy_cell(a: dict) -> str:
    """An `accuracy` as a table cell: the accuracy and its speaker-bootstrap interval, when it has one."""
    ci = a["speaker_ci95"]
    return f"{a['accuracy']:.3f}" + (f" ({ci[0]:.3f}-{ci[1]:.3f})" if ci else "")


def difference_cell(d: dict) -> str:
    """A `difference` as a table cell: points and their speaker-bootstrap interval."""
    ci = d.get("speaker_ci95_points")
    return "-" if d["points"] is None else f"{d['points']:+.1f}" + (f" ({ci[0]:+.1f} to {ci[1]:+.1f})" if ci else "")


def summarize(results: List[dict], args, wall: float) -> dict:
    rows = [r for res in results for r in res["rows"]]
    per_corpus = {}
    for name in sorted({r["corpus"] for r in rows}) + ["overall"]:
        part = [r for r in rows if name in ("overall", r["corpus"])]
        per_corpus[name] = {"utterances": len(part), "speakers": len({r["speaker"] for r in part}),
                            **{k: accuracy(part, k) for k in CLASSIFIERS},
                            "model_minus_pitch": difference(part, "model", "pitch"),
                            "model_minus_mfcc": difference(part, "model", "mfcc")}
    runs = [{"run": res["run"], "reused": res["reused"], "utterances": len(res["rows"]),
             **{k: accuracy(res["rows"], k)["accuracy"] for k in CLASSIFIERS},
             **{k: res["training"][k] for k in ("seconds", "epochs_run", "best_epoch", "examples_per_s", "cores_used")},
             "wall_s": res["timings"]["wall_s"]} for res in results]
    mean = lambda key: round(sum(r[key] for r in runs) / len(runs), 2)  # noqa: E731
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"name": args.name, "mode": "loco" if args.loco else f"{args.folds}-fold", "seed": args.seed,
            "quick": args.quick, "only_runs": args.runs, "train_fraction": args.train_fraction,
            "data_roots": args.data_root, "config_file": args.config,
            "overrides": args.set,
            "per_corpus": per_corpus, "runs": runs, "mean_training_s": mean("seconds"),
            "mean_examples_per_s": mean("examples_per_s"), "mean_cores_used": mean("cores_used"),
            "total_fold_wall_s": round(sum(r["wall_s"] for r in runs), 1), "this_invocation_wall_s": round(wall, 1),
            "machine": {"cpu": _util.cpu_model(), "cores": usable, "git_commit": _util.git_commit(),
                        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}}


def markdown(summary: dict) -> str:
    def cell(a):
        if not a["n"]:
            return "-"
        spk = a.get("speaker_ci95")
        return (f"{a['accuracy']:.3f} ({a['ci95'][0]:.3f}-{a['ci95'][1]:.3f}"
                + (f"; spk {spk[0]:.3f}-{spk[1]:.3f})" if spk else ")"))

    diff = difference_cell
    m = summary["machine"]
    lines = [f"# Speaker-grouped {summary['mode']}: {summary['name']} (seed {summary['seed']})"
             + (f", probe: {', '.join(summary['only_runs'])} only" if summary.get("only_runs") else ""), ""]
    lines += _util.QUICK_NOTE if summary["quick"] else []
    lines += [f"- corpora: {', '.join(summary['data_roots'])}", f"- config: {summary['config_file'] or 'defaults'}"
              f"{'; --set ' + ' '.join(summary['overrides']) if summary['overrides'] else ''}"
              + (f"; train speakers: {summary['train_fraction']:.0%} of each fold's (--train-fraction)"
                 if summary.get("train_fraction", 1.0) < 1 else ""),
              f"- machine: {m['cpu']}, {m['cores']} cores; {m['date']}; commit {m['git_commit']}", "",
              "Single-utterance accuracy, every utterance scored once by a model that never heard its speaker "
              "(95 % Wilson interval over utterances; spk: 95 % interval when whole speakers are resampled). "
              "Model - rule: accuracy difference in points on the same utterances, with its paired "
              "speaker-bootstrap interval:", "",
              _util.table(["corpus", "utterances", "speakers", *CLASSIFIERS.values(), "model - pitch rule",
                           "model - MFCC + LR"],
                          [[n, c["utterances"], c["speakers"], *(cell(c[k]) for k in CLASSIFIERS),
                            diff(c["model_minus_pitch"]), diff(c["model_minus_mfcc"])]
                           for n, c in summary["per_corpus"].items()]), "",
              _util.table(["run", "utterances", *CLASSIFIERS.values(), "training s", "epochs (best)", "examples/s",
                           "cores", "wall s", "reused"],
                          [[r["run"], r["utterances"], *(f"{r[k]:.3f}" for k in CLASSIFIERS), r["seconds"],
                            f"{r['epochs_run']} ({r['best_epoch']})", r["examples_per_s"], r["cores_used"], r["wall_s"],
                            "yes" if r["reused"] else "no"] for r in summary["runs"]]), "",
              f"Mean per run: training {summary['mean_training_s']} s, {summary['mean_examples_per_s']} examples/s, "
              f"{summary['mean_cores_used']} cores. Total wall time of the runs {summary['total_fold_wall_s']} s "
              f"(this invocation {summary['this_invocation_wall_s']} s)."]
    return "\n".join(lines) + "\n"
