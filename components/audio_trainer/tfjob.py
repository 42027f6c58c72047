"""Multi-worker training as a Kubeflow Training Operator TFJob (kubeflow.trainer_launcher: tfjob).

`build_manifest` makes the TFJob: N Worker replicas running the same image and the same entry point
(`python -m trainer.worker --args URI`, see trainer/worker.py); the operator gives each its TF_CONFIG
and worker 0 is the chief. `TFJobLauncher.run` creates it, logs its status transitions while it
runs, and returns its final status, or raises AudioClfError naming the failed workers with the end
of their logs. kubeflow/README.md says what the cluster needs (the operator, kubeflow/rbac.yaml).

`python -m components.audio_trainer.tfjob --template` prints the manifest for the default config
(kubeflow/tfjob-template.yaml is that output).
"""
import argparse
import hashlib
import logging
import math
import re
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import kubernetes
import yaml
from kubernetes.client.rest import ApiException

from components.audio_trainer.config import KubeflowConfig, ResourcesConfig
from components.common import kube
from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1", "tfjobs", "TFJob"
WORKER = "Worker"
# The operator sets TF_CONFIG and the port only in the container with this name.
CONTAINER = "tensorflow"
# Labels the operator puts on every pod of a job.
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
LOG_TAIL_LINES = 20
# Pods and services are named <job>-worker-<index>: the job name leaves room for that in 63 characters.
MAX_JOB_NAME = 45
TEMPLATE_PREFIX = "audioclf-train"
TEMPLATE_TRAINER_OUTPUT = "<pipeline_root>/<trainer output>"


def worker_command(args_uri: str) -> List[str]:
    return ["python", "-m", "trainer.worker", "--args", args_uri]


def job_name(prefix: str, unique: str) -> str:
    """A DNS-1035 label (what the operator's webhook requires) made of `prefix` and a short hash of
    `unique` (e.g. the Trainer's output URI): the same Trainer output always gives the same name, so a
    retried step finds its job instead of starting a second one."""
    digest = hashlib.sha256(unique.encode("utf-8")).hexdigest()[:10]
    stem = re.sub(r"[^a-z0-9]+", "-", prefix.lower()).strip("-")
    stem = stem[:MAX_JOB_NAME - len(digest) - 1].rstrip("-")
    if not stem or not stem[0].isalpha():
        stem = ("tfjob-" + stem).rstrip("-")[:MAX_JOB_NAME - len(digest) - 1]
    return f"{stem}-{digest}"


def build_manifest(name: str, namespace: str, image: str, command: List[str], workers: int,
                   resources: ResourcesConfig, service_account: str, ttl_seconds_after_finished: int,
                   env: Optional[Dict[str, str]] = None, labels: Optional[Dict[str, str]] = None,
                   active_deadline_seconds: Optional[int] = None) -> Dict[str, Any]:
    """The TFJob (kubeflow.org/v1) running `command` in `workers` Worker replicas, each with `resources`."""
    labels = dict(labels or {})
    run_policy = {
        # Running: when the job ends, pods still running (e.g. the other workers after one failed) are
        # deleted, so they do not wait for their peer forever holding GPUs; finished pods, and so the
        # failed worker's log, stay until the TTL deletes the job.
        "cleanPodPolicy": "Running",
        "ttlSecondsAfterFinished": int(ttl_seconds_after_finished),
        # With restartPolicy Never no pod is ever restarted; the limit only bounds restarts should the
        # policy change. Not 0: the v1.9 operator then deletes every pod on the first failure, before
        # the job is marked Failed, and the failed worker's log is lost.
        "backoffLimit": 1,
    }
    if active_deadline_seconds:
        # The operator stops the job even if the Trainer step that waits for it is gone.
        run_policy["activeDeadlineSeconds"] = int(active_deadline_seconds)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "runPolicy": run_policy,
            # The job succeeds when every worker has exited 0 (the default waits for worker 0 only and
            # then kills the others, possibly before they have logged their final summary).
            "successPolicy": "AllWorkers",
            "tfReplicaSpecs": {
                WORKER: {
                    "replicas": int(workers),
                    # Never: a worker that exits non-zero fails the whole job at once. Restarting it
                    # (OnFailure/ExitCode) cannot help: the Trainer keeps no checkpoint to resume from,
                    # and MultiWorkerMirroredStrategy's collectives stall the other workers meanwhile.
                    # A retry is the pipeline's business (a retried Trainer step starts a new job).
                    "restartPolicy": "Never",
                    "template": _pod_template(image, command, resources, service_account, env or {}, labels),
                },
            },
        },
    }


