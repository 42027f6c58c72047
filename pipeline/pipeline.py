"""`create_pipeline`: wires the components from one config, and nothing else.

Runners (pipeline/local_runner.py, and the Kubeflow compile) build the metadata/runner settings and
call this, so a local run and a cluster run are the same pipeline.
"""
from typing import Dict, List, Optional, Union

from tfx import v1 as tfx
from tfx.orchestration import data_types

from components.audio_example_gen.component import AudioExampleGen
from components.audio_synthesis.component import AudioSynthesis
from components.speaker_index.component import SpeakerIndexGen
from pipeline.config import SPLITS, PipelineConfig

# Component ids, as they appear in metadata, summary.json and the pipeline_root folders.
SPEAKER_INDEX = "SpeakerIndexGen"
AUDIO_SYNTHESIS = "AudioSynthesis"
EXAMPLE_GEN = "AudioExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "SchemaGen"
EXAMPLE_VALIDATOR = "ExampleValidator"
COMPONENT_ORDER = [SPEAKER_INDEX, AUDIO_SYNTHESIS, EXAMPLE_GEN, STATISTICS_GEN, SCHEMA_GEN, EXAMPLE_VALIDATOR]

Param = Union[str, int, float, data_types.RuntimeParameter]


def create_components(config: PipelineConfig, data_root: Param,
                      clip_counts: Optional[Dict[str, Param]] = None) -> List:
    """The components in run order. `data_root` and `clip_counts` may be Kubeflow run-time parameters."""
    counts = clip_counts or dict(config.synthesis.clips)
    index = SpeakerIndexGen(data_root=data_root, corpus_config=config.section_json("corpus"))
    clips = AudioSynthesis(speaker_index=index.outputs["speaker_index"],
                           synthesis_config=config.section_json("synthesis"),
                           skip_corrupt=config.corpus.skip_corrupt,
                           **{f"{split}_clips": counts[split] for split in SPLITS})
    example_gen = AudioExampleGen(clips=clips.outputs["clips"], examples_config=config.section_json("examples"))
    statistics = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"], infer_feature_shape=True)
    validator = tfx.components.ExampleValidator(statistics=statistics.outputs["statistics"],
                                                schema=schema.outputs["schema"])
    return [index, clips, example_gen, statistics, schema, validator]


def create_pipeline(config: PipelineConfig, data_root: Param, pipeline_root: str,
                    metadata_connection_config=None, enable_cache: bool = True,
                    clip_counts: Optional[Dict[str, Param]] = None) -> tfx.dsl.Pipeline:
    return tfx.dsl.Pipeline(
        pipeline_name=config.name,
        pipeline_root=pipeline_root,
        components=create_components(config, data_root, clip_counts),
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=config.beam.pipeline_args(),
    )
