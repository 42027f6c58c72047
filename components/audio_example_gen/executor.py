"""Audio ExampleGen executor: clips -> sharded, gzip-compressed TFRecords of tf.train.Example per split.

Writes the standard TFX `Examples` layout (`Split-<name>/data_tfrecord-SSSSS-of-NNNNN.gz`, file format
`tfrecords_gzip`, payload FORMAT_TF_EXAMPLE), so StatisticsGen, SchemaGen, ExampleValidator, Trainer and
Evaluator read it as they read any ExampleGen's output.
"""
import logging
from typing import Any, Dict, List

import apache_beam as beam
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from components.audio_synthesis.executor import read_manifest
from components.common import artifact_output, audio, example_format, fs, progress
from components.audio_example_gen.config import ExamplesConfig
from components.common.settings import section_from_json
from components.common.vocabulary import SPLITS
from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

CLIPS_KEY = "clips"
EXAMPLES_KEY = "examples"
EXAMPLES_CONFIG_KEY = "examples_config"
RECORD_PREFIX = "data_tfrecord"

_COUNTER = beam.metrics.Metrics.counter("audioclf", "examples_written")


class ClipToExample(beam.DoFn):
    """Manifest line -> serialized tf.train.Example, reading the clip's WAV."""

    def __init__(self, clips_uri: str, encoding: str, done: progress.WorkerCount):
        self._clips_uri, self._encoding, self._done = clips_uri, encoding, done

    def process(self, meta: dict):
        pcm, rate = audio.decode_wav_pcm16(fs.read_bytes(fs.join(self._clips_uri, meta["path"])))
        _COUNTER.inc()
        self._done.add()
        yield example_format.make_example(pcm, rate, meta, self._encoding).SerializeToString()

    def finish_bundle(self):
        self._done.flush()


def split_dir(examples_uri: str, split: str) -> str:
    return fs.join(examples_uri, f"Split-{split}")


class Executor(base_beam_executor.BaseBeamExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        clips_uri = artifact_utils.get_single_uri(input_dict[CLIPS_KEY])
        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        config = section_from_json(ExamplesConfig, exec_properties[EXAMPLES_CONFIG_KEY])
        rows = read_manifest(clips_uri)
        by_split = {split: [r for r in rows if r["split"] == split] for split in SPLITS}
        for split, split_rows in by_split.items():
            if not split_rows:
                raise AudioClfError(f"{clips_uri}/manifest.jsonl has no clips for split '{split}'; "
                                    f"request at least one clip per split.")
        with artifact_output.cleaned_on_failure(examples.uri):
            with progress.Progress("audio example gen", len(rows)) as shown, self._make_beam_pipeline() as pipeline:
                for split, split_rows in by_split.items():
                    _ = (pipeline
                         | f"Clips[{split}]" >> beam.Create(split_rows)
                         | f"Distribute[{split}]" >> beam.Reshuffle()
                         | f"ToExample[{split}]" >> beam.ParDo(ClipToExample(clips_uri, config.audio_encoding,
                                                                             shown.worker_count()))
                         | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                             fs.join(split_dir(examples.uri, split), RECORD_PREFIX),
                             file_name_suffix=".gz", num_shards=config.num_shards))
        examples.split_names = artifact_utils.encode_split_names(list(SPLITS))
        examples_utils.set_file_format(examples, "tfrecords_gzip")
        examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        examples.set_string_custom_property("audio_encoding", config.audio_encoding)
        for split, split_rows in by_split.items():
            examples.set_int_custom_property(f"num_examples_{split}", len(split_rows))
        log.info("audio example gen: %s", ", ".join(f"{s} {len(r)}" for s, r in by_split.items()))
