"""SpeakerIndexGen: the first step of the pipeline.

Usage::

    index = SpeakerIndexGen(data_root="data/librispeech-mini",
                            corpus_config=config.section_json("corpus"))
    index.outputs["speaker_index"]  # audioclf.SpeakerIndex

The artifact holds `speaker_index.json`: for each speaker kept (with a known gender in its corpus's
metadata and audio on disk; readers for LibriSpeech, VCTK, Kaldi data dirs, Common Voice and CSV
manifests) the gender, files with durations, and the split; the split lists; the files skipped as
corrupt (only with corpus.skip_corrupt); and per corpus what its reader left out and why.
"""
from typing import Union

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import component_spec

from components.common.artifacts import SpeakerIndex
from components.speaker_index import executor
from components.speaker_index.executor import CORPUS_CONFIG_KEY, DATA_ROOT_KEY, SPEAKER_INDEX_KEY


class SpeakerIndexSpec(component_spec.ComponentSpec):
    PARAMETERS = {
        DATA_ROOT_KEY: component_spec.ExecutionParameter(type=str),
        CORPUS_CONFIG_KEY: component_spec.ExecutionParameter(type=str),
    }
    INPUTS = {}
    OUTPUTS = {SPEAKER_INDEX_KEY: component_spec.ChannelParameter(type=SpeakerIndex)}


class SpeakerIndexGen(base_component.BaseComponent):
    SPEC_CLASS = SpeakerIndexSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, data_root: Union[str, data_types.RuntimeParameter], corpus_config: str):
        super().__init__(spec=SpeakerIndexSpec(data_root=data_root, corpus_config=corpus_config,
                                               speaker_index=types.Channel(type=SpeakerIndex)))
