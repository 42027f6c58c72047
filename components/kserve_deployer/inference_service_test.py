"""The InferenceService: its manifest is valid against KServe's v0.15.2 CRD (strict) and Kubernetes' own
schemas, and the deployer creates, updates (canary), waits and fails clearly through a local fake of the
API server and the KServe controller (tests/fake_k8s.py)."""
import copy
import logging
import time
from pathlib import Path

import fake_k8s  # tests/fake_k8s.py (on the path via the root conftest)
import jsonschema
import kubernetes
import kubernetes_validate
import pytest
import urllib3
from kubernetes.client.rest import ApiException

from components.audio_trainer.config import KServeConfig, ResourcesConfig
from components.common.errors import AudioClfError
from components.common.testing import crd_schema, rbac_grants
from components.kserve_deployer import inference_service as isvc

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "kubeflow" / "schemas" / "serving.kserve.io_inferenceservices.yaml"
KUBERNETES_VERSION = "1.29.0"
IMAGE = "registry.example.com/audioclf-serving:1.2.3"
COMMAND = ["python", "-m", "serving.server", "--model", "/mnt/models", "--model-name", "audioclf", "--port", "8080"]
V1, V2 = "gs://bucket/root/serving/1700000001", "gs://bucket/root/serving/1700000002"
GPU = ResourcesConfig(cpu="2", memory="6Gi", gpus=1, accelerator_type="nvidia-l4", node_selector={"pool": "serving"})


@pytest.fixture(scope="module")
def schema():
    return crd_schema(str(CRD), isvc.KIND, isvc.VERSION)


def manifest(uri=V1, version="1700000001", canary=0, resources=None, **kwargs):
    return isvc.build_manifest("audioclf", "kubeflow", IMAGE, COMMAND, 8080, uri, version,
                               resources or KServeConfig().resources, canary_traffic_percent=canary, **kwargs)


def test_manifest_is_a_valid_inference_service_with_a_valid_container(schema):
    made = manifest(V2, "1700000002", canary=10, resources=GPU, service_account="model-reader",
                    deployment_mode="Serverless", min_replicas=0, max_replicas=3)
    jsonschema.Draft202012Validator(schema).validate(made)
    assert made["apiVersion"] == "serving.kserve.io/v1beta1" and made["kind"] == "InferenceService"
    assert made["metadata"]["annotations"] == {"audioclf/model-uri": V2, "audioclf/model-version": "1700000002",
                                               "serving.kserve.io/deploymentMode": "Serverless"}
    assert made["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "audioclf"
    predictor = made["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"], predictor["canaryTrafficPercent"]) == (0, 3, 10)
    assert predictor["serviceAccountName"] == "model-reader"
    assert predictor["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4", "pool": "serving"}
    (container,) = predictor["containers"]
    # KServe's storage initializer downloads the STORAGE_URI of the container named kserve-container to /mnt/models.
    assert container["name"] == "kserve-container" and container["image"] == IMAGE
    assert {"name": "STORAGE_URI", "value": V2} in container["env"]
    assert container["command"] == COMMAND and container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "6Gi"},
                                      "limits": {"memory": "6Gi", "nvidia.com/gpu": 1}}
    # The predictor is a PodSpec (plus KServe's fields): its pod part passes Kubernetes' own schema.
    pod_fields = {k: v for k, v in predictor.items() if k in ("containers", "serviceAccountName", "nodeSelector")}
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "predictor"},
                                  "spec": pod_fields}, KUBERNETES_VERSION, strict=True)


def test_defaults_make_a_minimal_predictor(schema):
    made = manifest()
    jsonschema.Draft202012Validator(schema).validate(made)
    predictor = made["spec"]["predictor"]
    assert set(predictor) == {"minReplicas", "containers"}   # no canary, service account, node selector, max
    assert "serving.kserve.io/deploymentMode" not in made["metadata"]["annotations"]   # the cluster's default
    assert predictor["containers"][0]["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"},
                                                       "limits": {"memory": "2Gi"}}


