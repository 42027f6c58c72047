"""How a run ended, read from its summary.json: the page's banner and title, and the reason a section
has nothing to show (the run stopped before it)."""
from typing import List, Optional, Tuple

from pipeline.report.formats import pct
from trainer.config import ACCURACY_METRIC


def stopped_at(summary: dict) -> Optional[Tuple[Optional[str], str]]:
    """(component, error) of a failed run: the first component whose execution failed (None when the
    run failed outside any component); None for a run that did not fail."""
    if summary.get("status") != "failed":
        return None
    failed = [name for name, entry in summary.get("components", {}).items() if entry.get("status") == "failed"]
    return (failed[0] if failed else None), summary.get("error") or "no error message was recorded"


def not_reached(summary: dict, what: str) -> str:
    """`what` (a sentence without its full stop) and, for a failed run, where it stopped."""
    stop = stopped_at(summary)
    where = f" The run stopped at {stop[0]}." if stop and stop[0] else (" The run failed." if stop else "")
    return f"{what}.{where}"


def accuracies(model: dict, clip_accuracy: Optional[float]) -> str:
    """The banner's figures: test-clip accuracy (TFMA) and, when measured, real-utterance accuracy."""
    text = f"Test-clip accuracy {pct(clip_accuracy)}"
    real = model.get("real_speech")
    if real:
        text += (f"; real test utterances {pct(real['model']['overall']['accuracy'])} "
                 f"(pitch rule {pct(real['pitch_rule']['overall']['accuracy'])})")
    return text


def run_status(summary: dict) -> Tuple[str, str, List[str]]:
    """(css kind, headline, detail lines) of the banner."""
    stop = stopped_at(summary)
    if stop:
        component, error = stop
        return "bad", f"Failed at {component}" if component else "Failed", [error]
    model = summary.get("model") or {}
    test = model.get("test") or {}
    accuracy = (test.get("metrics") or {}).get("overall", {}).get(ACCURACY_METRIC)
    if model.get("blessed") and model.get("pushed"):
        return "ok", "Blessed and pushed", [accuracies(model, accuracy) + f"; pushed to {model.get('pushed_model')}"]
    if model.get("blessed") is False:
        from pipeline.model_report import not_blessed_reasons  # pylint: disable=import-outside-toplevel
        return "warn", "Not blessed: nothing was pushed", [accuracies(model, accuracy) + "."] + not_blessed_reasons(model)
    if model.get("blessed"):
        return "warn", "Blessed but not pushed", ["The Pusher did not push the blessed model."]
    return "warn", "Finished without a blessing", ["No blessing was recorded: the Evaluator did not run."]
