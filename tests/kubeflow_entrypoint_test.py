"""A compiled step runs as its container would on Kubeflow: the SpeakerIndexGen executor started with the
command and arguments the compiled spec states, given the ExecutorInput the KFP v2 launcher substitutes
for `{{$}}`, produces its artifact and the executor output file. The KServeDeployer step, started the
same way with the Pusher's artifact as KFP passes it, deploys the pushed model through a local fake of the
Kubernetes API and KServe (tests/fake_k8s.py) found through a kubeconfig."""
import json
import subprocess
import sys
from pathlib import Path

import fake_k8s  # tests/fake_k8s.py (the root conftest puts tests/ on the path)
import pytest
import yaml

from pipeline.kubeflow import compiler
from pipeline.config import load_config

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "data" / "librispeech-mini"
KALDI = REPO / "data" / "speechocean762-adults"
STEP = "SpeakerIndexGen"


def _executor_input(spec, parameter_values, output_root: Path, step=STEP, input_artifacts=None):
    """What the KFP v2 driver hands the container: resolved parameters and input artifacts, output artifact
    URIs, output file."""
    task = spec["root"]["dag"]["tasks"][step]
    values = {}
    for name, source in task["inputs"]["parameters"].items():
        if "componentInputParameter" in source:
            values[name] = parameter_values[source["componentInputParameter"]]
        else:
            values[name] = source["runtimeValue"]["constant"]
    outputs = spec["components"][step]["outputDefinitions"]["artifacts"]
    artifacts = {key: {"artifacts": [{"name": f"{key}-1", "type": out["artifactType"],
                                      "uri": str(output_root / key), "metadata": {}}]}
                 for key, out in outputs.items()}
    inputs = {"parameterValues": values}
    if input_artifacts:
        definitions = spec["components"][step]["inputDefinitions"]["artifacts"]
        inputs["artifacts"] = {key: {"artifacts": [{"name": f"{key}-0", "type": definitions[key]["artifactType"],
                                                    **artifact}]} for key, artifact in input_artifacts.items()}
    return {"inputs": inputs,
            "outputs": {"artifacts": artifacts, "outputFile": str(output_root / "executor_output.json")}}


def _run_container(spec, step, executor_input, cwd: Path, env=None):
    container = spec["deploymentSpec"]["executors"][f"{step}_executor"]["container"]
    argv = [sys.executable if part == "python" else part for part in container["command"]]
    argv += [json.dumps(executor_input) if arg == "{{$}}" else arg for arg in container["args"]]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
                          env={"PATH": "/usr/bin:/bin", "TF_USE_LEGACY_KERAS": "1", **(env or {})})


def test_speaker_index_step_runs_from_its_compiled_container_spec(tmp_path):
    compiled = tmp_path / "pipeline.yaml"
    compiler.compile_pipeline(load_config(str(REPO / "tests" / "tiny.yaml")), str(compiled))
    spec = list(yaml.safe_load_all(compiled.read_text()))[0]  # what the cluster reads: the file
    # Two corpora in one run-time parameter, comma-separated, as `audioclf submit --param data_root=A,B` sends them.
    executor_input = _executor_input(spec, {"data_root": f"{CORPUS},{KALDI}"}, tmp_path / "task")
    done = _run_container(spec, STEP, executor_input, tmp_path)   # the installed package only
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


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "fake", "user": {"token": "test-token"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
    return path


def test_kserve_deployer_step_runs_from_its_compiled_container_spec(tmp_path):
    compiled = tmp_path / "pipeline.yaml"
    config = load_config(str(REPO / "tests" / "tiny.yaml"), ["kubeflow.deploy=kserve", "kubeflow.kserve.poll_seconds=0.1",
                                                             "kubeflow.kserve.canary_traffic_percent=30"])
    compiler.compile_pipeline(config, str(compiled))
    spec = list(yaml.safe_load_all(compiled.read_text()))[0]
    step = "KServeDeployer"
    # The Pusher's output as the KFP launcher passes it on: its custom properties as JSON metadata.
    pushed = {"uri": str(tmp_path / "Pusher" / "pushed_model"),
              "metadata": {"pushed": 1.0, "pushed_destination": "gs://audioclf-pipelines/root/serving/1764600000",
                           "pushed_version": "1764600000"}}
    executor_input = _executor_input(spec, {}, tmp_path / "task", step=step, input_artifacts={"pushed_model": pushed})
    with fake_k8s.FakeKubernetes(tmp_path / "k8s") as server:
        # The step pod finds its cluster in-cluster; here through a kubeconfig (KUBERNETES_SERVICE_HOST is unset).
        # PYTHONPATH: this checkout (a git worktree is not what the editable install points at).
        env = {"KUBECONFIG": str(_kubeconfig(tmp_path / "kubeconfig", server.host)), "PYTHONPATH": str(REPO)}
        done = _run_container(spec, step, executor_input, tmp_path, env)
        assert done.returncode == 0, done.stderr[-4000:]
        service = server.isvc("kubeflow", "audioclf")
    container = service["spec"]["predictor"]["containers"][0]
    assert {"name": "STORAGE_URI", "value": "gs://audioclf-pipelines/root/serving/1764600000"} in container["env"]
    assert container["image"] == config.kubeflow.kserve.image
    assert service["status"]["components"]["predictor"]["latestReadyRevision"] == "audioclf-predictor-00001"
    assert "InferenceService audioclf: Ready=True" in done.stderr
    output = json.loads((tmp_path / "task" / "executor_output.json").read_text())
    (published,) = output["artifacts"]["deployment"]["artifacts"]
    assert published["metadata"]["deployed"] == 1 and published["metadata"]["url"] == "http://audioclf.kubeflow.example.com"
    record = json.loads((tmp_path / "task" / "deployment" / "deployment.json").read_text())
    assert record["model_version"] == "1764600000" and record["revision"] == "audioclf-predictor-00001"
