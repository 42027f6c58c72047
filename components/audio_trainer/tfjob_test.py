"""The TFJob: its manifest is valid against the Training Operator's CRD and Kubernetes' own schemas,
the checked-in YAML files match, and the launcher runs real workers to success (or a clear failure)
through a local fake of the API server and the operator (tests/fake_k8s.py)."""
import logging
import re

import jsonschema
import kubernetes
import kubernetes_validate
import pytest
import yaml

from sample_artifacts import write_examples  # tests/sample_artifacts.py
from components.audio_trainer.config import KubeflowConfig, ResourcesConfig, TFJobConfig
from components.common.errors import AudioClfError
from components.common.testing import crd_schema, rbac_grants
from components.audio_trainer import tfjob
from trainer import task, worker
from trainer.task_test import RATE, SECONDS
import fake_k8s  # tests/fake_k8s.py (on the path via the root conftest)
from trainer.worker_test import REPO, write_worker_args

CRD = REPO / "kubeflow" / "schemas" / "kubeflow.org_tfjobs.yaml"
KUBERNETES_VERSION = "1.29.0"
GPU_RESOURCES = ResourcesConfig(cpu="8", memory="30Gi", gpus=1, accelerator_type="nvidia-tesla-t4",
                                node_selector={"cloud.google.com/gke-nodepool": "training"})


@pytest.fixture(scope="module")
def tfjob_schema():
    return crd_schema(str(CRD), tfjob.KIND, tfjob.VERSION)   # unknown fields refused (strict field validation)


def validate_tfjob(manifest: dict, schema: dict) -> None:
    jsonschema.Draft202012Validator(schema).validate(manifest)
    name = manifest["metadata"]["name"]   # what the operator's webhook checks beyond the schema
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63


def validate_pod_template(template: dict) -> None:
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "worker"},
                                  "template": template}, KUBERNETES_VERSION, strict=True)


def gpu_manifest(workers: int) -> dict:
    return tfjob.build_manifest(tfjob.job_name("audioclf-train", "gs://b/root/Trainer/model/7"), "kubeflow",
                                "ghcr.io/audioclf/audioclf:0.1.0", tfjob.worker_command("gs://b/root/args.json"),
                                workers, GPU_RESOURCES, "default-editor", 3600, env={"GOOGLE_CLOUD_PROJECT": "demo"},
                                labels={"app.kubernetes.io/name": "audioclf"}, active_deadline_seconds=7200)


@pytest.mark.parametrize("workers", [2, 4])
def test_manifest_is_a_valid_tfjob_with_a_valid_pod_template(workers, tfjob_schema):
    manifest = gpu_manifest(workers)
    validate_tfjob(manifest, tfjob_schema)
    replica = manifest["spec"]["tfReplicaSpecs"]["Worker"]
    validate_pod_template(replica["template"])
    assert replica["replicas"] == workers and replica["restartPolicy"] == "Never"
    assert manifest["spec"]["runPolicy"] == {"cleanPodPolicy": "Running", "ttlSecondsAfterFinished": 3600,
                                             "backoffLimit": 1, "activeDeadlineSeconds": 7200}
    pod = replica["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] == "tensorflow"
    assert container["command"] == ["python", "-m", "trainer.worker", "--args", "gs://b/root/args.json"]
    assert container["resources"] == {"requests": {"cpu": "8", "memory": "30Gi"},
                                      "limits": {"memory": "30Gi", "nvidia.com/gpu": 1}}
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4",
                                   "cloud.google.com/gke-nodepool": "training"}
    assert pod["serviceAccountName"] == "default-editor"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TF_USE_LEGACY_KERAS"] == "1" and env["GOOGLE_CLOUD_PROJECT"] == "demo"


