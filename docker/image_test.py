"""The built images, checked from inside: what Kubeflow and KServe would run in them, run in them.

`make test-image` builds the images (docker/build.sh, with Docker or buildah) and runs this module with
AUDIOCLF_IMAGE (the pipeline image), AUDIOCLF_GPU_IMAGE and AUDIOCLF_SERVING_IMAGE naming them and
AUDIOCLF_IMAGE_ENGINE (docker or buildah). A check whose image is not named is skipped, and says so.

In the pipeline image, as its user (uid 1000), with the host's test folder mounted at the same path:
- the compiled SpeakerIndexGen step's container command, given the ExecutorInput a KFP v2 launcher
  would, indexes the image's bundled corpus and writes its artifact and executor output;
- the TFJob worker entry point (`python -m trainer.worker`) trains one step on real examples and exports;
- `audioclf predict` classifies a bundled recording exactly as the host's `audioclf predict` does.
In the GPU image: TensorFlow is a CUDA build and the CUDA/cuDNN libraries of its wheels load (no GPU
here, so no kernel runs on one). In the serving image: the KServe server starts on a pushed model and
answers a V1 request with what `audioclf predict` says, started with the command the KServe deploy step
gives the InferenceService's predictor container.
"""
import base64
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest
import yaml

from kubeflow_entrypoint_test import STEP, _executor_input  # tests/kubeflow_entrypoint_test.py
from sample_artifacts import export_tiny_model, write_examples  # tests/sample_artifacts.py
from pipeline.config import load_config
from pipeline.kubeflow import compiler
from serving import local_server
from serving.config import ServingConfig
from trainer import worker
from trainer.task_test import RATE, SECONDS
from trainer.worker_test import MULTI_WORKER, write_worker_args

pytestmark = pytest.mark.image

REPO = Path(__file__).resolve().parents[1]
ENGINE = os.environ.get("AUDIOCLF_IMAGE_ENGINE", "buildah")
IMAGE_DATA = "/opt/audioclf/data"
RECORDING = "librispeech-mini/dev-mini/103/1240/103-1240-0000.flac"
TIMEOUT = 900


def _image(variable: str) -> str:
    name = os.environ.get(variable, "")
    if not name:
        pytest.skip(f"{variable} is not set: build the images and run these checks with `make test-image`.")
    return name


class Container:
    """One started container of an image, commands run in it with host folders mounted at the same path.
    buildah: a working container (`buildah from`) and `buildah run --isolation chroot`; docker: `docker run`."""

    def __init__(self, image: str, mounts: Sequence[Path]):
        self.image, self.mounts = image, [str(m) for m in mounts]
        self.name = ""
        assert ENGINE in ("docker", "buildah"), f"AUDIOCLF_IMAGE_ENGINE={ENGINE!r}: use docker or buildah"
        assert shutil.which(ENGINE), f"{ENGINE} is not on the PATH"
        if ENGINE == "buildah":
            self.name = self._check(["buildah", "from", "--quiet", image]).stdout.strip()

    @staticmethod
    def _check(argv: List[str], timeout: float = 120) -> subprocess.CompletedProcess:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        assert done.returncode == 0, f"{argv}: {done.stderr[-3000:]}"
        return done

    def argv(self, command: Sequence[str], env: Optional[Dict[str, str]] = None, cwd: str = "") -> List[str]:
        volumes = [arg for m in self.mounts for arg in ("-v", f"{m}:{m}")]
        envs = [arg for k, v in (env or {}).items() for arg in ("-e", f"{k}={v}")]
        if ENGINE == "buildah":
            workdir = ["--workingdir", cwd] if cwd else []
            return ["buildah", "run", "--isolation", "chroot", *volumes, *envs, *workdir, self.name, "--", *command]
        workdir = ["-w", cwd] if cwd else []
        return ["docker", "run", "--rm", "--network", "host", *volumes, *envs, *workdir, self.image, *command]

    def run(self, command: Sequence[str], env: Optional[Dict[str, str]] = None, cwd: str = "",
            timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(command, env, cwd), capture_output=True, text=True, timeout=timeout,
                              check=False)

    def close(self) -> None:
        if self.name:
            subprocess.run(["buildah", "rm", self.name], capture_output=True, check=False)


@pytest.fixture
def io_dir(tmp_path):
    """A host folder the image's user (uid 1000) can write, mounted at the same path in the container."""
    folder = tmp_path / "io"
    folder.mkdir()
    folder.chmod(0o777)
    return folder


@pytest.fixture
def pipeline_image(io_dir):
    container = Container(_image("AUDIOCLF_IMAGE"), [io_dir])
    yield container
    container.close()


def _open_to_all(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)