def test_the_schema_refuses_a_wrong_type_and_fields_kserve_0_15_does_not_have(schema):
    wrong = manifest()
    wrong["spec"]["predictor"]["canaryTrafficPercent"] = "ten"
    with pytest.raises(jsonschema.ValidationError, match="'ten' is not of type 'integer'"):
        jsonschema.Draft202012Validator(schema).validate(wrong)
    # A predictor-level storageUri is not in v0.15's CRD, hence the STORAGE_URI variable of kserve-container.
    unknown = manifest()
    unknown["spec"]["predictor"]["storageUri"] = V1
    with pytest.raises(jsonschema.ValidationError, match="'storageUri' was unexpected"):
        jsonschema.Draft202012Validator(schema).validate(unknown)


@pytest.mark.parametrize("uri", ["/home/me/output/serving/1", "output/serving/1", "ftp://host/m"])
def test_a_model_the_storage_initializer_cannot_download_is_refused(uri):
    with pytest.raises(AudioClfError, match=r"storage initializer cannot download .*pusher.serving_dir"):
        isvc.check_storage_uri(uri)
    isvc.check_storage_uri(V1)
    isvc.check_storage_uri("s3://bucket/serving/1")


def test_rbac_lets_the_runner_do_what_the_deployer_does(fake):
    isvc.InferenceServiceDeployer(kubernetes.client.CustomObjectsApi(fake.api_client())).deploy(
        manifest(), poll_seconds=0.02, timeout_seconds=10)
    isvc.InferenceServiceDeployer(kubernetes.client.CustomObjectsApi(fake.api_client())).deploy(
        manifest(V2), poll_seconds=0.02, timeout_seconds=10)
    subjects, granted = rbac_grants(REPO / "kubeflow" / "rbac.yaml", "audioclf-kserve-deployer", KUBERNETES_VERSION)
    assert subjects == [{"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"}]
    verbs = {"GET": "get", "POST": "create", "PUT": "update"}
    used = {("serving.kserve.io", "inferenceservices", verbs[r.method]) for r in fake.isvc_requests()}
    assert used == {("serving.kserve.io", "inferenceservices", v) for v in ("get", "create", "update")}
    assert used <= granted


# The deployer against the fake API server and KServe controller.

@pytest.fixture
def fake(tmp_path):
    with fake_k8s.FakeKubernetes(tmp_path) as server:
        yield server


def deployer_for(server) -> isvc.InferenceServiceDeployer:
    return isvc.InferenceServiceDeployer(kubernetes.client.CustomObjectsApi(server.api_client()))


def status_lines(caplog):
    return [r.getMessage() for r in caplog.records
            if r.name == isvc.__name__ and r.getMessage().startswith("InferenceService audioclf:")]


def test_first_deploy_creates_the_service_and_waits_for_ready(fake, caplog, schema):
    with caplog.at_level(logging.INFO, logger=isvc.__name__):
        service = deployer_for(fake).deploy(manifest(canary=25), poll_seconds=0.02, timeout_seconds=10)
    assert [r.method for r in fake.isvc_requests()][:2] == ["GET", "POST"]
    (created,) = fake.created_bodies()
    assert "canaryTrafficPercent" not in created["spec"]["predictor"]   # nothing to keep serving yet
    predictor = service["status"]["components"]["predictor"]
    assert predictor["latestReadyRevision"] == "audioclf-predictor-00001"
    assert predictor["traffic"] == [{"revisionName": "audioclf-predictor-00001", "latestRevision": True, "percent": 100}]
    assert isvc.service_url(service) == "http://audioclf.kubeflow.example.com"
    jsonschema.Draft202012Validator(schema).validate(service)   # the fake's status is one KServe could write
    lines = status_lines(caplog)
    assert lines[-1] == ("InferenceService audioclf: Ready=True; revision audioclf-predictor-00001 (ready); "
                         "traffic audioclf-predictor-00001 100%")
    assert any("Ready=Unknown" in line for line in lines[:-1])
    assert all(a != b for a, b in zip(lines, lines[1:]))   # logged on change, not on every poll


