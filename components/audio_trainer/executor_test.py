"""The Trainer step with the TFJob launcher, through a local fake of the Kubernetes API and the Training
Operator (tests/fake_k8s.py): the step writes the workers' arguments, creates a 2-worker TFJob of the
configured image, waits for it, and its Model artifact holds the chief's model, as with local training."""
import dataclasses
import json

import fake_k8s  # tests/fake_k8s.py (the root conftest puts tests/ on the path)
import pytest
from tfx.types import standard_artifacts

from components.audio_trainer import executor
from components.audio_trainer.component import tfjob_launcher
from components.common.testing import artifact
from sample_artifacts import write_examples  # tests/sample_artifacts.py
from components.audio_trainer.config import KubeflowConfig, TFJobConfig
from components.common.errors import AudioClfError
from components.audio_trainer import tfjob
from trainer import task, worker
from trainer.task_test import RATE, SECONDS, settings
from trainer.worker_test import MULTI_WORKER

pytestmark = pytest.mark.slow

IMAGE = "registry.example.com/audioclf:test"


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    with fake_k8s.FakeKubernetes(tmp_path / "pod-logs", env={"CUDA_VISIBLE_DEVICES": ""}) as server:
        monkeypatch.setattr(tfjob, "_default_api_client", server.api_client)
        yield server


def _step(tmp_path, launcher):
    examples = write_examples(tmp_path / "examples", RATE, SECONDS, {"train": 12, "eval": 6, "test": 4})
    model = artifact(standard_artifacts.Model, tmp_path / "Trainer" / "model")
    model_run = artifact(standard_artifacts.ModelRun, tmp_path / "Trainer" / "model_run")
    # The step's settings say 5 epochs; the run-time parameter says 1, and wins.
    custom = settings(dataclasses.replace(MULTI_WORKER, epochs=5)).to_custom_config()
    properties = {"custom_config": json.dumps(custom), "run_fn": "trainer.task.run_fn", "train_args": "{}",
                  "eval_args": "{}", "epochs": 1, "launcher": launcher}
    return {"examples": [examples]}, {"model": [model], "model_run": [model_run]}, properties


def test_the_step_trains_as_a_two_worker_tfjob_and_publishes_the_chiefs_model(tmp_path, cluster):
    launcher = tfjob_launcher(KubeflowConfig(tfjob=TFJobConfig(workers=2, poll_seconds=0.2)), IMAGE)
    inputs, outputs, properties = _step(tmp_path, launcher)
    executor.Executor().Do(inputs, outputs, properties)

    model_uri, run_uri = outputs["model"][0].uri, outputs["model_run"][0].uri
    (created,) = cluster.created_bodies()
    worker_spec = created["spec"]["tfReplicaSpecs"]["Worker"]
    container = worker_spec["template"]["spec"]["containers"][0]
    assert worker_spec["replicas"] == 2 and container["image"] == IMAGE
    assert container["command"] == tfjob.worker_command(f"{run_uri}/{worker.ARGS_FILE}")
    args = worker.read_args(f"{run_uri}/{worker.ARGS_FILE}")
    assert json.loads(args["custom_config"]["trainer"])["epochs"] == 1
    assert (tmp_path / "Trainer" / "model" / "Format-Serving" / "saved_model.pb").exists()
    history = task.read_history(run_uri)
    assert history["replicas"] == 2 and history["epochs_run"] == 1
    assert model_uri.endswith("model")


def test_a_failed_job_fails_the_step_with_the_workers_reason(tmp_path, cluster):
    launcher = tfjob_launcher(KubeflowConfig(tfjob=TFJobConfig(workers=1, poll_seconds=0.2)), IMAGE)
    inputs, outputs, properties = _step(tmp_path, launcher)
    inputs["examples"][0].uri = str(tmp_path / "nowhere")  # the workers find no train files
    with pytest.raises(AudioClfError, match=r"worker-0") as err:
        executor.Executor().Do(inputs, outputs, properties)
    assert "nowhere" in str(err.value)
    assert not (tmp_path / "Trainer" / "model" / "Format-Serving").exists()
