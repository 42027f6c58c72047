"""The KServeDeployer step: a model the Pusher did not push is not deployed and no cluster is touched; a
pushed one is deployed (created, then updated as a canary) through the local fake of the API server and
KServe (tests/fake_k8s.py), also when the Pusher's properties arrive as Kubeflow hands them over."""
import dataclasses
import json
import logging
from pathlib import Path

import fake_k8s  # tests/fake_k8s.py (the root conftest puts tests/ on the path)
import pytest
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils
from tfx.types import standard_artifacts

from components.audio_trainer.config import KServeConfig
from components.common.artifacts import DEPLOYMENT_FILE, KServeDeployment
from components.common.errors import AudioClfError
from components.common.testing import artifact
from components.kserve_deployer import executor, inference_service

SERVING = "gs://bucket/root/serving"
# What pipeline/pipeline.py passes: serving.config's server_command (the layers keep serving/ out of here).
SERVER_COMMAND = ["python", "-m", "serving.server", "--model", "/mnt/models", "--model-name", "gender", "--port", "8080"]


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    with fake_k8s.FakeKubernetes(tmp_path / "k8s") as server:
        monkeypatch.setattr(inference_service, "_default_api_client", server.api_client)
        yield server


def pushed_model(tmp_path, version=None):
    """The Pusher's output as a local run leaves it: pushed (1/0), destination, version."""
    item = artifact(standard_artifacts.PushedModel, tmp_path / "Pusher" / "pushed_model" / (version or "none"))
    if version is None:   # not blessed: Pusher._MarkNotPushed sets `pushed` only
        item.set_int_custom_property(executor.PUSHED, 0)
        return item
    item.set_int_custom_property(executor.PUSHED, 1)
    item.set_string_custom_property(executor.PUSHED_DESTINATION, f"{SERVING}/{version}")
    item.set_string_custom_property(executor.PUSHED_VERSION, version)
    return item


def as_kubeflow_hands_it_over(item):
    """The artifact after TFX's Kubeflow v2 entry point has carried it from the Pusher's step to the next:
    custom properties become JSON metadata (`pushed` 1.0) and come back as struct values."""
    runtime = kubeflow_v2_entrypoint_utils.to_runtime_artifact(item, {})
    runtime.type.schema_title = "tfx.PushedModel"
    artifacts = pipeline_spec_pb2.ArtifactList(artifacts=[runtime])
    return kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict({"pushed_model": artifacts})["pushed_model"][0]


def run_step(tmp_path, pushed, **kserve):
    config = KServeConfig(poll_seconds=0.02, timeout_minutes=0.2, **kserve)
    output = artifact(KServeDeployment, tmp_path / "KServeDeployer" / "deployment" / Path(pushed.uri).name)
    properties = {executor.KSERVE_CONFIG_KEY: json.dumps(dataclasses.asdict(config)),
                  executor.SERVER_COMMAND_KEY: json.dumps(SERVER_COMMAND), executor.HTTP_PORT_KEY: 8080,
                  executor.MODEL_NAME_KEY: "gender"}
    executor.Executor().Do({"pushed_model": [pushed]}, {"deployment": [output]}, properties)
    return output, json.loads((Path(output.uri) / DEPLOYMENT_FILE).read_text())


@pytest.mark.parametrize("kubeflow_form", [False, True])
def test_a_model_that_was_not_pushed_is_not_deployed_and_no_cluster_is_asked(tmp_path, monkeypatch, caplog,
                                                                            kubeflow_form):
    def no_cluster():
        raise AssertionError("the step must not talk to Kubernetes when nothing was pushed")

    monkeypatch.setattr(inference_service, "_default_api_client", no_cluster)
    caplog.set_level(logging.INFO, logger=executor.__name__)
    pushed = pushed_model(tmp_path)
    output, record = run_step(tmp_path, as_kubeflow_hands_it_over(pushed) if kubeflow_form else pushed)
    assert record == {"deployed": 0, "service": "audioclf", "namespace": "kubeflow", "model_name": "gender",
                      "reason": "not pushed (the model was not blessed)"}
    assert output.get_int_custom_property("deployed") == 0
    assert "the Pusher pushed no model (not blessed), so nothing is deployed" in caplog.text


def test_pushed_models_are_deployed_then_updated_as_a_canary(tmp_path, cluster):
    output, record = run_step(tmp_path, pushed_model(tmp_path, "1700000001"), canary_traffic_percent=20)
    assert record["deployed"] == 1 and record["model_uri"] == f"{SERVING}/1700000001"
    assert record["url"] == "http://audioclf.kubeflow.example.com"
    assert record["revision"] == "audioclf-predictor-00001" and record["canary_traffic_percent"] == 0
    assert output.get_int_custom_property("deployed") == 1 and output.get_string_custom_property("url") == record["url"]
    (created,) = cluster.created_bodies()
    container = created["spec"]["predictor"]["containers"][0]
    assert container["image"] == KServeConfig().image
    assert container["command"] == SERVER_COMMAND
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]

    # The next blessed model, as Kubeflow hands it over: an update, 20 % of traffic to it as a canary.
    _, record = run_step(tmp_path, as_kubeflow_hands_it_over(pushed_model(tmp_path, "1700000002")),
                         canary_traffic_percent=20)
    assert record["model_uri"] == f"{SERVING}/1700000002" and record["model_version"] == "1700000002"
    assert record["revision"] == "audioclf-predictor-00002" and record["canary_traffic_percent"] == 20
    assert [(t["revisionName"], t["percent"]) for t in record["traffic"]] == [
        ("audioclf-predictor-00002", 20), ("audioclf-predictor-00001", 80)]
    stored = cluster.isvc("kubeflow", "audioclf")
    env = stored["spec"]["predictor"]["containers"][0]["env"]
    assert {"name": "STORAGE_URI", "value": f"{SERVING}/1700000002"} in env
    assert [r.method for r in cluster.isvc_requests() if r.method != "GET"] == ["POST", "PUT"]


def test_a_model_pushed_to_a_local_folder_cannot_be_deployed(tmp_path, cluster):
    pushed = pushed_model(tmp_path, "1700000001")
    pushed.set_string_custom_property(executor.PUSHED_DESTINATION, str(tmp_path / "serving" / "1700000001"))
    with pytest.raises(AudioClfError, match="storage initializer cannot download"):
        run_step(tmp_path, pushed)
    assert not cluster.requests


def test_a_failed_deployment_fails_the_step(tmp_path, monkeypatch):
    with fake_k8s.FakeKubernetes(tmp_path / "k8s", isvc_behaviour="model_load_error") as server:
        monkeypatch.setattr(inference_service, "_default_api_client", server.api_client)
        with pytest.raises(AudioClfError, match=r"cannot serve the new model:\n(.|\n)*BlockedByFailedLoad"):
            run_step(tmp_path, pushed_model(tmp_path, "1700000001"))


def test_bad_settings_are_refused_before_anything_is_deployed(tmp_path, cluster):
    with pytest.raises(AudioClfError, match=r"kubeflow.kserve.canary_traffic_percent=100 must be an integer in \[0, 99\]"):
        run_step(tmp_path, pushed_model(tmp_path, "1700000001"), canary_traffic_percent=100)
    assert not cluster.requests
