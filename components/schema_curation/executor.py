"""SchemaCurator executor: the inferred schema, with the domains the pipeline's config fixes.

SchemaGen infers types, presence and shapes from the train statistics, but not what the config
promises about every clip: its sample rate, its length in samples, the label range and the number of
speakers. Those are pinned here (and the speakers' names freed of the train split's values), so
ExampleValidator reports a clip at another sample rate or length, or an unknown label, as an anomaly
(and the anomaly gate stops the run before training).
"""
import logging
import os
from typing import Any, Dict, List, Optional

from tensorflow_metadata.proto.v0 import schema_pb2
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.common import artifact_output, example_format
from components.audio_synthesis.config import SynthesisConfig, clip_samples, synthesis_classes
from components.common.settings import section_from_json
from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

SCHEMA_KEY = "schema"
CURATED_SCHEMA_KEY = "curated_schema"
SYNTHESIS_CONFIG_KEY = "synthesis_config"
SCHEMA_FILE = "schema.pbtxt"


def _find(schema: schema_pb2.Schema, name: str) -> Optional[schema_pb2.Feature]:
    return next((feature for feature in schema.feature if feature.name == name), None)


def _feature(schema: schema_pb2.Schema, name: str) -> schema_pb2.Feature:
    feature = _find(schema, name)
    if feature is not None:
        return feature
    raise AudioClfError(f"the inferred schema has no feature {name!r}; were these Examples written by AudioExampleGen?")


def _pin(schema: schema_pb2.Schema, name: str, low: int, high: int) -> None:
    feature = _feature(schema, name)
    feature.ClearField("domain")
    feature.int_domain.min, feature.int_domain.max = low, high


def _free_strings(schema: schema_pb2.Schema, name: str) -> None:
    """No string domain for `name`: SchemaGen lists the train split's values when they are few (a small
    run's speakers), and every eval and test value would then be an anomaly."""
    feature = _find(schema, name)
    if feature is None:
        return   # Examples written before the feature existed
    if feature.WhichOneof("domain_info") == "domain":
        kept = [d for d in schema.string_domain if d.name != feature.domain]
        del schema.string_domain[:]
        schema.string_domain.extend(kept)
    feature.ClearField("domain_info")   # a named domain or an inline one alike


def curate(schema: schema_pb2.Schema, synthesis: SynthesisConfig, num_classes: int) -> schema_pb2.Schema:
    curated = schema_pb2.Schema()
    curated.CopyFrom(schema)
    _pin(curated, example_format.SAMPLE_RATE, synthesis.sample_rate, synthesis.sample_rate)
    _pin(curated, example_format.NUM_SAMPLES, clip_samples(synthesis), clip_samples(synthesis))
    _pin(curated, example_format.LABEL, 0, num_classes - 1)
    _pin(curated, example_format.NUM_SPEAKERS, 1, synthesis.speakers_per_clip[1] * (2 if synthesis.mixed_class else 1))
    _free_strings(curated, example_format.SPEAKERS)   # each split has its own speakers, by design
    return curated


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        source = io_utils.get_only_uri_in_dir(artifact_utils.get_single_uri(input_dict[SCHEMA_KEY]))
        output_uri = artifact_utils.get_single_uri(output_dict[CURATED_SCHEMA_KEY])
        synthesis = section_from_json(SynthesisConfig, exec_properties[SYNTHESIS_CONFIG_KEY])
        with artifact_output.cleaned_on_failure(output_uri):
            schema = io_utils.SchemaReader().read(source)
            curated = curate(schema, synthesis, synthesis_classes(synthesis))
            io_utils.write_pbtxt_file(os.path.join(output_uri, SCHEMA_FILE), curated)
        log.info("schema curation: sample_rate = %d, num_samples = %d, label in [0, %d]; written to %s",
                     synthesis.sample_rate, clip_samples(synthesis), synthesis_classes(synthesis) - 1, output_uri)
