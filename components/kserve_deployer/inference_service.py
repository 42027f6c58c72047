"""The KServe InferenceService (serving.kserve.io/v1beta1) that serves a pushed model, and deploying it.

`build_manifest` makes a custom predictor: one container named `kserve-container` running the serving
image's `python -m serving.server --model /mnt/models ...`, with the pushed version's URI in its
`STORAGE_URI` variable. KServe's storage initializer (an init container its webhook adds to the
predictor pod because of that variable) downloads the URI into `/mnt/models`, and the server loads it
from there. `InferenceServiceDeployer.deploy` creates the service, or updates the one an earlier run
created (optionally as a canary: `spec.predictor.canaryTrafficPercent`), logs its status transitions,
and returns once it is Ready with the new model, or raises AudioClfError with its conditions.
"""
import copy
import logging
import time
from typing import Any, Dict, List, Optional, Tuple

import kubernetes
from kubernetes.client.rest import ApiException

from components.audio_trainer.config import ResourcesConfig
from components.common import kube
from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

GROUP, VERSION, PLURAL, KIND = "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"
# KServe's name for the predictor's serving container: the one whose STORAGE_URI the storage initializer
# downloads and which gets /mnt/models mounted.
CONTAINER = "kserve-container"
STORAGE_URI_ENV = "STORAGE_URI"
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
MODEL_URI_ANNOTATION = "audioclf/model-uri"
MODEL_VERSION_ANNOTATION = "audioclf/model-version"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "audioclf"
LABELS = {"app.kubernetes.io/name": "audioclf", "app.kubernetes.io/component": "model-server",
          MANAGED_BY_LABEL: MANAGER}
# What KServe's storage initializer can download (its SupportedStorageURIPrefixList, v0.15).
STORAGE_PREFIXES = ("gs://", "s3://", "pvc://", "file://", "https://", "http://", "hdfs://", "webhdfs://", "oci://",
                    "hf://")
# modelStatus.transitionStatus values after which waiting longer does not help: the storage initializer
# or the server failed to load the model, or the controller refused the spec.
FAILED_TRANSITIONS = ("BlockedByFailedLoad", "InvalidSpec")
READY = "Ready"
# Updates that meet a concurrent change (409 Conflict) are read again and retried this often.
MAX_CONFLICTS = 3


def build_manifest(name: str, namespace: str, image: str, command: List[str], port: int, model_uri: str,
                   model_version: str, resources: ResourcesConfig, service_account: str = "",
                   deployment_mode: str = "", min_replicas: int = 1, max_replicas: int = 0,
                   canary_traffic_percent: int = 0, health_path: str = "/v2/health/ready") -> Dict[str, Any]:
    """The InferenceService serving `model_uri` with `command` (the model at /mnt/models) on `port`.
    `canary_traffic_percent` > 0 sets the predictor's canary share (KServe applies it to an update only)."""
    container = {
        "name": CONTAINER,
        "image": image,
        "command": list(command),
        "env": [{"name": STORAGE_URI_ENV, "value": model_uri}, {"name": "PYTHONUNBUFFERED", "value": "1"}],
        "ports": [{"containerPort": int(port), "protocol": "TCP"}],
        # The server listens only once the model is loaded; the probe also checks the server's own view.
        # Knative accepts a probe port only when it is the container port.
        "readinessProbe": {"httpGet": {"path": health_path, "port": int(port)}},
        "resources": resources.container_resources(),
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    predictor: Dict[str, Any] = {"minReplicas": int(min_replicas), "containers": [container]}
    if max_replicas:
        predictor["maxReplicas"] = int(max_replicas)
    if service_account:
        predictor["serviceAccountName"] = service_account
    node_labels = resources.node_labels()
    if node_labels:
        predictor["nodeSelector"] = dict(sorted(node_labels.items()))
    if canary_traffic_percent:
        predictor["canaryTrafficPercent"] = int(canary_traffic_percent)
    annotations = {MODEL_URI_ANNOTATION: model_uri, MODEL_VERSION_ANNOTATION: str(model_version)}
    if deployment_mode:
        annotations[DEPLOYMENT_MODE_ANNOTATION] = deployment_mode
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(LABELS), "annotations": annotations},
        "spec": {"predictor": predictor},
    }


def check_storage_uri(uri: str) -> None:
    """Refuses a model location KServe's storage initializer cannot download (a local path, e.g.)."""
    if not uri.startswith(STORAGE_PREFIXES):
        raise AudioClfError(f"the pushed model is at {uri!r}, which KServe's storage initializer cannot download "
                            f"(it reads {', '.join(p.rstrip('/') for p in STORAGE_PREFIXES)}); push to shared storage: "
                            f"set pusher.serving_dir (or kubeflow.pipeline_root) to e.g. gs://bucket/serving.")


