"""The real-speech gate: the model judged on whole real utterances of unseen speakers, beside the pitch rule.

Every utterance of the test speakers (from the speaker index: no test speaker was heard in training)
is classified whole by `trainer.classifier.Classifier`, the code path of `audioclf predict`. The pitch
rule (pitch_rule.py) classifies the same utterances with a threshold fitted on train speakers'
utterances only. The latest blessed model, when there is one, is scored on the same utterances too.

The gate passes when, on these utterances, the model's accuracy is
- >= evaluator.real_accuracy_floor,
- >= the pitch rule's accuracy - evaluator.max_deficit_vs_pitch_rule, and
- >= the latest blessed model's accuracy - evaluator.max_regression (when there is one).
"""
import itertools
import logging
import os
import time
from typing import Dict, List, Optional, Sequence

from components.audio_evaluator import pitch_rule
from components.common import stats
from components.speaker_index import corpus
from components.audio_evaluator.config import EvaluatorConfig
from components.audio_evaluator.real_speech_result import RealSpeechResult
from components.common.errors import AudioClfError, find_user_message

log = logging.getLogger(__name__)
RESULT_FILE = "real_speech.json"
LABEL_NAMES = ("male", "female")            # pitch_rule.MALE = 0, FEMALE = 1
LABEL_OF_GENDER = {"M": pitch_rule.MALE, "F": pitch_rule.FEMALE}
WRONG_LISTED = 200                          # at most this many misclassified files are listed


def fit_sample(index: dict, limit: int) -> List[dict]:
    """Up to `limit` train utterances: one of every train speaker before a second of any, the speakers of
    the corpora interleaved, so that a cap keeps every voice and every corpus."""
    by_corpus: Dict[str, List[List[dict]]] = {}
    for row in corpus.split_files(index, "train"):
        speakers = by_corpus.setdefault(row["corpus"], [])
        if not speakers or speakers[-1][0]["speaker"] != row["speaker"]:
            speakers.append([])
        speakers[-1].append(row)
    speaker_lists = _interleave(list(by_corpus.values()))
    return _interleave(speaker_lists)[:limit]


def _interleave(groups: Sequence[Sequence]) -> list:
    """The first of every group, then the second of every group, ..."""
    return [x for layer in itertools.zip_longest(*groups) for x in layer if x is not None]


def classify_rows(classifier, rows: Sequence[dict], what: str) -> Dict[str, dict]:
    """path -> {label, probability} for each row's file; a file that cannot be decoded -> {error}."""
    results: Dict[str, dict] = {}
    started = last = time.monotonic()
    for n, row in enumerate(rows, start=1):
        try:
            answer = classifier.classify_file(row["path"])
            results[row["path"]] = {"label": LABEL_NAMES.index(answer["label"]) if answer["label"] in LABEL_NAMES
                                    else -1, "probability": answer["probability"]}
        except AudioClfError as err:
            results[row["path"]] = {"error": find_user_message(err) or str(err)}
        if time.monotonic() - last > 10 or n == len(rows):
            last = time.monotonic()
            log.info("real speech: %s %d/%d utterances (%.0f s)", what, n, len(rows), last - started)
    return results


def scores(truth: Sequence[int], predicted: Sequence[int]) -> dict:
    """Accuracy with its 95 % Wilson interval, and precision/recall per class."""
    n, correct = len(truth), sum(int(t == p) for t, p in zip(truth, predicted))
    matrix = stats.confusion(truth, predicted, len(LABEL_NAMES))
    return {"n": n, "correct": correct, "accuracy": round(correct / n, 6) if n else None,
            "ci95": [round(v, 6) for v in stats.wilson_interval(correct, n)] if n else None,
            "per_class": {m["label"]: {"precision": m["precision"], "recall": m["recall"], "support": m["support"]}
                          for m in stats.per_class_metrics(matrix, LABEL_NAMES)}}


def _by_corpus(rows: List[dict], key: str) -> dict:
    result = {"overall": scores([r["truth"] for r in rows], [r[key] for r in rows])}
    for name in sorted({r["corpus"] for r in rows}):
        part = [r for r in rows if r["corpus"] == name]
        result[name] = scores([r["truth"] for r in part], [r[key] for r in part])
    return result


