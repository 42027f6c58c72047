"""Valid summary.json contents (pipeline/summary_schema.py) for tests of its readers: a finished run that
made nothing yet, and a real-speech result with given accuracies. Tests change what they look at."""
from pipeline import run_dir


def _scores(accuracy: float, n: int = 10) -> dict:
    return {"n": n, "correct": round(accuracy * n), "accuracy": accuracy, "ci95": [0.6, 0.98], "per_class": {
        "female": {"precision": 1.0, "recall": 0.8, "support": n // 2},
        "male": {"precision": 0.8333, "recall": 1.0, "support": n - n // 2}}}


def real_speech_result(model: dict, rule: dict, passed: bool = True) -> dict:
    """model, rule: corpus name ("overall" included) -> accuracy."""
    return {"utterances": 10, "seconds": 93.0, "speakers": 4,
            "speakers_per_corpus": {name: 4 for name in model if name != "overall"},
            "model": {name: _scores(a) for name, a in model.items()},
            "pitch_rule": {**{name: _scores(a) for name, a in rule.items()}, "threshold_hz": 157.0, "fit_utterances": 40,
                           "fit_speakers": 6, "no_f0": 0},
            "baseline_model": None, "wrong": [], "wrong_count": 0, "unreadable": [], "seconds_taken": 4.5,
            "gate": {"passed": passed, "failures": [] if passed else ["vs_pitch_rule failed"], "conditions": [
                {"name": "vs_pitch_rule", "value": model["overall"], "required": rule["overall"], "passed": passed,
                 "text": "real-utterance accuracy >= pitch rule"}]}}


def run_summary(status: str = "complete") -> dict:
    """Every component complete, no corpus, no clips and no model parts."""
    return {"pipeline": "audioclf", "run_id": "2026-01-02T03:04:05", "status": status,
            "error": "it broke" if status == "failed" else None,
            "components": {c: {"status": "complete"} for c in run_dir.COMPONENT_ORDER}, "corpus": None,
            "splits": {"train": {}, "eval": {}, "test": {}},
            "model": {"model": None, "training": None, "test": None, "real_speech": None, "baseline_model": None,
                      "blessed": True, "pushed": True, "pushed_model": "/serving/1"}}