def condition(status: Dict[str, Any], kind: str) -> Dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def describe_status(name: str, status: Dict[str, Any]) -> str:
    """One line: e.g. "InferenceService audioclf: Ready=True; revision audioclf-predictor-00002 (ready);
    traffic audioclf-predictor-00002 10%, audioclf-predictor-00001 90%"."""
    ready = condition(status, READY)
    text = f"InferenceService {name}: Ready={ready.get('status', 'Unknown')}"
    if ready.get("status") != "True" and (ready.get("reason") or ready.get("message")):
        text += f" ({': '.join(v for v in (ready.get('reason'), ready.get('message')) if v)})"
    predictor = (status.get("components") or {}).get("predictor") or {}
    created, ready_revision = predictor.get("latestCreatedRevision"), predictor.get("latestReadyRevision")
    if created:
        text += f"; revision {created} ({'ready' if created == ready_revision else 'not ready yet'})"
    traffic = [f"{t.get('revisionName', 'latest')} {t.get('percent', 0)}%" for t in predictor.get("traffic") or []]
    if traffic:
        text += f"; traffic {', '.join(traffic)}"
    transition = (status.get("modelStatus") or {}).get("transitionStatus")
    if transition and transition != "UpToDate":
        text += f"; model {transition}"
    return text


def conditions_text(status: Dict[str, Any]) -> str:
    """Every condition (Ready first) and the model status, one per line, for an error message."""
    conditions = sorted(status.get("conditions") or [], key=lambda c: (c.get("type") != READY, c.get("type", "")))
    lines = [f"  {c.get('type')}={c.get('status')}"
             + (f" {c.get('reason')}" if c.get("reason") else "")
             + (f": {c.get('message')}" if c.get("message") else "") for c in conditions]
    model = status.get("modelStatus") or {}
    failure = model.get("lastFailureInfo") or {}
    if model.get("transitionStatus"):
        lines.append(f"  model status: {model['transitionStatus']}"
                     + (f", {failure.get('reason')}" if failure.get("reason") else "")
                     + (f": {failure.get('message')}" if failure.get("message") else ""))
    return "\n".join(lines) if lines else "  (no conditions reported: is the KServe controller running?)"


