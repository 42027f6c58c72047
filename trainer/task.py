"""Training: TFX's Trainer calls `run_fn`; a TF_CONFIG worker (multi-worker training) calls `train`.

Everything the run needs comes from the Trainer's `custom_config` (built by pipeline/pipeline.py from
the one PipelineConfig): the trainer section, the clip sample rate and length, the class names and the
Examples' audio encoding. The strategy is chosen at run time (trainer/strategy.py). Only the chief
writes the model, TensorBoard logs and reports; other workers write to a scratch folder that is
removed afterwards.
"""
import dataclasses
import json
import logging
import math
import os
import shutil
import sys
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from components.common.settings import section_from_json
from trainer.config import ACCURACY_METRIC, TrainerConfig
from trainer import adversary as adversary_lib
from trainer import callbacks as callbacks_lib
from trainer import export
from trainer import input as input_lib
from trainer import model as model_lib
from trainer import speaker_head
from trainer import strategy as strategy_lib

log = logging.getLogger(__name__)

HISTORY_FILE = "training.json"   # in the model run folder: per-epoch metrics, best epoch, reports
EVAL_ACCURACY = "val_" + ACCURACY_METRIC
EVAL_LOSS = "val_loss"
KEPT_AVERAGE = "average"          # HISTORY_FILE's kept_weights when trainer.weight_ema made the model


@dataclasses.dataclass
class TrainingSettings:
    trainer: TrainerConfig
    sample_rate: int
    clip_samples: int
    label_names: List[str]
    audio_encoding: str

    def to_custom_config(self) -> Dict[str, Any]:
        return {"trainer": json.dumps(dataclasses.asdict(self.trainer), sort_keys=True),
                "sample_rate": self.sample_rate, "clip_samples": self.clip_samples,
                "label_names": list(self.label_names), "audio_encoding": self.audio_encoding}

    @classmethod
    def from_custom_config(cls, custom: Dict[str, Any]) -> "TrainingSettings":
        return cls(trainer=section_from_json(TrainerConfig, custom["trainer"]), sample_rate=int(custom["sample_rate"]),
                   clip_samples=int(custom["clip_samples"]), label_names=list(custom["label_names"]),
                   audio_encoding=custom["audio_encoding"])


def run_fn(fn_args) -> None:
    """The TFX Trainer entry point (GenericExecutor)."""
    train(TrainingSettings.from_custom_config(fn_args.custom_config), fn_args.train_files, fn_args.eval_files,
          fn_args.serving_model_dir, fn_args.model_run_dir)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    cluster = resolver.cluster_spec().as_dict()
    if "chief" in cluster:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


