"""AudioExampleGen: clips to the standard `Examples` artifact (sharded gzip TFRecords per split).

Usage::

    examples = AudioExampleGen(clips=clips.outputs["clips"], examples_config=config.section_json("examples"))
    examples.outputs["examples"]  # standard Examples, splits train/eval/test

Features per clip: audio (pcm16 bytes or float list, see components/common/example_format.py),
sample_rate, label, num_samples, mode, num_speakers. The clip id stays in the manifest: an id
is no feature, and SchemaGen would infer the train ids as the only allowed values.
"""
from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.audio_example_gen import executor
from components.audio_example_gen.executor import CLIPS_KEY, EXAMPLES_CONFIG_KEY, EXAMPLES_KEY
from components.common.artifacts import AudioClips


class AudioExampleGenSpec(component_spec.ComponentSpec):
    PARAMETERS = {EXAMPLES_CONFIG_KEY: component_spec.ExecutionParameter(type=str)}
    INPUTS = {CLIPS_KEY: component_spec.ChannelParameter(type=AudioClips)}
    OUTPUTS = {EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples)}


class AudioExampleGen(base_beam_component.BaseBeamComponent):
    SPEC_CLASS = AudioExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, clips: types.BaseChannel, examples_config: str):
        super().__init__(spec=AudioExampleGenSpec(clips=clips, examples_config=examples_config,
                                                  examples=types.Channel(type=standard_artifacts.Examples)))