def test_an_update_as_a_canary_sends_its_share_to_the_new_model(fake, caplog, schema):
    deployer_for(fake).deploy(manifest(V1), poll_seconds=0.02, timeout_seconds=10)
    first = fake.isvc("kubeflow", "audioclf")
    with caplog.at_level(logging.INFO, logger=isvc.__name__):
        service = deployer_for(fake).deploy(manifest(V2, "1700000002", canary=10), poll_seconds=0.02,
                                            timeout_seconds=10)
    (put,) = [r for r in fake.isvc_requests() if r.method == "PUT"]
    assert put.body["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]   # no lost update
    stored = fake.isvc("kubeflow", "audioclf")
    assert stored["metadata"]["uid"] == first["metadata"]["uid"] and stored["metadata"]["generation"] == 2
    predictor = stored["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert {"name": "STORAGE_URI", "value": V2} in predictor["containers"][0]["env"]
    assert stored["metadata"]["annotations"]["audioclf/model-version"] == "1700000002"
    traffic = service["status"]["components"]["predictor"]["traffic"]
    assert traffic == [{"revisionName": "audioclf-predictor-00002", "latestRevision": True, "percent": 10},
                       {"revisionName": "audioclf-predictor-00001", "latestRevision": False, "percent": 90,
                        "tag": "prev"}]
    assert "canary: 10% of traffic to the new model, the rest to the last rolled-out one" in caplog.text
    jsonschema.Draft202012Validator(schema).validate(service)


def test_an_update_without_canary_moves_all_traffic_and_a_retry_changes_nothing(fake):
    deployer_for(fake).deploy(manifest(V1), poll_seconds=0.02, timeout_seconds=10)
    deployer_for(fake).deploy(manifest(V2), poll_seconds=0.02, timeout_seconds=10)
    second = fake.isvc("kubeflow", "audioclf")
    assert second["status"]["components"]["predictor"]["traffic"] == [
        {"revisionName": "audioclf-predictor-00002", "latestRevision": True, "percent": 100}]
    # The same model again (a retried step): an update that changes no field, no new revision, Ready at once.
    started = time.monotonic()
    deployer_for(fake).deploy(manifest(V2), poll_seconds=0.02, timeout_seconds=10)
    third = fake.isvc("kubeflow", "audioclf")
    assert third["metadata"]["generation"] == 2 and len(fake.isvcs[("kubeflow", "audioclf")].revisions) == 2
    assert time.monotonic() - started < 2
    assert [r.method for r in fake.isvc_requests()].count("POST") == 1


def test_a_service_that_never_becomes_ready_fails_with_its_conditions(tmp_path):
    with fake_k8s.FakeKubernetes(tmp_path, isvc_behaviour="image_pull_error") as server:
        with pytest.raises(AudioClfError) as raised:
            deployer_for(server).deploy(manifest(), poll_seconds=0.05, timeout_seconds=1.2)
    message = str(raised.value)
    assert message.startswith("InferenceService audioclf in namespace kubeflow did not become Ready with the new model "
                              "within 0.02 minutes (kubeflow.kserve.timeout_minutes); its conditions:\n"
                              "  Ready=False RevisionFailed: Revision \"audioclf-predictor-00001\" failed with message: "
                              f"Back-off pulling image \"{IMAGE}\".\n")
    assert "  PredictorReady=False RevisionFailed" in message and "  IngressReady=True" in message
    assert "kubectl describe inferenceservice -n kubeflow audioclf" in message
    assert "kubeflow.kserve.image" in message


def test_a_model_that_fails_to_load_fails_the_step_before_the_timeout(tmp_path, schema):
    with fake_k8s.FakeKubernetes(tmp_path) as server:
        deployer_for(server).deploy(manifest(V1), poll_seconds=0.02, timeout_seconds=10)
        server.isvcs[("kubeflow", "audioclf")].behaviour = "model_load_error"
        started = time.monotonic()
        with pytest.raises(AudioClfError) as raised:
            deployer_for(server).deploy(manifest(V2), poll_seconds=0.02, timeout_seconds=60)
        assert time.monotonic() - started < 10
        # Knative keeps routing to the revision that was ready: the previous model still serves.
        failed = server.isvc("kubeflow", "audioclf")
        assert failed["status"]["components"]["predictor"]["traffic"] == [
            {"revisionName": "audioclf-predictor-00001", "latestRevision": True, "percent": 100}]
        jsonschema.Draft202012Validator(schema).validate(failed)
    message = str(raised.value)
    assert message.startswith("InferenceService audioclf in namespace kubeflow cannot serve the new model:\n")
    assert (f"  model status: BlockedByFailedLoad, ModelLoadFailed: No such object: {V2}/saved_model.pb"
            in message)
    assert "A previous model, if any, keeps serving." in message


def test_a_stale_failure_of_the_previous_model_does_not_fail_the_next_one(tmp_path):
    """The status still describes the failed revision right after the update: the step waits for the new one."""
    with fake_k8s.FakeKubernetes(tmp_path, isvc_behaviour="model_load_error", isvc_ready_after=2) as server:
        with pytest.raises(AudioClfError, match="BlockedByFailedLoad"):
            deployer_for(server).deploy(manifest(V1), poll_seconds=0.02, timeout_seconds=10)
        server.isvcs[("kubeflow", "audioclf")].behaviour = "ready"
        service = deployer_for(server).deploy(manifest(V2), poll_seconds=0.02, timeout_seconds=10)
    assert service["status"]["components"]["predictor"]["latestReadyRevision"] == "audioclf-predictor-00002"


def test_progress_reads_revisions_and_model_status():
    ready = {"conditions": [{"type": "Ready", "status": "True"}],
             "components": {"predictor": {"latestCreatedRevision": "a-2", "latestReadyRevision": "a-2"}}}
    assert isvc.progress(ready, fresh=False, expect_new=True, previous="a-1") == "ready"
    # Ready=True still from the old revision, before the controller made the new one: not ready yet.
    stale = {"conditions": [{"type": "Ready", "status": "True"}],
             "components": {"predictor": {"latestCreatedRevision": "a-1", "latestReadyRevision": "a-1"}}}
    assert isvc.progress(stale, fresh=False, expect_new=True, previous="a-1") == "waiting"
    assert isvc.progress(stale, fresh=False, expect_new=False, previous="a-1") == "ready"
    # RawDeployment reports no revisions: Ready=True is taken (kubeflow/README.md says what is not verified).
    raw = {"deploymentMode": "RawDeployment", "conditions": [{"type": "Ready", "status": "True"}]}
    assert isvc.progress(raw, fresh=False, expect_new=True, previous="") == "ready"
    failed = {"conditions": [{"type": "Ready", "status": "False"}], "modelStatus": {"transitionStatus": "InvalidSpec"},
              "components": {"predictor": {"latestCreatedRevision": "a-2"}}}
    assert isvc.progress(failed, fresh=False, expect_new=True, previous="a-1") == "failed"
    assert isvc.progress(failed, fresh=False, expect_new=True, previous="a-2") == "waiting"


def test_transient_api_errors_are_tried_again(fake, caplog):
    fake.fail_next(3)   # 503 to the next three requests: the first read and its two retries
    with caplog.at_level(logging.WARNING, logger=isvc.__name__):
        deployer_for(fake).deploy(manifest(), poll_seconds=0.02, timeout_seconds=10)
    assert fake.isvc("kubeflow", "audioclf")["status"]["components"]["predictor"]["latestReadyRevision"]
    assert caplog.text.count("read InferenceService audioclf failed (503 Service Unavailable); trying again") == 3


def test_lost_connections_while_waiting_are_tried_again(fake, caplog):
    api = kubernetes.client.CustomObjectsApi(fake.api_client())
    get, calls = api.get_namespaced_custom_object, []

    def flaky(*args, **kwargs):   # the reads after the create: a connection reset, then a 429
        calls.append(1)
        if len(calls) == 2:
            raise urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
        if len(calls) == 3:
            raise ApiException(status=429, reason="Too Many Requests")
        return get(*args, **kwargs)

    api.get_namespaced_custom_object = flaky
    with caplog.at_level(logging.WARNING, logger=isvc.__name__):
        service = isvc.InferenceServiceDeployer(api).deploy(manifest(), poll_seconds=0.02, timeout_seconds=10)
    assert service["status"]["components"]["predictor"]["latestReadyRevision"] == "audioclf-predictor-00001"
    assert "reading InferenceService audioclf failed (('Connection aborted.'" in caplog.text
    assert "reading InferenceService audioclf failed (429 Too Many Requests); trying again" in caplog.text


def test_an_api_server_that_stays_down_is_a_clear_error(fake):
    fake.fail_next(100)
    with pytest.raises(AudioClfError, match=r"cannot read InferenceService audioclf: lost contact with the Kubernetes "
                                            r"API \(503 Service Unavailable\); run the step again"):
        deployer_for(fake).deploy(manifest(), poll_seconds=0.01, timeout_seconds=10)


def test_a_concurrent_change_is_read_again_and_kept(fake):
    deployer_for(fake).deploy(manifest(V1), poll_seconds=0.02, timeout_seconds=10)
    api = kubernetes.client.CustomObjectsApi(fake.api_client())
    replace = api.replace_namespaced_custom_object

    def someone_else_first(*args, **kwargs):
        if not hasattr(someone_else_first, "done"):
            someone_else_first.done = True
            theirs = api.get_namespaced_custom_object(isvc.GROUP, isvc.VERSION, "kubeflow", isvc.PLURAL, "audioclf")
            theirs["metadata"]["annotations"]["team/owner"] = "ml-platform"
            replace(isvc.GROUP, isvc.VERSION, "kubeflow", isvc.PLURAL, "audioclf", theirs)
        return replace(*args, **kwargs)

    api.replace_namespaced_custom_object = someone_else_first
    isvc.InferenceServiceDeployer(api).deploy(manifest(V2), poll_seconds=0.02, timeout_seconds=10)
    stored = fake.isvc("kubeflow", "audioclf")
    assert stored["metadata"]["annotations"]["team/owner"] == "ml-platform"
    assert {"name": "STORAGE_URI", "value": V2} in stored["spec"]["predictor"]["containers"][0]["env"]


def test_someone_elses_service_of_the_same_name_is_left_alone(fake):
    theirs = copy.deepcopy(manifest())
    theirs["metadata"]["labels"] = {"app": "other"}
    kubernetes.client.CustomObjectsApi(fake.api_client()).create_namespaced_custom_object(
        isvc.GROUP, isvc.VERSION, "kubeflow", isvc.PLURAL, theirs)
    with pytest.raises(AudioClfError, match=r"InferenceService named audioclf already exists in namespace kubeflow but "
                                            r"was not deployed by audioclf .*kubeflow.kserve.name"):
        deployer_for(fake).deploy(manifest(V2), poll_seconds=0.02, timeout_seconds=5)
    assert "PUT" not in [r.method for r in fake.isvc_requests()]


@pytest.mark.parametrize("server_options, expected", [
    ({"kserve_crd": False}, r"no InferenceService resource \(serving.kserve.io/v1beta1 inferenceservices\) or no "
                            r"namespace kubeflow .*install KServe"),
    ({"forbidden": True}, r"cannot read InferenceService audioclf: not allowed \(403 inferenceservices.serving.kserve.io "
                          r"'audioclf' is forbidden: .*cannot get resource \"inferenceservices\".*get, create and update "
                          r"InferenceServices in namespace kubeflow: kubectl apply -f kubeflow/rbac.yaml"),
])
def test_cluster_problems_say_what_to_install_or_grant(tmp_path, server_options, expected):
    with fake_k8s.FakeKubernetes(tmp_path, **server_options) as server:
        with pytest.raises(AudioClfError, match=expected):
            deployer_for(server).deploy(manifest(), poll_seconds=0.02, timeout_seconds=5)
        assert not server.isvcs


def test_the_fake_api_server_refuses_what_the_schema_refuses(fake):
    bad = manifest()
    bad["spec"]["predictor"]["containers"][0]["gpus"] = 1
    with pytest.raises(AudioClfError, match=r"cannot create InferenceService audioclf: the Kubernetes API answered 422 "
                                            r".*is invalid: spec.predictor.containers.0: Additional properties"):
        deployer_for(fake).deploy(bad, poll_seconds=0.02, timeout_seconds=5)


def test_no_cluster_at_all_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    with pytest.raises(AudioClfError, match="cannot reach Kubernetes to deploy the InferenceService: not in a cluster"):
        isvc.InferenceServiceDeployer()
