"""The Training section's content (training.html.j2 lays it out): how the model was trained, its curves
and epochs, and the run's whole config."""
import json
from typing import Any, Dict, List, Optional, Tuple

from pipeline.report import figures
from pipeline.report.formats import num, pct, plural, table
from pipeline.report.gather import Facts, attempt
from pipeline.summary_schema import Training
from trainer.config import ACCURACY_METRIC

# tf.distribute's class names as a person reads them.
STRATEGY_NAMES = {"_DefaultDistributionStrategy": "TensorFlow's default strategy (one device)",
                  "MirroredStrategy": "MirroredStrategy (the GPUs of one machine)",
                  "MultiWorkerMirroredStrategy": "MultiWorkerMirroredStrategy (several workers)"}

# Settings a local run does not use (audioclf compile/submit/schedule do): folded away, still there.
FOLDED_CONFIG_SECTIONS = ("kubeflow",)


def _flatten(values: dict, prefix: str = "") -> List[Tuple[str, str]]:
    rows = []
    for key, value in values.items():
        if isinstance(value, dict) and value and key not in ("clips", "split_fractions", "node_selector"):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", json.dumps(value)))
    return rows


def config_grid(config: dict) -> Dict[str, Any]:
    """The top-level settings, then one small table per section (laid out in two columns)."""
    blocks = [{"name": name, "table": table(["setting", "value"], _flatten(values)),
               "folded": name in FOLDED_CONFIG_SECTIONS}
              for name, values in config.items() if isinstance(values, dict)]
    return {"top": [(key, json.dumps(value)) for key, value in config.items() if not isinstance(value, dict)],
            "blocks": blocks}


def training_facts(training: Training, trainer_config: dict, best_eval: Optional[float],
                   averaged: bool) -> List[Tuple[str, str]]:
    """(term, sentence) pairs: strategy, batch, clips, early stopping and which weights the model keeps."""
    planned, patience = trainer_config.get("epochs"), trainer_config.get("patience")
    watched = training.early_stopping_metric or "accuracy"   # runs before the setting watched accuracy
    if training.stopped_early:
        stopping = (f"stopped early after {training.epochs_run}" + (f" of {planned}" if planned else "")
                    + " epochs" + (f" (no better eval {watched} for {patience} epochs)" if patience else ""))
    else:
        stopping = f"ran all {training.epochs_run} epochs" + (f" (patience {patience})" if patience else "")
    strategy = STRATEGY_NAMES.get(training.strategy, training.strategy)
    return [
        ("strategy", f"{strategy} with {plural(training.replicas, 'replica')}"),
        ("global batch", f"{training.global_batch} clips "
                         f"({plural(training.steps_per_epoch, 'step')} per epoch)"),
        ("clips", f"{training.train_clips} train, {training.eval_clips} eval"),
        ("early stopping", stopping),
        ("best epoch", f"{training.best_epoch} (by eval {watched}): eval accuracy {pct(best_eval)}; "
                       f"the model keeps its weights")
        if not averaged else
        ("weights kept", f"the moving average of the weights over all {training.epochs_run} epochs: eval accuracy "
                         f"{pct(best_eval)} (best single epoch: {training.best_epoch})")]


def _trained(facts: Facts) -> Optional[Dict[str, Any]]:
    """The training run's facts, curves and epochs; None when no model was trained."""
    training, history = facts.model.training, facts.history
    if not training or not history:
        return None
    best = int(training.best_epoch)
    values = history.get("history", {})

    def at(key: str, epoch: int) -> Optional[float]:
        series = values.get(key) or []
        return series[epoch - 1] if epoch <= len(series) else None

    trainer_config = (facts.config or {}).get("trainer") or (facts.model_settings or {}).get("trainer") or {}
    rows = [(e, num(at("loss", e)), pct(at(ACCURACY_METRIC, e)), num(at("val_loss", e)), pct(at("val_" + ACCURACY_METRIC, e)))
            for e in range(1, len(values.get("loss", [])) + 1)]
    # With a weight average the model is no one epoch: its eval accuracy is the final report's.
    averaged = training.kept_weights == "average"
    best_eval = training.best_eval_accuracy if averaged else at("val_" + ACCURACY_METRIC, best)
    return {"facts": training_facts(training, trainer_config, best_eval, averaged), "averaged": averaged,
            "curves": attempt(facts, "training", "draw the training curves picture", figures.training_curves, values, best),
            "epochs": table(["epoch", "train loss", "train accuracy", "eval loss", "eval accuracy"], rows,
                            numeric=(0, 1, 2, 3, 4), row_class=lambda r: "best" if r[0] == best else None)}


def context(facts: Facts) -> Dict[str, Any]:
    """What training.html.j2 shows. Without config.json (older runs) the trainer settings come from the
    model's own metadata, when there is a model."""
    model_trainer = (facts.model_settings or {}).get("trainer")
    return {"trained": _trained(facts),
            "config": config_grid(facts.config) if facts.config else None,
            "model_config": config_grid({"trainer": model_trainer}) if not facts.config and model_trainer else None}
