"""Helpers for executor tests: artifacts on temp folders, and running an executor with Beam args."""
import json
from pathlib import Path

from tfx.dsl.components.base import base_beam_executor

from components.common.artifacts import INDEX_FILE, AudioClips, SpeakerIndex

IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
TWO_PROCESSES = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def artifact(cls, uri: Path):
    item = cls()
    uri.mkdir(parents=True, exist_ok=True)
    item.uri = str(uri)
    return item


def speaker_index_artifact(index: dict, uri: Path) -> SpeakerIndex:
    item = artifact(SpeakerIndex, uri)
    (uri / INDEX_FILE).write_text(json.dumps(index))
    return item


def run_beam_executor(executor_cls, beam_args, inputs, outputs, exec_properties):
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=list(beam_args), tmp_dir="/tmp",
                                                          unique_id="test")
    executor_cls(context).Do(inputs, outputs, exec_properties)


def synthesize_clips(root: Path, sample_rate: int, clip_seconds: float, counts: dict) -> AudioClips:
    """A real AudioClips artifact under root: a small corpus from the bundled speech, its speaker
    index and clips made by the synthesis executor (counts: {"train": n, "eval": n, "test": n})."""
    from components.audio_synthesis import executor as synthesis_executor  # pylint: disable=import-outside-toplevel
    from components.speaker_index import corpus  # pylint: disable=import-outside-toplevel
    from conftest import build_corpus  # pylint: disable=import-outside-toplevel
    from pipeline.config import CorpusConfig, SynthesisConfig  # pylint: disable=import-outside-toplevel

    index = corpus.build_index(str(build_corpus(root / "corpus")), CorpusConfig())
    clips = artifact(AudioClips, root / "clips")
    config = SynthesisConfig(sample_rate=sample_rate, clip_seconds=clip_seconds)
    run_beam_executor(synthesis_executor.Executor, IN_MEMORY,
                      {"speaker_index": [speaker_index_artifact(index, root / "index")]}, {"clips": [clips]},
                      {"synthesis_config": json.dumps(config.__dict__), "skip_corrupt": 0,
                       **{f"{split}_clips": n for split, n in counts.items()}})
    return clips


def write_examples(root: Path, sample_rate: int, clip_seconds: float, counts: dict, encoding: str = "pcm16"):
    """A real Examples artifact under root: clips from `synthesize_clips` written by the Audio ExampleGen."""
    from tfx.types import standard_artifacts  # pylint: disable=import-outside-toplevel

    from components.audio_example_gen import executor as example_gen_executor  # pylint: disable=import-outside-toplevel

    clips = synthesize_clips(root, sample_rate, clip_seconds, counts)
    output = artifact(standard_artifacts.Examples, root / f"examples-{encoding}")
    run_beam_executor(example_gen_executor.Executor, IN_MEMORY, {"clips": [clips]}, {"examples": [output]},
                      {"examples_config": json.dumps({"audio_encoding": encoding, "num_shards": 2})})
    return output
