"""A compiled step runs as its container would on Kubeflow: the SpeakerIndexGen executor started with the
command and arguments the compiled spec states, given the ExecutorInput the KFP v2 launcher substitutes
for `{{$}}`, produces its artifact and the executor output file."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.kubeflow import compiler
from pipeline.config import load_config

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "data" / "librispeech-mini"
KALDI = REPO / "data" / "speechocean762-adults"
STEP = "SpeakerIndexGen"


def _executor_input(spec, parameter_values, output_root: Path):
    """What the KFP v2 driver hands the container: resolved parameters, output artifact URIs, output file."""
    task = spec["root"]["dag"]["tasks"][STEP]
    values = {}
    for name, source in task["inputs"]["parameters"].items():
        if "componentInputParameter" in source:
            values[name] = parameter_values[source["componentInputParameter"]]
        else:
            values[name] = source["runtimeValue"]["constant"]
    outputs = spec["components"][STEP]["outputDefinitions"]["artifacts"]
    artifacts = {key: {"artifacts": [{"name": f"{key}-1", "type": out["artifactType"],
                                      "uri": str(output_root / key), "metadata": {}}]}
                 for key, out in outputs.items()}
    return {"inputs": {"parameterValues": values},
            "outputs": {"artifacts": artifacts, "outputFile": str(output_root / "executor_output.json")}}


def test_speaker_index_step_runs_from_its_compiled_container_spec(tmp_path):
    compiled = tmp_path / "pipeline.yaml"
    compiler.compile_pipeline(load_config(str(REPO / "tests" / "tiny.yaml")), str(compiled))
    spec = list(yaml.safe_load_all(compiled.read_text()))[0]  # what the cluster reads: the file
    container = spec["deploymentSpec"]["executors"][f"{STEP}_executor"]["container"]
    # Two corpora in one run-time parameter, comma-separated, as `audioclf submit --param data_root=A,B` sends them.
    executor_input = _executor_input(spec, {"data_root": f"{CORPUS},{KALDI}"}, tmp_path / "task")
    argv = [sys.executable if part == "python" else part for part in container["command"]]
    argv += [json.dumps(executor_input) if arg == "{{$}}" else arg for arg in container["args"]]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
                          env={"PATH": "/usr/bin:/bin", "TF_USE_LEGACY_KERAS": "1"})  # the installed package only
    assert done.returncode == 0, done.stderr[-4000:]

    index = json.loads((tmp_path / "task" / "speaker_index" / "speaker_index.json").read_text())
    speakers = index["speakers"]
    # the run-time parameter reached the executor
    assert {n: (c["root"], c["format"]) for n, c in index["corpora"].items()} == {
        CORPUS.name: (str(CORPUS), "librispeech"), KALDI.name: (str(KALDI), "kaldi")}
    assert len(speakers) == 158 + 128 and {s["split"] for s in speakers.values()} == {"train", "eval", "test"}
    output = json.loads((tmp_path / "task" / "executor_output.json").read_text())
    (published,) = output["artifacts"]["speaker_index"]["artifacts"]
    assert published["uri"] == str(tmp_path / "task" / "speaker_index")
    assert published["metadata"]["num_speakers"] == len(speakers)
