"""The pipeline's wiring: order, the anomaly gate before the Trainer, the blessing thresholds."""
import tensorflow_model_analysis as tfma

from components.audio_evaluator import tfma_config as evaluation
from components.audio_evaluator.config import EvaluatorConfig
from pipeline import pipeline as pipeline_def
from pipeline.config import load_config


def _pipeline(*overrides):
    config = load_config(None, list(overrides))
    return pipeline_def.create_pipeline(config, pipeline_def.default_parameters(config, "/data"),
                                        pipeline_root="/tmp/root", serving_dir="/tmp/serving")


def test_components_in_order_and_the_trainer_waits_for_the_gate():
    pipeline = _pipeline()
    ids = [c.id for c in pipeline.components]  # topologically sorted: the Resolver (no inputs) may come first
    resolver = pipeline_def.BASELINE_RESOLVER
    assert [i for i in ids if i != resolver] == [i for i in pipeline_def.COMPONENT_ORDER if i != resolver]
    assert resolver in ids
    by_id = {c.id: c for c in pipeline.components}
    assert by_id["AnomalyGate"] in by_id["Trainer"].upstream_nodes
    assert by_id["Trainer"].exec_properties["run_fn"] == pipeline_def.RUN_FN
    assert '"base_directory": "/tmp/serving"' in by_id["Pusher"].exec_properties["push_destination"]
    # ExampleValidator and Trainer use the curated schema, not SchemaGen's inferred one.
    assert by_id["ExampleValidator"].inputs["schema"].producer_component_id == "SchemaCurator"


def test_a_local_pipeline_never_deploys():
    """kubeflow.deploy: kserve adds the deploy step to the compiled Kubeflow pipeline only (compiler_test.py)."""
    ids = {c.id for c in _pipeline("kubeflow.deploy=kserve").components}
    assert pipeline_def.KSERVE_DEPLOYER not in ids and pipeline_def.PUSHER in ids


def test_thresholds_come_from_the_config():
    config = evaluation.eval_config(EvaluatorConfig(accuracy_floor=0.97, max_regression=0.02), 2)
    gated = [m for spec in config.metrics_specs for m in spec.metrics if m.per_slice_thresholds or m.HasField("threshold")]
    assert [m.class_name for m in gated] == ["SparseCategoricalAccuracy"]
    assert [list(s.feature_keys) for s in gated[0].per_slice_thresholds[0].slicing_specs] == [[]]  # overall only
    thresholds = [gated[0].per_slice_thresholds[0].threshold]
    assert thresholds[0].value_threshold.lower_bound.value == 0.97
    assert thresholds[0].change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert abs(thresholds[0].change_threshold.absolute.value + 0.02) < 1e-6
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["mode"], ["num_speakers"]]