def _contains(whole: Any, part: Any) -> bool:
    """Whether `whole` holds everything `part` states (KServe's webhook adds defaults, never changes a value
    we set), lists element by element."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and _contains(whole[k], v) for k, v in part.items())
    if isinstance(part, list):
        return isinstance(whole, list) and len(whole) == len(part) and all(map(_contains, whole, part))
    return whole == part


def _without_canary(predictor: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in predictor.items() if k != "canaryTrafficPercent"}


class InferenceServiceDeployer:
    """Creates or updates an InferenceService and waits for it. The API defaults to the cluster the process
    runs in (the step pod's service account), else the local kubeconfig."""

    def __init__(self, custom_api: Optional[kubernetes.client.CustomObjectsApi] = None):
        self.custom_api = custom_api or kubernetes.client.CustomObjectsApi(_default_api_client())

    def deploy(self, manifest: Dict[str, Any], poll_seconds: float, timeout_seconds: float) -> Dict[str, Any]:
        """Applies `manifest` and returns the service once it is Ready with it; AudioClfError when it does
        not become Ready within `timeout_seconds` (or its model fails to load), naming its conditions.

        Created: `canaryTrafficPercent` is dropped (there is no earlier model to keep serving). Updated: the
        manifest's spec replaces the service's, canary share included; a retried step that applies the same
        manifest again changes nothing and finds the service Ready."""
        deadline = time.monotonic() + timeout_seconds
        fresh, expect_new, previous = self._apply(manifest, poll_seconds)
        return self._wait(manifest, fresh, expect_new, previous, poll_seconds, deadline, timeout_seconds)

    # Create or update.

    def _apply(self, manifest: Dict[str, Any], poll_seconds: float) -> Tuple[bool, bool, str]:
        """(created, a new revision is expected, the latest revision before) after creating or updating."""
        name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
        for _ in range(MAX_CONFLICTS + 1):
            existing = self._call(lambda: self._get(name, namespace), f"read InferenceService {name}", poll_seconds)
            if existing is None:
                first = copy.deepcopy(manifest)
                first["spec"]["predictor"].pop("canaryTrafficPercent", None)
                if self._call(lambda: self._create(first), f"create InferenceService {name}", poll_seconds):
                    log.info("created InferenceService %s in namespace %s: %s", name, namespace, _summary(first))
                    return True, True, ""
                continue   # created meanwhile (e.g. an earlier try whose answer was lost): update it
            self._check_ours(existing, manifest)
            updated = _updated(existing, manifest)
            before = existing.get("spec", {}).get("predictor", {})
            expect_new = not _contains(_without_canary(before), _without_canary(manifest["spec"]["predictor"]))
            previous = (((existing.get("status") or {}).get("components") or {}).get("predictor") or {}).get(
                "latestCreatedRevision", "")
            if self._call(lambda: self._replace(updated), f"update InferenceService {name}", poll_seconds):
                canary = updated["spec"]["predictor"].get("canaryTrafficPercent")
                log.info("updated InferenceService %s in namespace %s: %s%s%s", name, namespace, _summary(updated),
                         f"; canary: {canary}% of traffic to the new model, the rest to the last rolled-out one"
                         if canary else "", "" if expect_new else " (unchanged: this model was deployed already)")
                return False, expect_new, previous
        raise AudioClfError(f"InferenceService {name} in namespace {namespace} kept changing while this step updated "
                            f"it ({MAX_CONFLICTS + 1} conflicts); is another pipeline run deploying it? Run the step "
                            f"again.")

    def _call(self, action, what: str, poll_seconds: float):
        """`action()`, tried again after transient errors (up to kube.MAX_TRANSIENT_ERRORS in a row)."""
        errors = kube.ErrorsInARow()
        while True:
            try:
                with kube.transient_errors():
                    return action()
            except kube.TransientError as err:
                if errors.too_many():
                    raise AudioClfError(f"cannot {what}: lost contact with the Kubernetes API ({err}); run the step "
                                        f"again.") from err
                log.warning("%s failed (%s); trying again", what, err)
                time.sleep(poll_seconds)

    def _get(self, name: str, namespace: str) -> Optional[Dict[str, Any]]:
        try:
            return self.custom_api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as err:
            if err.status == 404 and _is_not_found_object(err):
                return None
            if err.status == 429 or err.status >= 500:
                raise
            raise _api_error(err, f"read InferenceService {name}", namespace) from err

    def _create(self, manifest: Dict[str, Any]) -> bool:
        """True when created, False when one of that name exists already."""
        namespace = manifest["metadata"]["namespace"]
        try:
            self.custom_api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest,
                                                            field_manager=MANAGER)
            return True
        except ApiException as err:
            if err.status == 409:
                return False
            if err.status == 429 or err.status >= 500:
                raise
            raise _api_error(err, f"create InferenceService {manifest['metadata']['name']}", namespace) from err

    def _replace(self, body: Dict[str, Any]) -> bool:
        """True when replaced, False on a conflict (someone changed it since it was read)."""
        name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
        try:
            self.custom_api.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, body,
                                                             field_manager=MANAGER)
            return True
        except ApiException as err:
            if err.status == 409:
                log.info("InferenceService %s changed while it was being updated: reading it again", name)
                return False
            if err.status == 429 or err.status >= 500:
                raise
            raise _api_error(err, f"update InferenceService {name}", namespace) from err

    @staticmethod
    def _check_ours(existing: Dict[str, Any], manifest: Dict[str, Any]) -> None:
        """An InferenceService of that name that this project did not create is someone else's: left alone."""
        labels = existing.get("metadata", {}).get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) != MANAGER:
            name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
            raise AudioClfError(f"an InferenceService named {name} already exists in namespace {namespace} but was not "
                                f"deployed by audioclf (no label {MANAGED_BY_LABEL}={MANAGER}), so it is left alone; "
                                f"set kubeflow.kserve.name to another name, or delete it (kubectl delete "
                                f"inferenceservice -n {namespace} {name}) and run the step again.")

    # Wait.

    def _wait(self, manifest: Dict[str, Any], fresh: bool, expect_new: bool, previous: str, poll_seconds: float,
              deadline: float, timeout_seconds: float) -> Dict[str, Any]:
        name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
        last_line, errors, status = None, kube.ErrorsInARow(), {}
        while True:
            try:
                with kube.transient_errors():
                    service = self._get(name, namespace)
                errors.success()
            except kube.TransientError as err:
                if errors.too_many():
                    raise AudioClfError(f"lost contact with the Kubernetes API while waiting for InferenceService "
                                        f"{name} ({err}); see kubectl get inferenceservice -n {namespace} {name}.") \
                        from err
                log.warning("reading InferenceService %s failed (%s); trying again", name, err)
            else:
                if service is None:
                    raise AudioClfError(f"InferenceService {name} in namespace {namespace} was deleted while this "
                                        f"step waited for it; run the step again.")
                status = service.get("status") or {}
                line = describe_status(name, status)
                if line != last_line:
                    log.info("%s", line)
                    last_line = line
                state = progress(status, fresh, expect_new, previous)
                if state == "ready":
                    return service
                if state == "failed":
                    raise AudioClfError(f"InferenceService {name} in namespace {namespace} cannot serve the new "
                                        f"model:\n{conditions_text(status)}\n{_what_to_do(name, namespace)}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AudioClfError(f"InferenceService {name} in namespace {namespace} did not become Ready with the "
                                    f"new model within {timeout_seconds / 60:g} minutes (kubeflow.kserve."
                                    f"timeout_minutes); its conditions:\n{conditions_text(status)}\n"
                                    f"{_what_to_do(name, namespace)}")
            time.sleep(min(poll_seconds, remaining))