def test_compiled_speaker_index_step_runs_in_the_image(pipeline_image, io_dir):
    compiled = io_dir / "pipeline.yaml"
    compiler.compile_pipeline(load_config(str(REPO / "tests" / "tiny.yaml")), str(compiled))
    spec = list(yaml.safe_load_all(compiled.read_text()))[0]
    container = spec["deploymentSpec"]["executors"][f"{STEP}_executor"]["container"]
    corpus = f"{IMAGE_DATA}/librispeech-mini"
    executor_input = _executor_input(spec, {"data_root": corpus}, io_dir / "task")
    argv = list(container["command"]) + [json.dumps(executor_input) if a == "{{$}}" else a for a in container["args"]]

    done = pipeline_image.run(argv, cwd=str(io_dir))
    assert done.returncode == 0, done.stderr[-4000:]
    index = json.loads((io_dir / "task" / "speaker_index" / "speaker_index.json").read_text())
    assert {n: c["root"] for n, c in index["corpora"].items()} == {"librispeech-mini": corpus}
    assert len(index["speakers"]) == 158
    output = json.loads((io_dir / "task" / "executor_output.json").read_text())
    assert output["artifacts"]["speaker_index"]["artifacts"][0]["metadata"]["num_speakers"] == 158


def test_trainer_worker_trains_one_step_in_the_image(pipeline_image, io_dir):
    examples = write_examples(io_dir / "data", RATE, SECONDS, {"train": 4, "eval": 2, "test": 2}).uri
    args_uri = str(io_dir / "trainer" / worker.ARGS_FILE)
    out = io_dir / "out"
    one_step = dataclasses.replace(MULTI_WORKER, epochs=1, steps_per_epoch=1, batch_size_per_replica=4)
    write_worker_args(args_uri, examples, out, config=one_step)
    _open_to_all(io_dir)

    # A one-worker TFJob: the operator sets no TF_CONFIG, so the worker trains alone.
    done = pipeline_image.run(["python", "-m", "trainer.worker", "--args", args_uri], cwd=str(io_dir))
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    summary = worker.summary_from_log(done.stdout)
    assert summary["task"] == "worker:0" and summary["replicas"] == 1
    assert (out / "serving" / "saved_model.pb").exists()


def _host_predict(model: Path, recording: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "predict", "--model", str(model), str(recording)],
                          capture_output=True, text=True, timeout=300, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _same_prediction(got: dict, want: dict) -> None:
    assert got["label"] == want["label"]
    for name, value in want["probabilities"].items():
        assert got["probabilities"][name] == pytest.approx(value, abs=1e-5)


def test_predict_in_the_image_equals_predict_on_the_host(pipeline_image, io_dir):
    model = export_tiny_model(io_dir / "model")
    _open_to_all(io_dir)
    done = pipeline_image.run(["audioclf", "predict", "--model", str(model), f"{IMAGE_DATA}/{RECORDING}"])
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    in_image = json.loads(done.stdout.strip().splitlines()[-1])
    _same_prediction(in_image, _host_predict(model, REPO / "data" / RECORDING))


def test_gpu_image_has_cuda_tensorflow_and_its_libraries_load(io_dir):
    container = Container(_image("AUDIOCLF_GPU_IMAGE"), [io_dir])
    try:
        probe = (
            "import ctypes, glob, json, os, site, tensorflow as tf\n"
            "info = tf.sysconfig.get_build_info()\n"
            "nvidia = os.path.join(site.getsitepackages()[0], 'nvidia')\n"
            "libs = sorted(glob.glob(nvidia + '/*/lib/lib*.so*'))\n"
            "loaded = []\n"
            "for name in ('libcudart.so.12', 'libcublas.so.12', 'libcudnn.so.8', 'libcufft.so.11', 'libnccl.so.2'):\n"
            "    path = next(p for p in libs if os.path.basename(p) == name)\n"
            "    ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)\n"
            "    loaded.append(name)\n"
            "print(json.dumps({'is_cuda_build': info.get('is_cuda_build'), 'cuda_version': info.get('cuda_version'),\n"
            "                  'cudnn_version': info.get('cudnn_version'), 'loaded': loaded,\n"
            "                  'gpus': len(tf.config.list_physical_devices('GPU'))}))\n")
        done = container.run(["python", "-c", probe])
        assert done.returncode == 0, done.stderr[-4000:]
        facts = json.loads(done.stdout.strip().splitlines()[-1])
        print("GPU image:", facts)
        assert facts["is_cuda_build"] is True and str(facts["cuda_version"]).startswith("12")
        assert str(facts["cudnn_version"]).startswith("8") and len(facts["loaded"]) == 5
        assert facts["gpus"] == 0   # this machine has none: nothing ran on a GPU
    finally:
        container.close()


def test_serving_image_answers_like_predict(io_dir):
    model = export_tiny_model(io_dir / "model")
    _open_to_all(io_dir)
    port = local_server.free_port()
    container = Container(_image("AUDIOCLF_SERVING_IMAGE"), [io_dir])
    # The command the KServe deploy step gives the predictor container (components/kserve_deployer).
    command = dataclasses.replace(ServingConfig(), http_port=port).server_command(str(model))
    server = None
    try:
        try:
            server, url = local_server.start(container.argv(command), port, io_dir / "server.log", timeout=300)
        except local_server.NotReady as err:
            pytest.fail(str(err))
        audio = (REPO / "data" / RECORDING).read_bytes()
        body = json.dumps({"instances": [{"b64": base64.b64encode(audio).decode()}]}).encode()
        request = urllib.request.Request(f"{url}/v1/models/audioclf:predict", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
        _same_prediction(answer["predictions"][0], _host_predict(model, REPO / "data" / RECORDING))
    finally:
        if server is not None:
            local_server.stop(server)
        container.close()