def _pod_template(image: str, command: List[str], resources: ResourcesConfig, service_account: str,
                  env: Dict[str, str], labels: Dict[str, str]) -> Dict[str, Any]:
    # TF_USE_LEGACY_KERAS must be set before TensorFlow is imported (trainer/__init__.py sets it too);
    # unbuffered output lets the log tail show the last thing a worker did before it died.
    variables = {"TF_USE_LEGACY_KERAS": "1", "PYTHONUNBUFFERED": "1", **env}
    spec = {
        "serviceAccountName": service_account,
        # The image runs as a numeric non-root user (docker/Dockerfile), which the kubelet can verify.
        "securityContext": {"runAsNonRoot": True},
        "containers": [{
            "name": CONTAINER,
            "image": image,
            "command": list(command),
            "env": [{"name": key, "value": str(value)} for key, value in sorted(variables.items())],
            "resources": resources.container_resources(),
            "securityContext": {"allowPrivilegeEscalation": False},
        }],
    }
    node_labels = resources.node_labels()
    if node_labels:
        spec["nodeSelector"] = dict(sorted(node_labels.items()))
    # Kubeflow profile namespaces inject an Istio sidecar, which keeps a pod running after its worker
    # exits (the job would never finish) and sits between the workers' gRPC connections.
    metadata = {"labels": dict(labels), "annotations": {"sidecar.istio.io/inject": "false"}}
    return {"metadata": metadata, "spec": spec}


def manifest_for_config(kubeflow: KubeflowConfig, name: str, args_uri: str, env: Optional[Dict[str, str]] = None,
                        labels: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """`build_manifest` with the settings of the kubeflow config section (trainer resources per worker)."""
    tfjob = kubeflow.tfjob
    return build_manifest(name, tfjob.namespace, kubeflow.image, worker_command(args_uri), tfjob.workers,
                          kubeflow.trainer, tfjob.service_account, tfjob.ttl_seconds_after_finished, env=env,
                          labels={"app.kubernetes.io/name": "audioclf", "app.kubernetes.io/component": "trainer",
                                  **(labels or {})},
                          active_deadline_seconds=math.ceil(tfjob.timeout_minutes * 60))


def template_yaml(kubeflow: Optional[KubeflowConfig] = None) -> str:
    """The manifest for a config (default: the default one), with placeholders for the Trainer output."""
    from trainer.worker import ARGS_FILE  # pylint: disable=import-outside-toplevel  (it imports TensorFlow)

    kubeflow = kubeflow or KubeflowConfig()
    manifest = manifest_for_config(kubeflow, job_name(TEMPLATE_PREFIX, TEMPLATE_TRAINER_OUTPUT),
                                   f"{TEMPLATE_TRAINER_OUTPUT}/{ARGS_FILE}")
    header = ("# The TFJob the Trainer step creates with kubeflow.trainer_launcher: tfjob, for the default config.\n"
              "# Generated by `python -m components.audio_trainer.tfjob --template`; do not edit "
              "(components/audio_trainer/tfjob_test.py checks it).\n")
    return header + yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)