def evaluate(index: dict, classifier, baseline_classifier, config: EvaluatorConfig, workers: int = 1) -> RealSpeechResult:
    """Scores the model, the pitch rule and (if given) the baseline model on the test speakers' utterances."""
    started = time.monotonic()
    test_rows = corpus.split_files(index, "test")
    if not test_rows:
        raise AudioClfError("the speaker index has no test utterances; the real-speech gate needs test speakers.")
    answers = classify_rows(classifier, test_rows, "model")
    unreadable = [{"path": r["path"], "error": answers[r["path"]]["error"]} for r in test_rows
                  if "error" in answers[r["path"]]]
    rows = [dict(r, truth=LABEL_OF_GENDER[r["gender"]], model=answers[r["path"]]["label"],
                 probability=answers[r["path"]]["probability"]) for r in test_rows if "error" not in answers[r["path"]]]
    if not rows:
        raise AudioClfError(f"none of the {len(test_rows)} test utterances could be decoded (first: "
                            f"{unreadable[0]['error']}); check the corpus files.")
    if baseline_classifier is not None:
        baseline = classify_rows(baseline_classifier, rows, "latest blessed model")
        for r in rows:
            r["baseline"] = baseline[r["path"]].get("label", -1)

    fit_rows = fit_sample(index, config.pitch_fit_utterances)
    log.info("real speech: pitch rule: median F0 of %d train and %d test utterances (%d processes)",
             len(fit_rows), len(rows), workers)
    f0s = pitch_rule.files_f0([r["path"] for r in fit_rows + rows], workers, os.path.expanduser(config.f0_cache))
    fit_f0, test_f0 = f0s[:len(fit_rows)], f0s[len(fit_rows):]
    threshold = pitch_rule.fit_threshold(fit_f0, [LABEL_OF_GENDER[r["gender"]] for r in fit_rows])
    for r, f0 in zip(rows, test_f0):
        r["f0"] = None if f0 is None else round(f0, 2)
        r["pitch"] = pitch_rule.predict(f0, threshold)

    wrong = [{"path": r["path"], "corpus": r["corpus"], "speaker": r["speaker"], "truth": LABEL_NAMES[r["truth"]],
              "label": LABEL_NAMES[r["model"]] if r["model"] >= 0 else None, "probability": r["probability"],
              "f0": r["f0"], "pitch_rule_right": r["pitch"] == r["truth"]}
             for r in rows if r["model"] != r["truth"]]
    result = {
        "utterances": len(rows), "seconds": round(sum(r["seconds"] for r in rows), 1),
        "speakers": len({r["speaker"] for r in rows}),
        "speakers_per_corpus": {c: len({r["speaker"] for r in rows if r["corpus"] == c})
                                for c in sorted({r["corpus"] for r in rows})},
        "model": _by_corpus(rows, "model"),
        "pitch_rule": dict(_by_corpus(rows, "pitch"), threshold_hz=round(threshold, 2),
                           fit_utterances=len(fit_rows), fit_speakers=len({r["speaker"] for r in fit_rows}),
                           no_f0=sum(r["f0"] is None for r in rows)),
        "baseline_model": _by_corpus(rows, "baseline") if baseline_classifier is not None else None,
        "wrong": wrong[:WRONG_LISTED], "wrong_count": len(wrong), "unreadable": unreadable,
        "seconds_taken": round(time.monotonic() - started, 1),
    }
    result["gate"] = gate(result, config)
    return RealSpeechResult.model_validate(result)


def gate(result: dict, config: EvaluatorConfig) -> dict:
    """The blessing conditions on real utterances, each with its numbers and whether it holds."""
    model = result["model"]["overall"]["accuracy"]
    pitch = result["pitch_rule"]["overall"]["accuracy"]
    conditions = [
        {"name": "real_accuracy_floor", "value": model, "required": config.real_accuracy_floor,
         "text": f"real-utterance accuracy {model:.4f} >= floor {config.real_accuracy_floor:g}"},
        {"name": "vs_pitch_rule", "value": model, "required": round(pitch - config.max_deficit_vs_pitch_rule, 6),
         "text": f"real-utterance accuracy {model:.4f} >= pitch rule {pitch:.4f} - "
                 f"{config.max_deficit_vs_pitch_rule:g} (evaluator.max_deficit_vs_pitch_rule)"},
    ]
    if result.get("baseline_model"):
        baseline = result["baseline_model"]["overall"]["accuracy"]
        conditions.append({"name": "vs_latest_blessed", "value": model,
                           "required": round(baseline - config.max_regression, 6),
                           "text": f"real-utterance accuracy {model:.4f} >= latest blessed model {baseline:.4f} - "
                                   f"{config.max_regression:g} (evaluator.max_regression)"})
    for c in conditions:
        c["passed"] = c["value"] >= c["required"] - 1e-9
    n = result["utterances"]
    return {"passed": all(c["passed"] for c in conditions), "conditions": conditions,
            "failures": [f"{c['text']}: failed ({n} test utterances)" for c in conditions if not c["passed"]]}


def model_classifier(model_dir: Optional[str]):
    """A Classifier for an exported model folder, or None when there is none."""
    if not model_dir:
        return None
    from trainer.classifier import Classifier  # pylint: disable=import-outside-toplevel  (TensorFlow)

    return Classifier(model_dir)
