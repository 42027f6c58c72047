"""AudioSynthesis: clips of same-gender speakers, each split drawing only on its own speakers.

Usage::

    clips = AudioSynthesis(speaker_index=index.outputs["speaker_index"],
                           synthesis_config=config.section_json("synthesis"),
                           skip_corrupt=False, train_clips=600, eval_clips=100, test_clips=100)
    clips.outputs["clips"]  # audioclf.AudioClips: <split>/clip-NNNNNN.wav + manifest.jsonl

Label: male 0, female 1 (mixed 2 when synthesis.mixed_class is on). Clip counts are separate
parameters so that Kubeflow can set them per run.
"""
from typing import Union

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import component_spec

from components.audio_synthesis import executor
from components.audio_synthesis.executor import (CLIP_COUNT_KEYS, CLIPS_KEY, SKIP_CORRUPT_KEY, SPEAKER_INDEX_KEY,
                                                 SYNTHESIS_CONFIG_KEY)
from components.common.artifacts import AudioClips, SpeakerIndex

IntParam = Union[int, data_types.RuntimeParameter]


class AudioSynthesisSpec(component_spec.ComponentSpec):
    PARAMETERS = {
        SYNTHESIS_CONFIG_KEY: component_spec.ExecutionParameter(type=str),
        SKIP_CORRUPT_KEY: component_spec.ExecutionParameter(type=int),
        **{key: component_spec.ExecutionParameter(type=int) for key in CLIP_COUNT_KEYS.values()},
    }
    INPUTS = {SPEAKER_INDEX_KEY: component_spec.ChannelParameter(type=SpeakerIndex)}
    OUTPUTS = {CLIPS_KEY: component_spec.ChannelParameter(type=AudioClips)}


class AudioSynthesis(base_beam_component.BaseBeamComponent):
    SPEC_CLASS = AudioSynthesisSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, speaker_index: types.BaseChannel, synthesis_config: str, skip_corrupt: bool,
                 train_clips: IntParam, eval_clips: IntParam, test_clips: IntParam):
        super().__init__(spec=AudioSynthesisSpec(
            speaker_index=speaker_index, synthesis_config=synthesis_config, skip_corrupt=int(skip_corrupt),
            train_clips=train_clips, eval_clips=eval_clips, test_clips=test_clips,
            clips=types.Channel(type=AudioClips)))
