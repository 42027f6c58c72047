"""The model part of summary.json: training, test-split metrics (TFMA), blessing and the push.

Read from the artifacts the Trainer, Evaluator and Pusher published in the latest run; each part is
None when its component did not run (e.g. the anomaly gate stopped the run).
"""
import os
from typing import Dict, List, Optional

import tensorflow as tf

from components.audio_evaluator import real_speech
from components.audio_evaluator.real_speech_result import RealSpeechResult
from pipeline import pipeline as pipeline_def
from pipeline.config import LABEL_NAMES
from pipeline.summary_schema import ComponentRun, ModelPart, TestClips, Training, Validation, output_uri
from components.audio_evaluator.tfma_config import EVAL_SPLIT
from trainer import task

def _metric_name(key) -> str:
    if key.HasField("sub_key") and key.sub_key.HasField("class_id"):
        class_id = key.sub_key.class_id.value
        return f"{key.name}/{LABEL_NAMES[class_id] if class_id < len(LABEL_NAMES) else class_id}"
    return key.name


def _slice_name(slice_key) -> str:
    parts = []
    for single in slice_key.single_slice_keys:
        value = getattr(single, single.WhichOneof("kind"))
        parts.append(f"{single.column}={value.decode() if isinstance(value, bytes) else value}")
    return ",".join(parts) or "overall"


def _is_baseline(key) -> bool:
    return key.model_name == "baseline" or getattr(key, "is_diff", False)


def load_metrics(evaluation_uri: str) -> list:
    """TFMA's MetricsForSlice records of an evaluation, read once."""
    import tensorflow_model_analysis as tfma  # pylint: disable=import-outside-toplevel

    return list(tfma.load_metrics(evaluation_uri))


def evaluation_metrics(records: list) -> Dict[str, dict]:
    """Slice ("overall", "mode=sequential", ...) -> metric name -> value, for the candidate model."""
    slices: Dict[str, dict] = {}
    for metrics in records:
        values = {}
        for entry in metrics.metric_keys_and_values:
            if _is_baseline(entry.key) or not entry.value.HasField("double_value"):
                continue
            value = entry.value.double_value.value
            values[_metric_name(entry.key)] = None if value != value else round(value, 6)  # NaN -> None
        slices[_slice_name(metrics.slice_key)] = dict(sorted(values.items()))
    return dict(sorted(slices.items(), key=lambda item: (item[0] != "overall", item[0])))


def confusion_matrix(evaluation_uri: str) -> Optional[List[List[int]]]:
    """The overall test-split confusion matrix (rows: true class, columns: predicted)."""
    import tensorflow_model_analysis as tfma  # pylint: disable=import-outside-toplevel

    for plots in tfma.load_plots(evaluation_uri):
        if plots.slice_key.single_slice_keys:
            continue
        for entry in plots.plot_keys_and_values:
            if _is_baseline(entry.key) or not entry.value.HasField("multi_class_confusion_matrix_at_thresholds"):
                continue
            matrices = entry.value.multi_class_confusion_matrix_at_thresholds.matrices
            if not matrices:
                continue
            cells = matrices[0].entries
            size = 1 + max([max(c.actual_class_id, c.predicted_class_id) for c in cells] + [0])
            matrix = [[0] * size for _ in range(size)]
            for cell in cells:
                if cell.predicted_class_id >= 0:
                    matrix[cell.actual_class_id][cell.predicted_class_id] = int(cell.num_weighted_examples)
            return matrix
    return None


def _failure(slice_key, failure) -> str:
    value = failure.metric_value.double_value.value
    threshold = failure.metric_threshold
    if failure.metric_key.is_diff:
        what = (f"{failure.metric_key.name} changed by {value:+.4f} against the latest blessed model, "
                f"allowed {threshold.change_threshold.absolute.value:+.4f}")
    else:
        what = f"{failure.metric_key.name} = {value:.4f}, floor {threshold.value_threshold.lower_bound.value:g}"
    return f"{what} ({_slice_name(slice_key)}, {EVAL_SPLIT} split)"


def compared_with_baseline(records: list) -> bool:
    """Whether TFMA computed metrics of a baseline model (diff metrics) in this evaluation."""
    return any(_is_baseline(entry.key) for metrics in records for entry in metrics.metric_keys_and_values)


def validation(evaluation_uri: str) -> dict:
    import tensorflow_model_analysis as tfma  # pylint: disable=import-outside-toplevel

    result = tfma.load_validation_result(evaluation_uri)
    failures = [_failure(per_slice.slice_key, failure)
                for per_slice in result.metric_validations_per_slice for failure in per_slice.failures]
    return {"ok": bool(result.validation_ok), "failures": failures}


def model_summary(components: Dict[str, ComponentRun], properties: Dict[str, Dict[str, dict]]) -> ModelPart:
    """`properties`: component -> output key -> the artifact's custom properties (blessing, push)."""
    model_run = output_uri(components, pipeline_def.TRAINER, "model_run")
    history = task.read_history(model_run) if model_run else None
    evaluation_uri = output_uri(components, pipeline_def.EVALUATOR, "evaluation")
    blessing = properties.get(pipeline_def.EVALUATOR, {}).get("blessing", {})
    pushed = properties.get(pipeline_def.PUSHER, {}).get("pushed_model", {})
    # The Resolver's pick, as the Evaluator received it (None on a first run: no blessed model yet).
    # When the Trainer was cached, the latest blessed model is the candidate itself and MLMD records
    # one input event for it.
    evaluator = components.get(pipeline_def.EVALUATOR)
    baseline = ((evaluator.inputs.get("baseline_model") if evaluator else None) or [None])[0]
    summary = ModelPart(
        model=output_uri(components, pipeline_def.TRAINER, "model"),
        training=Training(**{k: history.get(k) for k in Training.model_fields if k != "eval_report"},
                          eval_report=(history.get("reports") or {}).get("eval")) if history else None,
        baseline_model=baseline,
        blessed=bool(blessing["blessed"]) if "blessed" in blessing else None,
        pushed=bool(pushed.get("pushed")) if pushed else None,
        pushed_model=pushed.get("pushed_destination") if pushed.get("pushed") else None,
    )
    if evaluation_uri and tf.io.gfile.isdir(evaluation_uri):
        records = load_metrics(evaluation_uri)
        compared = compared_with_baseline(records)
        if baseline is None and compared:
            summary.baseline_model = summary.model
        summary.test = TestClips(metrics=evaluation_metrics(records), confusion_matrix=confusion_matrix(evaluation_uri),
                                 validation=Validation(**validation(evaluation_uri), compared_with_baseline=compared),
                                 evaluation=evaluation_uri)
        summary.real_speech = real_speech_result(evaluation_uri)
    return summary


def real_speech_result(evaluation_uri: str) -> Optional[RealSpeechResult]:
    """The Evaluator's real-utterance figures and gate (components/audio_evaluator/real_speech.py)."""
    path = os.path.join(evaluation_uri, real_speech.RESULT_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return RealSpeechResult.model_validate_json(f.read())