class TFJobLauncher:
    """Creates a TFJob and waits for it. The APIs default to the cluster the process runs in (the
    Trainer pod's service account), else the local kubeconfig."""

    def __init__(self, custom_api: Optional[kubernetes.client.CustomObjectsApi] = None,
                 core_api: Optional[kubernetes.client.CoreV1Api] = None):
        if custom_api is None or core_api is None:
            api_client = _default_api_client()
            custom_api = custom_api or kubernetes.client.CustomObjectsApi(api_client)
            core_api = core_api or kubernetes.client.CoreV1Api(api_client)
        self.custom_api = custom_api
        self.core_api = core_api

    def run(self, manifest: Dict[str, Any], poll_seconds: float, timeout_seconds: float) -> Dict[str, Any]:
        """Creates the job (or finds the one an earlier attempt of the same step created), waits for it
        and returns its final status; AudioClfError if it fails or does not finish in time."""
        name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
        deadline = time.monotonic() + timeout_seconds
        self._create_or_adopt(manifest)
        last_line, errors = None, kube.ErrorsInARow()
        while True:
            try:
                job = self._get(name, namespace)
                errors.success()
            except kube.TransientError as err:
                if errors.too_many():
                    raise AudioClfError(f"lost contact with the Kubernetes API while waiting for TFJob {name} ({err}); "
                                        f"it may still be running: kubectl get tfjob -n {namespace} {name}.") from err
                log.warning("reading TFJob %s failed (%s); trying again", name, err)
                job = None
            if job is not None:
                status = job.get("status") or {}
                line = describe_status(name, status)
                if line != last_line:
                    log.info("%s", line)
                    last_line = line
                state = job_state(status)
                if state == "Succeeded":
                    return status
                if state == "Failed":
                    raise AudioClfError(self._failure_message(name, namespace, status))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._delete(name, namespace)
                raise AudioClfError(f"TFJob {name} did not finish within {timeout_seconds / 60:g} minutes "
                                    f"(kubeflow.tfjob.timeout_minutes), so it was deleted; last seen: "
                                    f"{last_line or 'never read'}. "
                                    f"Raise the timeout, or shrink trainer.epochs / trainer.steps_per_epoch.")
            time.sleep(min(poll_seconds, remaining))

    def _create_or_adopt(self, manifest: Dict[str, Any]) -> None:
        """A retried Trainer step computes the same job name (job_name of its output URI). A job of that
        name running the same command is ours: while it runs or after it succeeded we wait for it rather
        than train twice; if it failed, it is deleted and created again so that the retry retries. A job
        running another command is someone else's and is left alone."""
        name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
        try:
            self._create(manifest)
            return
        except ApiException as err:
            if err.status != 409:
                raise _api_error(err, f"create TFJob {name}", namespace) from err
        existing = self._get(name, namespace)
        if _worker_argv(existing) != _worker_argv(manifest):
            raise AudioClfError(f"a TFJob named {name} already exists in namespace {namespace} but runs "
                                f"{_worker_argv(existing)}, not {_worker_argv(manifest)}; delete it "
                                f"(kubectl delete tfjob -n {namespace} {name}) and run the step again.")
        if job_state(existing.get("status") or {}) != "Failed":
            log.info("TFJob %s already exists for this Trainer output (a retried step): waiting for it", name)
            return
        log.info("TFJob %s from an earlier attempt of this step failed: deleting it and starting again", name)
        self._delete(name, namespace)
        self._wait_gone(name, namespace)
        try:
            self._create(manifest)
        except ApiException as err:
            raise _api_error(err, f"create TFJob {name}", namespace) from err

    def _create(self, manifest: Dict[str, Any]) -> None:
        self.custom_api.create_namespaced_custom_object(GROUP, VERSION, manifest["metadata"]["namespace"], PLURAL,
                                                        manifest)
        log.info("created TFJob %s in namespace %s: %d workers running %s", manifest["metadata"]["name"],
                 manifest["metadata"]["namespace"], manifest["spec"]["tfReplicaSpecs"][WORKER]["replicas"],
                 " ".join(_worker_argv(manifest)))

    def _get(self, name: str, namespace: str) -> Dict[str, Any]:
        try:
            with kube.transient_errors():
                return self.custom_api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as err:
            if err.status == 404:
                raise AudioClfError(f"TFJob {name} in namespace {namespace} is gone (deleted by someone else, or "
                                    f"by its TTL); run the step again.") from err
            raise _api_error(err, f"read TFJob {name}", namespace) from err

    def _delete(self, name: str, namespace: str) -> None:
        # Foreground: the job object stays until its pods are gone, so a job created again under the
        # same name does not meet the old pods.
        try:
            self.custom_api.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name,
                body=kubernetes.client.V1DeleteOptions(propagation_policy="Foreground"))
        except ApiException as err:
            if err.status != 404:
                raise _api_error(err, f"delete TFJob {name}", namespace) from err

    def _wait_gone(self, name: str, namespace: str, timeout_seconds: float = 300.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            try:
                self.custom_api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            except ApiException as err:
                if err.status == 404:
                    return
                raise _api_error(err, f"read TFJob {name}", namespace) from err
            time.sleep(1.0)
        raise AudioClfError(f"TFJob {name} in namespace {namespace} was deleted but is still there after "
                            f"{timeout_seconds:g} s; delete it by hand (kubectl delete tfjob -n {namespace} {name}).")

    def _failure_message(self, name: str, namespace: str, status: Dict[str, Any]) -> str:
        condition = next((c for c in reversed(status.get("conditions") or []) if c.get("type") == "Failed"), {})
        lines = [f"TFJob {name} in namespace {namespace} failed: {condition.get('reason', 'Failed')}: "
                 f"{condition.get('message', '(no message)')}"]
        try:
            pods = self._failed_worker_pods(name, namespace)
        except ApiException as err:
            return "\n".join(lines + [f"(cannot list its pods: {err.status} {kube.status_message(err)}; "
                                      f"apply kubeflow/rbac.yaml to read the workers' logs here)"])
        if not pods:
            lines.append(f"No failed worker pod is left to read a log from; see kubectl describe tfjob -n {namespace} "
                         f"{name}.")
        for pod in pods:
            lines.append(f"worker {pod.metadata.labels.get(REPLICA_INDEX_LABEL, '?')} (pod {pod.metadata.name}"
                         f"{_exit_code_text(pod)}), last {LOG_TAIL_LINES} lines of its log:")
            lines.extend("    " + line for line in self._log_tail(pod.metadata.name, namespace))
        return "\n".join(lines)

    def _failed_worker_pods(self, name: str, namespace: str) -> list:
        selector = f"{JOB_NAME_LABEL}={name},{REPLICA_TYPE_LABEL}={WORKER.lower()}"
        pods = self.core_api.list_namespaced_pod(namespace, label_selector=selector).items
        failed = [p for p in pods if p.status is not None and p.status.phase == "Failed"]
        return sorted(failed, key=lambda p: int(p.metadata.labels.get(REPLICA_INDEX_LABEL, "0")))

    def _log_tail(self, pod_name: str, namespace: str) -> List[str]:
        # Raw bytes: the client would otherwise parse a log that happens to be valid JSON into a dict.
        try:
            response = self.core_api.read_namespaced_pod_log(pod_name, namespace, container=CONTAINER,
                                                              tail_lines=LOG_TAIL_LINES, _preload_content=False)
            return response.data.decode("utf-8", errors="replace").splitlines() or ["(empty log)"]
        except ApiException as err:
            return [f"(log unavailable: {err.status} {kube.status_message(err)})"]


def job_state(status: Dict[str, Any]) -> str:
    """Failed, Succeeded, or the latest true condition (Created, Running, Restarting, ...); Pending if none."""
    true_types = [c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"]
    for final in ("Failed", "Succeeded"):
        if final in true_types:
            return final
    return true_types[-1] if true_types else "Pending"


def describe_status(name: str, status: Dict[str, Any]) -> str:
    """e.g. "TFJob audioclf-train-ab12 Running: 2 active workers"."""
    counts = (status.get("replicaStatuses") or {}).get(WORKER) or {}
    parts = [f"{counts[kind]} {kind}" for kind in ("active", "succeeded", "failed") if counts.get(kind)]
    return f"TFJob {name} {job_state(status)}: {', '.join(parts) + ' workers' if parts else 'no workers yet'}"


def _worker_argv(job: Dict[str, Any]) -> List[str]:
    template = job["spec"]["tfReplicaSpecs"][WORKER]["template"]
    container = next((c for c in template["spec"]["containers"] if c.get("name") == CONTAINER), {})
    return list(container.get("command") or []) + list(container.get("args") or [])


def _exit_code_text(pod) -> str:
    for container in (pod.status.container_statuses or []):
        terminated = container.state.terminated if container.state else None
        if container.name == CONTAINER and terminated is not None:
            return f", exit code {terminated.exit_code}"
    return ""


def _api_error(err: ApiException, action: str, namespace: str) -> AudioClfError:
    return kube.api_error(
        err, action, credentials="check the Trainer pod's service account token or your kubeconfig.",
        forbidden=f"let the pipeline's service account create TFJobs and read pods and their logs in namespace "
                  f"{namespace}: kubectl apply -f kubeflow/rbac.yaml (see kubeflow/README.md).",
        missing=f"the cluster has no TFJob resource ({GROUP}/{VERSION} {PLURAL}) or no namespace {namespace}",
        missing_hint="install the Kubeflow Training Operator (see kubeflow/README.md) or set kubeflow.tfjob.namespace "
                     "to an existing namespace.")


def _default_api_client() -> kubernetes.client.ApiClient:
    return kube.api_client("launch the TFJob", "run the Trainer step in Kubeflow Pipelines, or point KUBECONFIG at a "
                                               "cluster with the Training Operator.")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.audio_trainer.tfjob", description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", action="store_true", required=True,
                        help="print the TFJob manifest for the default config (kubeflow/tfjob-template.yaml)")
    parser.parse_args(argv)
    sys.stdout.write(template_yaml())
    return 0


if __name__ == "__main__":
    sys.exit(main())
