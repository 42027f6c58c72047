"""`audioclf compile`: the KFP v2 spec parses strictly, names the configured image and command, carries
the run-time parameters and resources, compiles offline for a gs:// root, and is stable."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipeline.kubeflow import compiler
from pipeline import pipeline as pipeline_def
from pipeline.config import load_config
from components.common.errors import AudioClfError

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "tests" / "tiny.yaml")
IMAGE = "registry.example.com/team/audioclf:1.2.3"
ENTRYPOINT = ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]


def _compile(tmp_path, name="p.yaml", overrides=(), **kwargs):
    config = load_config(TINY, list(overrides))
    path = tmp_path / name
    compiler.compile_pipeline(config, str(path), **kwargs)
    return path, list(yaml.safe_load_all(path.read_text()))


def _executor(spec, component_id):
    return spec["deploymentSpec"]["executors"][f"{component_id}_executor"]


def test_spec_parses_strictly_with_image_command_and_every_step(tmp_path):
    _, documents = _compile(tmp_path, image=IMAGE, pipeline_root="gs://bucket/root")
    assert len(documents) == 1  # no node selectors in the tiny config: no platform spec
    spec = documents[0]
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())  # raises on any unknown field
    assert spec["schemaVersion"] == "2.1.0" and spec["defaultPipelineRoot"] == "gs://bucket/root"
    tasks = spec["root"]["dag"]["tasks"]
    steps = [c for c in pipeline_def.COMPONENT_ORDER if c != pipeline_def.BASELINE_RESOLVER]
    assert set(steps) < set(tasks)
    for component_id in steps:
        container = _executor(spec, component_id)["container"]
        assert container["image"] == IMAGE and container["command"] == ENTRYPOINT, component_id
        assert container["args"][container["args"].index("--json_serialized_invocation_args") + 1] == "{{$}}"
    assert _executor(spec, "Trainer")["container"]["args"][1] == "components.audio_trainer.executor.Executor"
    assert _executor(spec, "Evaluator")["container"]["args"][1] == "components.audio_evaluator.executor.Executor"
    assert _executor(spec, "SpeakerIndexGen")["container"]["args"][1] == "components.speaker_index.executor.Executor"
    # The Trainer still waits for the anomaly gate on the cluster.
    assert "AnomalyGate" in tasks["Trainer"]["dependentTasks"]
    # The blessed models go under the pipeline root.
    push = json.loads(tasks["Pusher"]["inputs"]["parameters"]["push_destination"]["runtimeValue"]["constant"])
    assert push["filesystem"]["base_directory"] == "gs://bucket/root/serving"


def test_run_time_parameters_with_config_defaults_reach_their_steps(tmp_path):
    _, (spec,) = _compile(tmp_path, overrides=["kubeflow.data_root=gs://bucket/LibriSpeech"])
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert {k: (v["parameterType"], v["defaultValue"]) for k, v in params.items()} == {
        "data_root": ("STRING", "gs://bucket/LibriSpeech"), "train_clips": ("NUMBER_INTEGER", 24),
        "eval_clips": ("NUMBER_INTEGER", 8), "test_clips": ("NUMBER_INTEGER", 8), "epochs": ("NUMBER_INTEGER", 2),
        "accuracy_floor": ("NUMBER_DOUBLE", 0.0)}
    tasks = spec["root"]["dag"]["tasks"]

    def bound(task, name):
        return tasks[task]["inputs"]["parameters"][name].get("componentInputParameter")

    assert bound("SpeakerIndexGen", "data_root") == "data_root"
    assert [bound("AudioSynthesis", f"{s}_clips") for s in ("train", "eval", "test")] == [
        "train_clips", "eval_clips", "test_clips"]
    assert bound("Trainer", "epochs") == "epochs" and bound("Evaluator", "accuracy_floor") == "accuracy_floor"


def test_resources_and_node_selector_come_from_the_config(tmp_path):
    overrides = ["kubeflow.components.cpu=1", "kubeflow.components.memory=3Gi", "kubeflow.trainer.cpu=8",
                 "kubeflow.trainer.memory=30Gi", "kubeflow.trainer.gpus=2", "kubeflow.trainer.accelerator_type=nvidia-l4",
                 "kubeflow.trainer.node_selector={pool: train}"]
    _, documents = _compile(tmp_path, overrides=overrides)
    spec, platform = documents
    json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
    trainer = _executor(spec, "Trainer")["container"]["resources"]
    assert trainer == {"resourceCpuRequest": "8", "resourceCpuLimit": "8", "resourceMemoryRequest": "30Gi",
                       "resourceMemoryLimit": "30Gi",
                       "accelerator": {"resourceType": "nvidia.com/gpu", "resourceCount": "2"}}
    assert _executor(spec, "AudioSynthesis")["container"]["resources"]["resourceMemoryLimit"] == "3Gi"
    selectors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert selectors == {"Trainer_executor": {"nodeSelector": {"labels": {
        "cloud.google.com/gke-accelerator": "nvidia-l4", "pool": "train"}}}}
    # The GPU pod runs the GPU variant of the image (CUDA libraries); every other step the CPU image.
    config = load_config(TINY, overrides)
    assert _executor(spec, "Trainer")["container"]["image"] == config.kubeflow.gpu_image
    assert {_executor(spec, c)["container"]["image"] for c in ("SpeakerIndexGen", "Evaluator", "Pusher")} == {
        config.kubeflow.image}


def test_tfjob_launcher_is_chosen_by_the_config(tmp_path):
    overrides = ["kubeflow.trainer_launcher=tfjob", "kubeflow.tfjob.workers=4", "kubeflow.trainer.gpus=1"]
    _, documents = _compile(tmp_path, overrides=overrides, image=IMAGE)
    spec = documents[0]
    constant = spec["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]["launcher"]["runtimeValue"]["constant"]
    launcher = json.loads(constant)
    gpu_image = load_config(TINY).kubeflow.gpu_image
    assert launcher["kind"] == "tfjob" and launcher["image"] == gpu_image and launcher["tfjob"]["workers"] == 4
    assert _executor(spec, "Trainer")["container"]["image"] == IMAGE   # the waiting step needs no CUDA
    assert launcher["resources"]["gpus"] == 1
    # The Trainer step itself only waits for the job: no GPU for its pod.
    assert "accelerator" not in _executor(spec, "Trainer")["container"]["resources"]
    _, (local_spec,) = _compile(tmp_path, name="pod.yaml")
    assert "launcher" not in local_spec["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]


def test_kserve_deploy_step_follows_the_pusher_only_when_configured(tmp_path):
    overrides = ["kubeflow.deploy=kserve", "kubeflow.kserve.canary_traffic_percent=10", "kubeflow.kserve.name=gender",
                 "kubeflow.kserve.image=registry.example.com/team/audioclf-serving:1.2.3", "serving.model_name=voices"]
    _, (spec,) = _compile(tmp_path, overrides=overrides, image=IMAGE, pipeline_root="gs://bucket/root")
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    task = spec["root"]["dag"]["tasks"][pipeline_def.KSERVE_DEPLOYER]
    assert task["dependentTasks"] == ["Pusher"]
    assert task["inputs"]["artifacts"]["pushed_model"]["taskOutputArtifact"] == {
        "producerTask": "Pusher", "outputArtifactKey": "pushed_model"}
    container = _executor(spec, pipeline_def.KSERVE_DEPLOYER)["container"]
    # The step runs the pipeline image (it only talks to the API); the service runs the serving image.
    assert container["image"] == IMAGE and container["command"] == ENTRYPOINT
    assert container["args"][1] == "components.kserve_deployer.executor.Executor"

    def constant(name):
        return task["inputs"]["parameters"][name]["runtimeValue"]["constant"]

    kserve = json.loads(constant("kserve_config"))
    assert (kserve["name"], kserve["canary_traffic_percent"]) == ("gender", 10)
    assert kserve["image"] == "registry.example.com/team/audioclf-serving:1.2.3"
    command = json.loads(constant("server_command"))
    assert command[:5] == ["python", "-m", "serving.server", "--model", "/mnt/models"]
    assert command[command.index("--model-name") + 1] == "voices" and constant("model_name") == "voices"
    assert spec["components"][pipeline_def.KSERVE_DEPLOYER]["outputDefinitions"]["artifacts"]["deployment"][
        "artifactType"]["instanceSchema"].startswith("title: audioclf.KServeDeployment")
    # Without kubeflow.deploy the pipeline ends with the Pusher.
    _, (plain,) = _compile(tmp_path, name="plain.yaml")
    assert pipeline_def.KSERVE_DEPLOYER not in plain["root"]["dag"]["tasks"]
    assert f"{pipeline_def.KSERVE_DEPLOYER}_executor" not in plain["deploymentSpec"]["executors"]


def test_compiling_twice_gives_the_same_file(tmp_path):
    first, _ = _compile(tmp_path, name="a.yaml", image=IMAGE)
    second, _ = _compile(tmp_path, name="b.yaml", image=IMAGE)
    assert first.read_bytes() == second.read_bytes()
    assert first.stat().st_mode & 0o044  # readable by others, like any file written with the umask
    assert not list(tmp_path.glob("*.tmp-*"))  # no temporary file left behind (fs.write_text's names)


def test_bad_output_name_and_local_root_are_refused(tmp_path):
    with pytest.raises(AudioClfError, match=r"\*\.yaml"):
        compiler.compile_pipeline(load_config(TINY), str(tmp_path / "p.json"))
    with pytest.raises(AudioClfError, match="shared storage"):
        compiler.compile_pipeline(load_config(TINY), str(tmp_path / "p.yaml"), pipeline_root="/tmp/root")
    assert not (tmp_path / "p.yaml").exists()


@pytest.mark.slow
def test_cli_compiles_offline_for_a_gcs_root(tmp_path):
    """A separate process with no network route to GCS (proxy to a closed port): compile must not need it."""
    out = tmp_path / "cli.yaml"
    env = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "",
           "GCE_METADATA_HOST": "127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "compile", "--output", str(out), "--config", TINY,
                           "--image", IMAGE, "--pipeline-root", "gs://no-such-bucket-audioclf/root"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["image"] == IMAGE and summary["pipeline_root"] == "gs://no-such-bucket-audioclf/root"
    assert summary["parameters"]["epochs"] == 2
    assert yaml.safe_load_all(out.read_text())
