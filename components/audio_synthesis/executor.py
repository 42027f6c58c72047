"""Audio synthesis executor: N clips per split in parallel with Beam, WAV files plus manifest.jsonl."""
import json
import logging
from typing import Any, Dict, Iterator, List, Tuple

import apache_beam as beam
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

from components.common import artifact_output, audio, fs, progress
from components.common.artifacts import MANIFEST_FILE
from components.audio_synthesis import synthesis
from components.speaker_index.executor import read_index
from components.audio_synthesis.config import SynthesisConfig
from components.common.settings import section_from_json
from components.common.vocabulary import SPLITS
from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

SPEAKER_INDEX_KEY = "speaker_index"
CLIPS_KEY = "clips"
SYNTHESIS_CONFIG_KEY = "synthesis_config"
SKIP_CORRUPT_KEY = "skip_corrupt"
CLIP_COUNT_KEYS = {split: f"{split}_clips" for split in SPLITS}  # run-time parameters on Kubeflow

_COUNTER = beam.metrics.Metrics.counter("audioclf", "clips_synthesized")


def clip_path(split: str, clip_index: int) -> str:
    return f"{split}/clip-{clip_index:06d}.wav"


class SynthesizeClip(beam.DoFn):
    """(split, clip index) -> manifest line; writes the clip's WAV beside the others."""

    def __init__(self, index_uri: str, config: SynthesisConfig, skip_corrupt: bool, output_uri: str,
                 done: progress.WorkerCount):
        self._index_uri, self._config, self._skip = index_uri, config, skip_corrupt
        self._output_uri, self._done = output_uri, done
        self._pools = self._cache = None

    def setup(self):
        index = read_index(self._index_uri)
        self._pools = {split: synthesis.split_pools(index, split) for split in SPLITS}
        self._cache = synthesis.UtteranceCache(self._config.sample_rate,
                                               self._config.cache_mb << 20, self._skip, self._config)

    def process(self, element: Tuple[str, int]) -> Iterator[str]:
        split, clip_index = element
        samples, meta = synthesis.synthesize_clip(split, clip_index, self._pools[split], self._config, self._cache.get,
                                                  self._cache.reasons)
        meta["path"] = clip_path(split, clip_index)
        fs.write_bytes(fs.join(self._output_uri, meta["path"]), audio.encode_wav(samples, self._config.sample_rate))
        _COUNTER.inc()
        self._done.add()
        yield json.dumps(meta, sort_keys=True)

    def finish_bundle(self):
        self._done.flush()


def write_manifest(lines: List[str], output_uri: str) -> None:
    rows = sorted((json.loads(line) for line in lines), key=lambda r: (SPLITS.index(r["split"]), r["index"]))
    fs.write_text(fs.join(output_uri, MANIFEST_FILE), "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def read_manifest(clips_uri: str) -> List[dict]:
    return [json.loads(line) for line in fs.read_text(fs.join(clips_uri, MANIFEST_FILE)).splitlines() if line]


def skipped_utterances(rows: List[dict]) -> Dict[str, str]:
    """Every file the clips of a manifest skipped -> why (synthesis.SKIP_REASONS), sorted by path. Manifests
    written before `skipped_why` list undecodable files only."""
    why: Dict[str, str] = {}
    for row in rows:
        why.update({path: synthesis.UNDECODABLE for path in row.get("skipped_files", [])} | row.get("skipped_why", {}))
    return dict(sorted(why.items()))


class Executor(base_beam_executor.BaseBeamExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        index_uri = artifact_utils.get_single_uri(input_dict[SPEAKER_INDEX_KEY])
        output = artifact_utils.get_single_instance(output_dict[CLIPS_KEY])
        config = section_from_json(SynthesisConfig, exec_properties[SYNTHESIS_CONFIG_KEY])
        totals = {split: int(exec_properties[key]) for split, key in CLIP_COUNT_KEYS.items()}
        for split, total in totals.items():
            if total <= 0:
                raise AudioClfError(f"{split}: zero clips requested ({CLIP_COUNT_KEYS[split]}={total}); ask for at least one.")
        work = [(split, i) for split in SPLITS for i in range(totals[split])]
        log.info("audio synthesis: %d clips of %.1f s at %d Hz (%s)", len(work), config.clip_seconds,
                     config.sample_rate, ", ".join(f"{s} {n}" for s, n in totals.items()))
        with artifact_output.cleaned_on_failure(output.uri):
            for split in SPLITS:
                fs.makedirs(fs.join(output.uri, split))
            with progress.Progress("audio synthesis", len(work)) as shown, self._make_beam_pipeline() as pipeline:
                _ = (pipeline
                     | "ClipIds" >> beam.Create(work)
                     | "Distribute" >> beam.Reshuffle()
                     | "Synthesize" >> beam.ParDo(SynthesizeClip(index_uri, config, bool(exec_properties[SKIP_CORRUPT_KEY]),
                                                                 output.uri, shown.worker_count()))
                     | "Collect" >> beam.combiners.ToList()
                     | "WriteManifest" >> beam.Map(write_manifest, output.uri))
        output.set_string_custom_property("split_names", artifact_utils.encode_split_names(list(SPLITS)))
        output.set_int_custom_property("sample_rate", config.sample_rate)
        output.set_float_custom_property("clip_seconds", config.clip_seconds)
