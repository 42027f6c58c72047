"""`audioclf submit` and `audioclf schedule` end to end against a local server speaking the KFP v2 API:
the pipeline is compiled from the config (or taken from --package) and what reaches the server is the
compiled spec, the typed parameters and the cron schedule."""
import json
from pathlib import Path

import pytest
import yaml

from pipeline import cli
from fake_kfp_server import FakeKfpServer

REPO = Path(__file__).resolve().parents[1]
TINY = str(REPO / "tests" / "tiny.yaml")
IMAGE = "registry.example.com/audioclf:9.9.9"


@pytest.fixture
def server():
    fake = FakeKfpServer().start()
    yield fake
    fake.stop()


def test_schedule_compiles_from_the_config_and_creates_a_recurring_run(server, capsys):
    code = cli.main(["schedule", "--host", server.url, "--cron", "0 3 * * *", "--max-concurrency", "2",
                     "--config", TINY, "--image", IMAGE, "--pipeline-root", "gs://bucket/root",
                     "--param", "epochs=5", "--param", "data_root=gs://bucket/LibriSpeech"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    [upload] = server.sent("POST", "/pipelines/upload")
    spec = list(yaml.safe_load_all(upload["files"]["uploadfile"]["content"]))[0]
    assert spec["deploymentSpec"]["executors"]["Trainer_executor"]["container"]["image"] == IMAGE
    assert spec["defaultPipelineRoot"] == "gs://bucket/root"
    [recurring] = server.sent("POST", "/recurringruns")
    body = recurring["body"]
    assert body["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *" and int(body["max_concurrency"]) == 2
    assert body["runtime_config"]["parameters"] == {"epochs": 5, "data_root": "gs://bucket/LibriSpeech"}
    assert printed["recurring_run_id"] and printed["cron"] == "0 0 3 * * *"


def test_submit_sends_an_already_compiled_package(server, tmp_path, capsys):
    package = tmp_path / "p.yaml"
    assert cli.main(["compile", "--output", str(package), "--config", TINY]) == 0
    capsys.readouterr()
    assert cli.main(["submit", "--host", server.url, "--package", str(package), "--experiment", "nightly",
                     "--param", "accuracy_floor=0.8", "--run-name", "try-1"]) == 0
    [run] = server.sent("POST", "/runs")
    assert run["body"]["pipeline_spec"] == list(yaml.safe_load_all(package.read_text()))[0]
    assert run["body"]["runtime_config"]["parameters"] == {"accuracy_floor": 0.8}
    assert run["body"]["display_name"] == "try-1"
    assert json.loads(capsys.readouterr().out)["run_id"]


def test_bad_cron_and_unknown_parameter_stop_before_anything_is_sent(server, tmp_path, capsys):
    assert cli.main(["schedule", "--host", server.url, "--cron", "every night", "--config", TINY]) == 2
    assert "cron" in capsys.readouterr().err
    assert server.requests == []
    package = tmp_path / "p.yaml"
    assert cli.main(["compile", "--output", str(package), "--config", TINY]) == 0
    assert cli.main(["submit", "--host", server.url, "--package", str(package), "--param", "epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "epoch" in err and "epochs" in err  # names the unknown one and lists the known ones
    assert not server.sent("POST", "/runs")


def test_the_example_cluster_config_compiles_with_the_tfjob_launcher_and_the_deploy_step(tmp_path, capsys):
    package = tmp_path / "cluster.yaml"
    assert cli.main(["compile", "--output", str(package), "--config", str(REPO / "kubeflow" / "retraining.yaml")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["trainer_launcher"] == "tfjob" and summary["parameters"]["epochs"] == 30
    assert summary["deploy"] == "kserve"
    # The Trainer step's pod only waits for the TFJob: the GPU node selector is the workers', not the step's,
    # so no step needs a platform spec.
    (spec,) = yaml.safe_load_all(package.read_text())
    launcher = json.loads(spec["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]["launcher"]["runtimeValue"]
                          ["constant"])
    assert launcher["tfjob"]["workers"] == 2 and launcher["resources"]["accelerator_type"] == "nvidia-tesla-t4"
    assert spec["root"]["dag"]["tasks"]["KServeDeployer"]["dependentTasks"] == ["Pusher"]
