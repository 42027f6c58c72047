"""AudioEvaluator: TFX's Evaluator whose accuracy floor is a run-time parameter.

Usage::

    evaluator = AudioEvaluator(examples=..., model=trainer.outputs["model"], baseline_model=...,
                               eval_config=evaluation.eval_config(config), example_splits=["test"],
                               accuracy_floor=config.evaluator.accuracy_floor)  # or a RuntimeParameter

Everything else (metrics, slices, the comparison with the baseline, the blessing) is the standard
Evaluator's.
"""
from typing import List, Optional, Union

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from components.audio_evaluator import executor
from components.audio_evaluator.executor import ACCURACY_FLOOR_KEY
from components.common.run_time_parameters import extend_spec

AudioEvaluatorSpec = extend_spec(standard_component_specs.EvaluatorSpec, "AudioEvaluatorSpec",
                                 {ACCURACY_FLOOR_KEY: component_spec.ExecutionParameter(type=float)})


class AudioEvaluator(base_component.BaseComponent):
    SPEC_CLASS = AudioEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
                 baseline_model: Optional[types.BaseChannel], eval_config: tfma.EvalConfig,
                 example_splits: List[str], accuracy_floor: Union[float, data_types.RuntimeParameter]):
        spec = AudioEvaluatorSpec(
            examples=examples, model=model, baseline_model=baseline_model, eval_config=eval_config,
            example_splits=json_utils.dumps(example_splits), accuracy_floor=accuracy_floor,
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing))
        super().__init__(spec=spec)