def train(settings: TrainingSettings, train_files: Sequence[str], eval_files: Sequence[str],
          serving_model_dir: str, model_run_dir: str) -> Tuple[tf.keras.Model, Dict[str, Any]]:
    """Trains, restores the best epoch's weights and exports; returns the classifier (without the speaker
    adversary's head, if one was trained; with the fitted speaker head, if one is set) and what was written to
    HISTORY_FILE."""
    config = settings.trainer
    config.check_sample_rate(settings.sample_rate)   # also checked when the pipeline config loads
    strategy = strategy_lib.make_strategy()
    chief = is_chief(strategy)
    scratch = None if chief else tempfile.mkdtemp(prefix="audioclf-worker-")
    run_dir = model_run_dir if chief else os.path.join(scratch, "logs")
    export_dir = serving_model_dir if chief else os.path.join(scratch, "model")
    tf.keras.utils.set_random_seed(config.seed)

    batch = strategy_lib.global_batch_size(strategy, config.batch_size_per_replica)
    train_examples = input_lib.count_records(train_files)
    steps = config.steps_per_epoch or max(1, math.ceil(train_examples / batch))
    log.info("training on %d clips with %s (%d replicas): global batch %d, %d steps per epoch, up to %d epochs",
             train_examples, type(strategy).__name__, strategy.num_replicas_in_sync, batch, steps, config.epochs)

    def dataset(files, training, cache_name, speaker_buckets=0):
        cache = config.cache if config.cache in ("", "memory") else f"{config.cache}-{cache_name}"
        return input_lib.make_dataset(files, settings.audio_encoding, settings.clip_samples, batch, training=training,
                                      cache=cache or None, shuffle_buffer=config.shuffle_buffer, seed=config.seed,
                                      speaker_buckets=speaker_buckets)

    adversary = config.speaker_adversary > 0
    total_steps = steps * config.epochs   # what the cosine schedule and the adversary's ramp run over
    train_data = dataset(train_files, True, "train", config.speaker_buckets if adversary else 0)
    eval_data = dataset(eval_files, False, "eval")
    with strategy.scope():
        classifier = model_lib.build_model(config, settings.sample_rate, settings.clip_samples, len(settings.label_names))
        model = (adversary_lib.SpeakerAdversarialModel(classifier, config.speaker_adversary, config.speaker_buckets,
                                                       config.speaker_head_units, total_steps=total_steps)
                 if adversary else classifier)
        model = model_lib.compile_model(model, config, total_steps=total_steps, num_classes=len(settings.label_names))
    if adversary:
        log.info("speaker adversary: gradient reversal up to %g, %d speaker buckets (training only; not exported)",
                 config.speaker_adversary, config.speaker_buckets)

    eval_examples = input_lib.count_records(eval_files)
    reports = callbacks_lib.ClassificationReports(
        log_dir=os.path.join(run_dir, "reports") if chief else None,
        datasets={"eval": eval_data,
                  "train": dataset(train_files, False, "train-sample").take(max(1, math.ceil(eval_examples / batch)))},
        label_names=settings.label_names, every=config.report_every_epochs, total_epochs=config.epochs)
    monitor, mode = (EVAL_LOSS, "min") if config.early_stopping_metric == "loss" else (EVAL_ACCURACY, "max")
    callbacks = [
        tf.keras.callbacks.TensorBoard(log_dir=run_dir, update_freq="epoch"),
        reports,
        # With a weight average the averaged weights are the model (model.fit swaps them in at the end).
        tf.keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=config.patience,
                                         restore_best_weights=not config.weight_ema, verbose=1),
    ]
    # A progress bar per step on a terminal; one line per epoch in logs (a pod, CI, a file).
    history = model.fit(train_data, epochs=config.epochs, steps_per_epoch=steps, validation_data=eval_data,
                        callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 2)

    epochs_run = len(history.history[EVAL_ACCURACY])
    # The epoch early stopping restores: the first best value of the watched metric (Keras keeps the first).
    sign = -1.0 if mode == "min" else 1.0
    best = max(range(epochs_run), key=lambda i: (sign * history.history[monitor][i], -i))
    result = {"strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync, "global_batch": batch,
              "train_clips": train_examples, "eval_clips": eval_examples, "steps_per_epoch": steps,
              "epochs_run": epochs_run, "best_epoch": best + 1, "stopped_early": epochs_run < config.epochs,
              "early_stopping_metric": config.early_stopping_metric,
              "history": {k: [float(v) for v in vs] for k, vs in history.history.items()}}
    # The final report (written at step epochs_run + 1) is on the weights kept: the best epoch's, which early
    # stopping restored, or the weight average over all steps run.
    kept = epochs_run if config.weight_ema else best + 1
    if config.fitted_speaker_head:
        classifier, result["speaker_head"] = speaker_head.with_fitted_head(
            classifier, config, settings.clip_samples, train_files, settings.audio_encoding, settings.label_names)
        reports.use_model(classifier)
    title = f"averaged weights (epochs 1-{epochs_run})" if config.weight_ema else f"best weights (epoch {best + 1})"
    final = reports.report(epochs_run, title=title + (" + fitted speaker head" if config.fitted_speaker_head else ""))
    result["kept_weights"] = KEPT_AVERAGE if config.weight_ema else "best epoch"
    result["reports"] = {name: dict(report, epoch=kept) for name, report in final.items()}
    result["best_eval_accuracy"] = result["reports"]["eval"]["accuracy"]
    export.save(classifier, export_dir, settings.audio_encoding, settings.sample_rate, settings.clip_samples,
                settings.label_names, dataclasses.asdict(config))
    if chief:
        with tf.io.gfile.GFile(os.path.join(model_run_dir, HISTORY_FILE), "w") as f:
            json.dump(result, f, indent=1)
        log.info("best epoch %d of %d: eval accuracy %.4f; model exported to %s", best + 1, epochs_run,
                 result["best_eval_accuracy"], export_dir)
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return classifier, result


def read_history(model_run_dir: str) -> Optional[Dict[str, Any]]:
    path = os.path.join(model_run_dir, HISTORY_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)