def test_cpu_manifest_asks_for_no_gpu_and_no_node(tfjob_schema):
    manifest = tfjob.manifest_for_config(KubeflowConfig(), "audioclf-train-1", "/args.json")
    validate_tfjob(manifest, tfjob_schema)
    pod = manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    validate_pod_template(manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"])
    assert pod["containers"][0]["resources"]["limits"] == {"memory": "16Gi"} and "nodeSelector" not in pod


def test_validators_reject_a_wrong_type_and_an_unknown_field(tfjob_schema):
    wrong_type = gpu_manifest(2)
    wrong_type["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] = "two"
    with pytest.raises(jsonschema.ValidationError, match="'two' is not of type 'integer'"):
        validate_tfjob(wrong_type, tfjob_schema)
    unknown = gpu_manifest(2)
    unknown["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["gpus"] = 1
    with pytest.raises(jsonschema.ValidationError, match="'gpus' was unexpected"):
        validate_tfjob(unknown, tfjob_schema)
    with pytest.raises(kubernetes_validate.ValidationError, match="gpus"):
        validate_pod_template(unknown["spec"]["tfReplicaSpecs"]["Worker"]["template"])


def test_rbac_is_valid_and_lets_the_runner_do_what_the_launcher_does():
    subjects, granted = rbac_grants(REPO / "kubeflow" / "rbac.yaml", "audioclf-tfjob-launcher", KUBERNETES_VERSION)
    assert subjects == [{"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"}]
    needed = {("kubeflow.org", "tfjobs", verb) for verb in ("create", "get", "delete")} | \
             {("", "pods", "list"), ("", "pods/log", "get")}
    assert needed <= granted


def test_checked_in_template_is_what_the_code_builds(tfjob_schema):
    text = (REPO / "kubeflow" / "tfjob-template.yaml").read_text()
    assert text == tfjob.template_yaml(), \
        "regenerate it: python -m components.audio_trainer.tfjob --template > kubeflow/tfjob-template.yaml"
    validate_tfjob(yaml.safe_load(text), tfjob_schema)


def test_job_names_are_short_stable_dns_labels():
    name = tfjob.job_name("audioclf-train", "gs://bucket/root/Trainer/model/42")
    assert name == tfjob.job_name("audioclf-train", "gs://bucket/root/Trainer/model/42")
    assert name != tfjob.job_name("audioclf-train", "gs://bucket/root/Trainer/model/43")
    for prefix in ("audioclf-train", "9 Odd__Prefix!", "", "x" * 100):
        made = tfjob.job_name(prefix, "u")
        # The operator names pods and services <job>-worker-<index>, DNS-1035 labels of 63 characters at most.
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", made) and len(f"{made}-worker-999") <= 63, made


# The launcher against the fake API server and operator.

@pytest.fixture
def fake(tmp_path):
    with fake_k8s.FakeKubernetes(tmp_path / "pod-logs", env={"CUDA_VISIBLE_DEVICES": ""}) as server:
        yield server


def launcher_for(server) -> tfjob.TFJobLauncher:
    api = server.api_client()
    return tfjob.TFJobLauncher(kubernetes.client.CustomObjectsApi(api), kubernetes.client.CoreV1Api(api))


def python_job(name: str, code: str, workers: int = 1) -> dict:
    return tfjob.build_manifest(name, "kubeflow", "python:3.11", ["python", "-c", code], workers, ResourcesConfig(),
                                "default-editor", 60)


def status_lines(caplog, name):
    """The launcher's status lines for one job, in the order logged."""
    return [r.getMessage() for r in caplog.records
            if r.name == tfjob.__name__ and r.getMessage().startswith(f"TFJob {name} ")]


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    return write_examples(tmp_path_factory.mktemp("tfjob"), RATE, SECONDS, {"train": 12, "eval": 6, "test": 4}).uri


@pytest.mark.slow
def test_two_workers_succeed_and_the_chief_exports(examples, tmp_path, fake, caplog):
    out = tmp_path / "trainer-output"
    args_uri = str(out / worker.ARGS_FILE)
    write_worker_args(args_uri, examples, out)
    name = tfjob.job_name("audioclf-train", str(out))
    manifest = tfjob.manifest_for_config(KubeflowConfig(tfjob=TFJobConfig(workers=2)), name, args_uri)
    with caplog.at_level(logging.INFO, logger=tfjob.__name__):
        status = launcher_for(fake).run(manifest, poll_seconds=0.2, timeout_seconds=280)

    assert tfjob.job_state(status) == "Succeeded" and status["replicaStatuses"]["Worker"] == {"succeeded": 2}
    assert fake.created_bodies() == [manifest]
    logs = [fake.log(f"{name}-worker-{index}") for index in range(2)]
    summaries = [worker.summary_from_log(log) for log in logs]
    assert None not in summaries, "\n\n".join(log[-3000:] for log in logs)
    assert [s["task"] for s in summaries] == ["worker:0", "worker:1"] and {s["replicas"] for s in summaries} == {2}
    assert summaries[0]["weights_sha256"] == summaries[1]["weights_sha256"]
    assert (out / "serving" / "saved_model.pb").exists()
    assert task.read_history(str(out / "run"))["replicas"] == 2
    transitions = status_lines(caplog, name)
    assert f"TFJob {name} Running: 2 active workers" in transitions
    assert transitions[-1] == f"TFJob {name} Succeeded: 2 succeeded workers"
    assert all(a != b for a, b in zip(transitions, transitions[1:]))   # logged on change, not on every poll


@pytest.mark.slow
def test_failed_workers_are_named_with_their_log_tail(examples, tmp_path, fake):
    args_uri = str(tmp_path / worker.ARGS_FILE)
    write_worker_args(args_uri, examples, tmp_path / "out", train_split="nonexistent")
    name = tfjob.job_name("audioclf-train", str(tmp_path))
    with pytest.raises(AudioClfError) as raised:
        launcher_for(fake).run(tfjob.manifest_for_config(KubeflowConfig(), name, args_uri), poll_seconds=0.2,
                               timeout_seconds=180)
    message = str(raised.value)
    assert message.startswith(f"TFJob {name} in namespace kubeflow failed: TFJobFailed: TFJob kubeflow/{name} has "
                              f"failed because")
    assert re.search(rf"worker (0|1) \(pod {name}-worker-\1, exit code 2\), last 20 lines of its log:", message), \
        message
    assert "AudioClfError: no TFRecord files match" in message and "Split-nonexistent" in message


def test_the_log_tail_is_the_last_lines_only(fake):
    code = "import sys\nfor i in range(30): print(f'line {i}')\nsys.exit(1)"
    with pytest.raises(AudioClfError) as raised:
        launcher_for(fake).run(python_job("tail-test", code), poll_seconds=0.1, timeout_seconds=30)
    message = str(raised.value)
    assert "worker 0 (pod tail-test-worker-0, exit code 1), last 20 lines of its log:\n    line 10\n" in message
    assert message.endswith("    line 29") and "line 9\n" not in message


def test_a_job_past_its_timeout_is_deleted(fake):
    with pytest.raises(AudioClfError, match=r"TFJob slow did not finish within 0.03 minutes .*timeout_minutes"):
        launcher_for(fake).run(python_job("slow", "import time; time.sleep(120)"), poll_seconds=0.2,
                               timeout_seconds=1.8)
    deletes = [r.path for r in fake.requests if r.method == "DELETE"]
    assert deletes == ["/apis/kubeflow.org/v1/namespaces/kubeflow/tfjobs/slow"]
    assert not fake.jobs


def test_a_retried_step_waits_for_its_running_job(fake, caplog):
    manifest = python_job("retried", "import time; time.sleep(1)")
    kubernetes.client.CustomObjectsApi(fake.api_client()).create_namespaced_custom_object(
        "kubeflow.org", "v1", "kubeflow", "tfjobs", manifest)
    with caplog.at_level(logging.INFO, logger=tfjob.__name__):
        status = launcher_for(fake).run(manifest, poll_seconds=0.1, timeout_seconds=30)
    assert tfjob.job_state(status) == "Succeeded" and fake.started == ["retried-worker-0"]   # not started twice
    assert "TFJob retried already exists for this Trainer output (a retried step): waiting for it" in caplog.messages


def test_a_retried_step_starts_its_failed_job_again(fake, tmp_path):
    marker = tmp_path / "second-attempt"
    manifest = python_job("again", f"import os, sys; sys.exit(0 if os.path.exists({str(marker)!r}) else 3)")
    kubernetes.client.CustomObjectsApi(fake.api_client()).create_namespaced_custom_object(
        "kubeflow.org", "v1", "kubeflow", "tfjobs", manifest)
    assert tfjob.job_state(fake.wait_finished("kubeflow", "again", 30)["status"]) == "Failed"
    marker.touch()
    status = launcher_for(fake).run(manifest, poll_seconds=0.1, timeout_seconds=30)
    assert tfjob.job_state(status) == "Succeeded" and fake.started == ["again-worker-0", "again-worker-0"]


def test_someone_elses_job_of_the_same_name_is_left_alone(fake):
    theirs = python_job("taken", "import time; time.sleep(30)")
    kubernetes.client.CustomObjectsApi(fake.api_client()).create_namespaced_custom_object(
        "kubeflow.org", "v1", "kubeflow", "tfjobs", theirs)
    with pytest.raises(AudioClfError, match=r"TFJob named taken already exists in namespace kubeflow .*kubectl delete"):
        launcher_for(fake).run(python_job("taken", "print('mine')"), poll_seconds=0.1, timeout_seconds=10)
    assert "taken" in {name for _, name in fake.jobs} and fake.started == ["taken-worker-0"]


@pytest.mark.parametrize("server_options, expected", [
    ({"tfjob_crd": False}, r"no TFJob resource \(kubeflow.org/v1 tfjobs\).*install the Kubeflow Training Operator"),
    ({"forbidden": True}, r"cannot create TFJob denied: not allowed \(403 .*kubectl apply -f kubeflow/rbac.yaml"),
])
def test_cluster_problems_say_what_to_install_or_grant(tmp_path, server_options, expected):
    with fake_k8s.FakeKubernetes(tmp_path, **server_options) as server:
        with pytest.raises(AudioClfError, match=expected):
            launcher_for(server).run(python_job("denied", "print(1)"), poll_seconds=0.1, timeout_seconds=5)
        assert not server.started


def test_no_cluster_at_all_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    with pytest.raises(AudioClfError, match="cannot reach Kubernetes to launch the TFJob: not in a cluster"):
        tfjob.TFJobLauncher()


def test_template_command_line_prints_the_template(capsys):
    assert tfjob.main(["--template"]) == 0
    assert capsys.readouterr().out == tfjob.template_yaml()
