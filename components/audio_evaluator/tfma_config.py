"""The Evaluator's TFMA config: metrics, slices and the thresholds that decide the blessing.

Accuracy on the test split must reach `evaluator.accuracy_floor` and must not fall more than
`evaluator.max_regression` below the latest blessed model's (the baseline found by the Resolver;
on the first run there is none and only the floor applies).
"""
import tensorflow_model_analysis as tfma

from components.common import example_format
from components.audio_evaluator.config import EvaluatorConfig
from trainer import export

EVAL_SPLIT = "test"
SLICE_FEATURES = (example_format.MODE, example_format.NUM_SPEAKERS)


def set_accuracy_floor(config: tfma.EvalConfig, floor: float) -> None:
    """Sets the lower bound of the (one) gated accuracy threshold; the Evaluator step calls this with the
    run's `accuracy_floor` parameter."""
    gated = [t.threshold for spec in config.metrics_specs for m in spec.metrics if m.class_name == "SparseCategoricalAccuracy"
             for t in m.per_slice_thresholds]
    if len(gated) != 1:
        raise ValueError(f"expected one SparseCategoricalAccuracy threshold in the eval config, found {len(gated)}")
    gated[0].value_threshold.lower_bound.value = floor


def eval_config(evaluator: EvaluatorConfig, num_classes: int) -> tfma.EvalConfig:
    threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": evaluator.accuracy_floor}),
        change_threshold=tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                                                     absolute={"value": -evaluator.max_regression - 1e-10}))
    classes = list(range(num_classes))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name=export.SERVE_EXAMPLES, label_key=example_format.LABEL,
                                    prediction_key=export.OUTPUT_KEY, model_type=tfma.TF_GENERIC)],
        metrics_specs=[
            tfma.MetricsSpec(metrics=[
                tfma.MetricConfig(class_name="ExampleCount"),
                # The gate is on the whole test split; the slices are reported, not gated (a slice of a
                # handful of clips would make the blessing a coin toss).
                tfma.MetricConfig(class_name="SparseCategoricalAccuracy", per_slice_thresholds=[
                    tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)]),
                tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
            ]),
            # One-vs-rest per class: AUC, precision and recall of "male", "female" (and "mixed").
            tfma.MetricsSpec(binarize=tfma.BinarizationOptions(class_ids={"values": classes}), metrics=[
                tfma.MetricConfig(class_name="AUC"),
                tfma.MetricConfig(class_name="Precision"),
                tfma.MetricConfig(class_name="Recall"),
            ]),
        ],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[f]) for f in SLICE_FEATURES],
    )
