"""How a run ended, read from its summary: the page's banner and title, and the reason a section has
nothing to show (the run stopped before it)."""
from typing import List, Optional, Tuple

from pipeline.report.formats import pct
from pipeline.summary_schema import ModelPart, RunSummary
from trainer.config import ACCURACY_METRIC


def not_reached(summary: RunSummary, what: str) -> str:
    """`what` (a sentence without its full stop) and, for a failed or interrupted run, where it stopped."""
    stop = summary.stopped_at()
    if summary.status == "interrupted":
        where = f" The run was interrupted at {stop[0]}." if stop[0] else " The run was interrupted."
    else:
        where = f" The run stopped at {stop[0]}." if stop and stop[0] else (" The run failed." if stop else "")
    return f"{what}.{where}"


def accuracies(model: ModelPart, clip_accuracy: Optional[float]) -> str:
    """The banner's figures: test-clip accuracy (TFMA) and, when measured, real-utterance accuracy."""
    text = f"Test-clip accuracy {pct(clip_accuracy)}"
    real = model.real_speech
    if real:
        text += (f"; real test utterances {pct(real.model['overall'].accuracy)} "
                 f"(pitch rule {pct(real.pitch_rule.by_corpus['overall'].accuracy)})")
    return text


def run_status(summary: RunSummary) -> Tuple[str, str, List[str]]:
    """(css kind, headline, detail lines) of the banner."""
    stop = summary.stopped_at()
    if stop and summary.status == "interrupted":
        component, error = stop
        return "bad", f"Interrupted at {component}" if component else "Interrupted", [
            f"The run was {error} and stopped there; the components after it did not run, and this page shows "
            f"what it had done until then."]
    if stop:
        component, error = stop
        return "bad", f"Failed at {component}" if component else "Failed", [error]
    model = summary.model
    accuracy = model.test_metric(ACCURACY_METRIC)
    if model.blessed and model.pushed:
        return "ok", "Blessed and pushed", [accuracies(model, accuracy) + f"; pushed to {model.pushed_model}"]
    if model.blessed is False:
        return "warn", "Not blessed: nothing was pushed", [accuracies(model, accuracy) + "."] + model.not_blessed_reasons()
    if model.blessed:
        return "warn", "Blessed but not pushed", ["The Pusher did not push the blessed model."]
    return "warn", "Finished without a blessing", ["No blessing was recorded: the Evaluator did not run."]
