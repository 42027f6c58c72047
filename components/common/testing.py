"""Helpers for executor tests: artifacts on temp folders, and running an executor with Beam args.
(Artifacts made by running the upstream components are in tests/sample_artifacts.py.)"""
import json
from pathlib import Path

from tfx.dsl.components.base import base_beam_executor

from components.common.artifacts import INDEX_FILE, SpeakerIndex

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
