"""The Evaluation section's content (evaluation.html.j2 lays it out): accuracy and confusion matrix of
the test clips, TFMA's slices, the comparison with the previous blessed model, the real-speech check
beside the pitch rule, and the blessing with its thresholds."""
from typing import Any, Dict, List, Optional

from components.common.stats import per_class_metrics
from pipeline.config import LABEL_NAMES
from pipeline.report import figures
from pipeline.report.formats import DASH, Table, ci, num, pct, table
from components.audio_evaluator.real_speech_result import RealSpeechResult, Scores
from pipeline.report.gather import Evaluation, Facts, attempt
from trainer.config import ACCURACY_METRIC


def _matrix(facts: Facts, matrix: List[List[int]]) -> Dict[str, Any]:
    """Accuracy with its interval, the confusion matrix picture and the per-class table."""
    labels = LABEL_NAMES[:len(matrix)]
    correct, total = sum(matrix[i][i] for i in range(len(matrix))), sum(map(sum, matrix))
    classes = per_class_metrics(matrix, labels)
    # As sklearn's zero_division=0: a ratio without a denominator counts as 0 in the average.
    macro = [sum(c[k] or 0.0 for c in classes) / len(classes) for k in ("precision", "recall", "f1")]
    rows = [(c["label"], num(c["precision"]), num(c["recall"]), num(c["f1"]), c["support"]) for c in classes]
    rows.append(("macro average", *(num(v) for v in macro), total))
    return {"correct": correct, "total": total, "accuracy": correct / total if total else None, "ci": ci(correct, total),
            "picture": attempt(facts, "evaluation", "draw the confusion matrix picture", figures.confusion_matrix,
                               matrix, labels),
            "per_class": table(["class", "precision", "recall", "F1", "support"], rows, numeric=(1, 2, 3, 4),
                               row_class=lambda r: "total" if r[0] == "macro average" else None),
            "undefined": any(c["precision"] is None or c["recall"] is None for c in classes)}


def _slices(metrics: Dict[str, dict]) -> Table:
    rows = []
    for name, values in metrics.items():
        count = int(values.get("example_count") or 0)
        accuracy = values.get(ACCURACY_METRIC)
        correct = round(accuracy * count) if accuracy is not None else 0
        rows.append((name.replace("=", " = "), count, pct(accuracy), ci(correct, count) if accuracy is not None else DASH))
    return table(["slice", "clips", "accuracy", "95 % CI (Wilson)"], rows, numeric=(1, 2, 3),
                 row_class=lambda r: "total" if r[0] == "overall" else None)


def _baseline(facts: Facts, evaluation: Evaluation, accuracy: Optional[float]) -> Optional[Dict[str, Any]]:
    """This model against the previous blessed one; None for a first model (nothing to compare with)."""
    test = facts.model.test
    if not test or not test.validation.compared_with_baseline:
        return None
    difference = evaluation.difference
    if difference is None and evaluation.baseline_accuracy is not None and accuracy is not None:
        difference = accuracy - evaluation.baseline_accuracy
    return {"model": facts.model.baseline_model or DASH, "accuracy": evaluation.baseline_accuracy,
            "this_model": accuracy, "difference": DASH if difference is None else f"{100 * difference:+.1f} points"}


def _scored(scores: Optional[Scores]) -> str:
    if not scores or not scores.n:
        return DASH
    low, high = scores.ci95
    return f"{pct(scores.accuracy)} ({pct(low, 0)}–{pct(high, 0)})"


def _real_speech(real: RealSpeechResult) -> Dict[str, Any]:
    """The tables of the real-speech check; its sentences and gate come from `real` (summary.json) as is."""
    rule, model = real.pitch_rule.by_corpus, real.model
    names = [n for n in model if n != "overall"] + ["overall"]
    baseline = real.baseline_model or {}
    rows = [(n, model[n].n, real.speakers_per_corpus.get(n, real.speakers) if n != "overall" else real.speakers,
             _scored(model[n]), _scored(rule.get(n)), _scored(baseline.get(n))) for n in names]
    per_class = [(label, num(model["overall"].per_class[label].precision), num(model["overall"].per_class[label].recall),
                  num(rule["overall"].per_class[label].precision), num(rule["overall"].per_class[label].recall),
                  model["overall"].per_class[label].support)
                 for label in ("female", "male")]
    wrong = [(w.path, w.corpus, w.truth, f"{w.label} {w.probability:.2f}" if w.label else DASH,
              DASH if w.f0 is None else f"{w.f0:.0f}", "right" if w.pitch_rule_right else "wrong")
             for w in real.wrong[:30]]
    return {"summary": real, "rule": real.pitch_rule,
            "corpora": table(["corpus", "utterances", "speakers", "model", "pitch rule", "latest blessed model"], rows,
                             numeric=(1, 2, 3, 4, 5), row_class=lambda r: "total" if r[0] == "overall" else None),
            "per_class": table(["class", "model precision", "model recall", "pitch-rule precision", "pitch-rule recall",
                                "support"], per_class, numeric=(1, 2, 3, 4, 5)),
            "wrong": table(["file", "corpus", "truth", "model", "F0 Hz", "pitch rule"], wrong) if wrong else None}


def _blessing(facts: Facts, evaluation: Evaluation) -> Dict[str, Any]:
    """The decision, the thresholds it was taken against, and the reasons for a refusal."""
    model = facts.model
    floor, change = evaluation.floor, evaluation.change
    rules = [f"accuracy on the whole test split ≥ {floor:g}" if floor is not None else "accuracy floor: not recorded"]
    if change is not None:
        allowed = max(0.0, -change) if abs(change) > 1e-6 else 0.0
        rules.append(f"no drop against the baseline larger than {allowed:g}")
    else:
        rules.append("no regression check (no baseline)")
    if model.real_speech:
        rules.append("and the real-speech gate above")
    reasons = (list(model.test.validation.failures) if model.test else []) + (
        model.real_speech.gate.failures if model.real_speech else [])
    return {"blessed": bool(model.blessed),
            "decision": {True: "blessed", False: "NOT blessed"}.get(model.blessed, "not recorded"),
            "rules": rules, "reasons": reasons}


def context(facts: Facts) -> Optional[Dict[str, Any]]:
    """What evaluation.html.j2 shows; None when the model was not evaluated."""
    test = facts.model.test
    if not test:
        return None
    metrics = test.metrics
    matrix = test.confusion_matrix
    evaluation = facts.evaluation or Evaluation()
    real = facts.model.real_speech
    return {"matrix": _matrix(facts, matrix) if matrix else None, "slices": _slices(metrics),
            "baseline": _baseline(facts, evaluation, metrics.get("overall", {}).get(ACCURACY_METRIC)),
            "real_speech": _real_speech(real) if real else None, "blessing": _blessing(facts, evaluation)}
