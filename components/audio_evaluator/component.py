"""AudioEvaluator: TFX's Evaluator on the test clips plus the real-speech gate, one blessing.

Usage::

    evaluator = AudioEvaluator(examples=..., model=trainer.outputs["model"], baseline_model=...,
                               eval_config=tfma_config.eval_config(config.evaluator, num_classes(config)),
                               example_splits=["test"],
                               accuracy_floor=config.evaluator.accuracy_floor,   # or a RuntimeParameter
                               speaker_index=index.outputs["speaker_index"],
                               evaluator_config=config.section_json("evaluator"))

Metrics, slices, the comparison with the baseline and the blessing on the test clips are the standard
Evaluator's (TFMA). Then the model is judged on the real utterances of the test speakers beside the
pitch rule (real_speech.py); a model failing that gate is NOT_BLESSED on the same blessing artifact.
`evaluation/real_speech.json` holds the real-speech figures.
"""
from typing import List, Optional, Union

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from components.audio_evaluator import executor
from components.audio_evaluator.executor import (ACCURACY_FLOOR_KEY, EVALUATOR_CONFIG_KEY, PITCH_WORKERS_KEY,
                                                  SPEAKER_INDEX_KEY)
from components.common.artifacts import SpeakerIndex
from components.common.run_time_parameters import extend_spec

AudioEvaluatorSpec = extend_spec(standard_component_specs.EvaluatorSpec, "AudioEvaluatorSpec",
                                 {ACCURACY_FLOOR_KEY: component_spec.ExecutionParameter(type=float),
                                  EVALUATOR_CONFIG_KEY: component_spec.ExecutionParameter(type=str),
                                  PITCH_WORKERS_KEY: component_spec.ExecutionParameter(type=int)},
                                 {SPEAKER_INDEX_KEY: component_spec.ChannelParameter(type=SpeakerIndex)})


class AudioEvaluator(base_component.BaseComponent):
    SPEC_CLASS = AudioEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
                 baseline_model: Optional[types.BaseChannel], eval_config: tfma.EvalConfig,
                 example_splits: List[str], accuracy_floor: Union[float, data_types.RuntimeParameter],
                 speaker_index: types.BaseChannel, evaluator_config: str, pitch_workers: int = 1):
        spec = AudioEvaluatorSpec(
            examples=examples, model=model, baseline_model=baseline_model, eval_config=eval_config,
            example_splits=json_utils.dumps(example_splits), accuracy_floor=accuracy_floor,
            speaker_index=speaker_index, evaluator_config=evaluator_config, pitch_workers=pitch_workers,
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing))
        super().__init__(spec=spec)