def progress(status: Dict[str, Any], fresh: bool, expect_new: bool, previous: str) -> str:
    """"ready", "failed" or "waiting", for a service just created (`fresh`) or updated (`expect_new`: its
    predictor changed, so Knative makes a new revision after `previous`).

    Serverless (Knative) reports revisions: ready is Ready=True with the newest revision created after the
    update being the newest ready one. RawDeployment reports none, so Ready=True is taken as it comes
    (kubeflow/README.md: not verified on a cluster). A failed model load counts only once the status is
    known to describe the new spec."""
    predictor = (status.get("components") or {}).get("predictor") or {}
    created, ready_revision = predictor.get("latestCreatedRevision", ""), predictor.get("latestReadyRevision", "")
    raw = status.get("deploymentMode") == "RawDeployment"
    about_new_spec = fresh or not expect_new or bool(created and created != previous)
    if condition(status, READY).get("status") == "True" and (raw or (about_new_spec and created == ready_revision)):
        return "ready"
    if about_new_spec and (status.get("modelStatus") or {}).get("transitionStatus") in FAILED_TRANSITIONS:
        return "failed"
    return "waiting"


def service_url(service: Dict[str, Any]) -> str:
    """The URL callers use (status.url: through the ingress), else the cluster-local address."""
    status = service.get("status") or {}
    return status.get("url") or ((status.get("address") or {}).get("url")) or ""


def _updated(existing: Dict[str, Any], manifest: Dict[str, Any]) -> Dict[str, Any]:
    """The existing object with the manifest's spec, labels and annotations (others' labels and annotations
    kept), ready for a replace: its resourceVersion makes a concurrent change a 409, not a lost update."""
    body = {key: copy.deepcopy(existing[key]) for key in ("apiVersion", "kind", "metadata") if key in existing}
    metadata = body.setdefault("metadata", {})
    for key in ("labels", "annotations"):
        merged = dict(metadata.get(key) or {})
        merged.update(manifest["metadata"].get(key) or {})
        metadata[key] = merged
    body["spec"] = copy.deepcopy(manifest["spec"])
    return body


def _summary(manifest: Dict[str, Any]) -> str:
    container = manifest["spec"]["predictor"]["containers"][0]
    uri = next(e["value"] for e in container["env"] if e["name"] == STORAGE_URI_ENV)
    return f"image {container['image']}, model {uri}"


def _is_not_found_object(err: ApiException) -> bool:
    """A 404 for the object itself (a Status naming inferenceservices), not for a missing resource type or
    namespace."""
    return "inferenceservices" in kube.status_message(err) and "not found" in kube.status_message(err)


def _what_to_do(name: str, namespace: str) -> str:
    return (f"A previous model, if any, keeps serving. Look at: kubectl describe inferenceservice -n {namespace} "
            f"{name}; the predictor pods' events and logs (kubectl get pods -n {namespace} -l "
            f"serving.kserve.io/inferenceservice={name}; kubectl logs POD -c storage-initializer, or -c {CONTAINER}). "
            f"Typical causes: the serving image cannot be pulled (kubeflow.kserve.image), the predictor's service "
            f"account cannot read the model (kubeflow.kserve.service_account), too little memory "
            f"(kubeflow.kserve.resources).")


def _api_error(err: ApiException, action: str, namespace: str) -> AudioClfError:
    return kube.api_error(
        err, action, credentials="check the step pod's service account token or your kubeconfig.",
        forbidden=f"let the pipeline's service account get, create and update InferenceServices in namespace "
                  f"{namespace}: kubectl apply -f kubeflow/rbac.yaml (see kubeflow/README.md, Deploying with KServe).",
        missing=f"the cluster has no InferenceService resource ({GROUP}/{VERSION} {PLURAL}) or no namespace "
                f"{namespace}",
        missing_hint="install KServe (see kubeflow/README.md, Deploying with KServe) or set kubeflow.kserve.namespace "
                     "to an existing namespace.")


def _default_api_client() -> kubernetes.client.ApiClient:
    return kube.api_client("deploy the InferenceService", "run the deploy step in Kubeflow Pipelines, or point "
                                                          "KUBECONFIG at a cluster with KServe.")
