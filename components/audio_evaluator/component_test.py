"""AudioEvaluator: the standard Evaluator's spec plus the accuracy floor (which may be a run-time
parameter, and which the executor writes into the gated threshold), the speaker index and the
real-speech settings."""
import dataclasses
import json

import pytest
import tensorflow_model_analysis as tfma
from tfx import types
from tfx.orchestration import data_types
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components.audio_evaluator import executor
from components.audio_evaluator import tfma_config as evaluation
from components.audio_evaluator.config import EvaluatorConfig
from components.audio_evaluator.component import AudioEvaluator
from components.common.artifacts import SpeakerIndex
from components.common.errors import AudioClfError


def _evaluator(floor):
    return AudioEvaluator(examples=types.Channel(type=standard_artifacts.Examples),
                          model=types.Channel(type=standard_artifacts.Model), baseline_model=None,
                          eval_config=evaluation.eval_config(EvaluatorConfig(), 2), example_splits=["test"],
                          accuracy_floor=floor, speaker_index=types.Channel(type=SpeakerIndex),
                          evaluator_config=json.dumps(dataclasses.asdict(EvaluatorConfig()), sort_keys=True))


def test_spec_is_the_evaluators_plus_the_floor():
    evaluator = _evaluator(data_types.RuntimeParameter(name="accuracy_floor", ptype=float, default=0.7))
    assert set(standard_component_specs.EvaluatorSpec.PARAMETERS) < set(AudioEvaluator.SPEC_CLASS.PARAMETERS)
    assert isinstance(evaluator.exec_properties["accuracy_floor"], data_types.RuntimeParameter)
    assert evaluator.outputs["blessing"].type is standard_artifacts.ModelBlessing
    assert json.loads(evaluator.exec_properties["example_splits"]) == ["test"]
    assert evaluator.inputs["speaker_index"].type is SpeakerIndex
    assert json.loads(evaluator.exec_properties["evaluator_config"])["max_deficit_vs_pitch_rule"] == 0.0
    with pytest.raises(TypeError):
        _evaluator(data_types.RuntimeParameter(name="accuracy_floor", ptype=str, default="high"))


def test_executor_writes_the_run_time_floor_into_the_threshold(monkeypatch):
    seen = {}
    class Stop(Exception):
        pass

    def tfx_do(self, inputs, outputs, props):
        seen.update(props=props, inputs=inputs)
        raise Stop  # what follows (the real-speech gate) is tested in executor_test.py

    monkeypatch.setattr(executor.evaluator_executor.Executor, "Do", tfx_do)
    props = dict(_evaluator(0.7).exec_properties, accuracy_floor=0.93)  # eval_config: JSON, as executors get it
    with pytest.raises(Stop):
        executor.Executor().Do({"speaker_index": []}, {}, props)
    assert "speaker_index" not in seen["inputs"]   # TFX's executor gets only its own inputs
    config = proto_utils.json_to_proto(seen["props"]["eval_config"], tfma.EvalConfig())
    (gated,) = [t.threshold for s in config.metrics_specs for m in s.metrics for t in m.per_slice_thresholds]
    assert gated.value_threshold.lower_bound.value == pytest.approx(0.93)
    assert not {"accuracy_floor", "evaluator_config", "pitch_workers"} & set(seen["props"])  # only TFX's own
    with pytest.raises(AudioClfError, match="accuracy_floor=-0.1"):
        executor.Executor().Do({}, {}, dict(props, accuracy_floor=-0.1))
