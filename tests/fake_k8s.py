"""A local stand-in for the Kubernetes API server, the Kubeflow Training Operator and KServe, for tests.

`FakeKubernetes` serves, over plain HTTP on 127.0.0.1, the few REST calls components/audio_trainer/tfjob.py makes with
the `kubernetes` client: create/get/delete of kubeflow.org/v1 TFJobs, listing pods by label and
reading a pod's log. On create it does what the operator (v1.9) would: validates the job like its
webhook, starts one local process per Worker replica running the `tensorflow` container's command
with its env plus a TF_CONFIG on free localhost ports, and keeps the job's status (conditions,
replicaStatuses) up to date, honouring successPolicy and cleanPodPolicy. Every request is recorded
(`requests`) so that tests can check what was sent.

Not modelled: restarts (only restartPolicy Never is accepted), ttlSecondsAfterFinished,
activeDeadlineSeconds, other replica types, resources and node selection.

It also serves get/create/replace of serving.kserve.io/v1beta1 InferenceServices (components/kserve_deployer/)
like an API server with the vendored KServe v0.15.2 CRD (kubeflow/schemas/): the body is checked against
the CRD's schema with unknown fields refused, a replace must carry the stored resourceVersion (else 409),
and `metadata.generation` counts spec changes. Its controller acts like KServe in Serverless mode: a
change of the predictor (other than canaryTrafficPercent) makes a new Knative revision
(<name>-predictor-00001, ...), which after `isvc_ready_after` reconciles is ready (`isvc_behaviour`
"ready"), or never is: "image_pull_error" (the revision fails; Ready=False with Knative's reason) or
"model_load_error" (the storage initializer fails: modelStatus BlockedByFailedLoad). Traffic follows
KServe's rule: with canaryTrafficPercent and a rolled-out revision, the new revision gets that share and
the last rolled-out one the rest; otherwise the new one gets all and becomes the rolled-out one. No pod
runs: nothing downloads the model or serves it (RawDeployment mode is not modelled either).
"""
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlparse

import jsonschema
import kubernetes

from components.common.testing import crd_schema

REPO = Path(__file__).resolve().parents[1]
CONTAINER = "tensorflow"
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
TFJOBS = re.compile(r"^/apis/kubeflow\.org/v1/namespaces/(?P<ns>[^/]+)/tfjobs(?:/(?P<name>[^/]+))?$")
PODS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$")
POD_LOG = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<pod>[^/]+)/log$")
ISVCS = re.compile(r"^/apis/serving\.kserve\.io/v1beta1/namespaces/(?P<ns>[^/]+)/inferenceservices(?:/(?P<name>[^/]+))?$")
ISVC_CRD = REPO / "kubeflow" / "schemas" / "serving.kserve.io_inferenceservices.yaml"
ISVC_BEHAVIOURS = ("ready", "image_pull_error", "model_load_error")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
RECONCILE_SECONDS = 0.05
KILL_GRACE_SECONDS = 5.0


def free_ports(count: int) -> List[int]:
    """Ports free on localhost right now (all held open together, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Request:
    method: str
    path: str
    query: Dict[str, str]
    body: Any


@dataclass
class WorkerPod:
    name: str
    namespace: str
    index: int
    labels: Dict[str, str]
    image: str
    log_path: Path
    process: subprocess.Popen

    @property
    def phase(self) -> str:
        code = self.process.poll()
        return "Running" if code is None else ("Succeeded" if code == 0 else "Failed")

    def to_dict(self) -> Dict[str, Any]:
        code = self.process.poll()
        state = ({"running": {"startedAt": _now()}} if code is None else
                 {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}})
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": self.name, "namespace": self.namespace, "labels": dict(self.labels)},
                "spec": {"containers": [{"name": CONTAINER, "image": self.image}]},
                "status": {"phase": self.phase,
                           "containerStatuses": [{"name": CONTAINER, "image": self.image, "imageID": "",
                                                  "ready": code is None, "restartCount": 0, "state": state}]}}

    def kill(self) -> None:
        """What deleting a pod does to its container: SIGTERM, then SIGKILL after a grace period."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class FakeTFJob:
    body: Dict[str, Any]
    pods: List[WorkerPod] = field(default_factory=list)

    @property
    def spec(self) -> Dict[str, Any]:
        return self.body["spec"]

    @property
    def conditions(self) -> List[Dict[str, Any]]:
        return self.body["status"]["conditions"]

    def finished(self) -> bool:
        return any(c["type"] in ("Succeeded", "Failed") and c["status"] == "True" for c in self.conditions)

    def set_condition(self, kind: str, message: str) -> None:
        """Like the operator's UpdateJobConditions: a finished job's Running condition turns False."""
        if self.conditions and self.conditions[-1]["type"] == kind and self.conditions[-1]["status"] == "True":
            return
        if kind in ("Succeeded", "Failed"):
            for condition in self.conditions:
                if condition["type"] == "Running":
                    condition["status"] = "False"
        stamp = _now()
        self.conditions.append({"type": kind, "status": "True", "reason": f"TFJob{kind}", "message": message,
                                "lastUpdateTime": stamp, "lastTransitionTime": stamp})


@dataclass
class FakeInferenceService:
    body: Dict[str, Any]
    behaviour: str
    revisions: List[Dict[str, Any]] = field(default_factory=list)   # {name, predictor, reconciles, ready}
    rolled_out: List[str] = field(default_factory=list)             # revisions that got 100 %, in order

    def reconcile(self, ready_after: int) -> None:
        """One pass of the KServe controller (and Knative under it)."""
        name, namespace = self.body["metadata"]["name"], self.body["metadata"]["namespace"]
        predictor = self.body["spec"]["predictor"]
        template = {k: v for k, v in predictor.items() if k != "canaryTrafficPercent"}
        if not self.revisions or self.revisions[-1]["predictor"] != template:
            self.revisions.append({"name": f"{name}-predictor-{len(self.revisions) + 1:05d}",
                                   "predictor": json.loads(json.dumps(template)), "reconciles": 0, "ready": False})
        latest = self.revisions[-1]
        latest["reconciles"] += 1
        if latest["reconciles"] >= ready_after and self.behaviour == "ready":
            latest["ready"] = True
        ready_revisions = [r["name"] for r in self.revisions if r["ready"]]
        canary = predictor.get("canaryTrafficPercent")
        if latest["ready"]:
            if canary is not None and self.rolled_out and self.rolled_out[-1] != latest["name"]:
                traffic = [{"revisionName": latest["name"], "latestRevision": True, "percent": int(canary)}]
                if canary < 100:
                    traffic.append({"revisionName": self.rolled_out[-1], "latestRevision": False,
                                    "percent": 100 - int(canary), "tag": "prev"})
            else:
                traffic = [{"revisionName": latest["name"], "latestRevision": True, "percent": 100}]
                if not self.rolled_out or self.rolled_out[-1] != latest["name"]:
                    self.rolled_out.append(latest["name"])
        elif ready_revisions:   # Knative keeps routing to the last ready revision
            traffic = [{"revisionName": ready_revisions[-1], "latestRevision": True, "percent": 100}]
        else:
            traffic = []
        status = self.body.setdefault("status", {})
        status["deploymentMode"] = "Serverless"
        status["observedGeneration"] = self.body["metadata"]["generation"]
        component = {"latestCreatedRevision": latest["name"], "traffic": traffic}
        if ready_revisions:
            component["latestReadyRevision"] = ready_revisions[-1]
            component["url"] = f"http://{name}-predictor.{namespace}.example.com"
            status["url"] = f"http://{name}.{namespace}.example.com"
            status["address"] = {"url": f"http://{name}-predictor.{namespace}.svc.cluster.local"}
        if self.rolled_out:
            component["latestRolledoutRevision"] = self.rolled_out[-1]
        if len(self.rolled_out) > 1:
            component["previousRolledoutRevision"] = self.rolled_out[-2]
        status["components"] = {"predictor": component}
        status["conditions"], status["modelStatus"] = self._conditions(latest, ready_after)

    def _conditions(self, latest: Dict[str, Any], ready_after: int):
        stamp = _now()
        if latest["ready"]:
            kinds = ["IngressReady", "LatestDeploymentReady", "PredictorConfigurationReady", "PredictorReady",
                     "PredictorRouteReady", "Ready", "RoutesReady"]
            conditions = [{"type": k, "status": "True", "lastTransitionTime": stamp} for k in kinds]
            return conditions, {"transitionStatus": "UpToDate", "copies": {"failedCopies": 0, "totalCopies": 1},
                                "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"}}
        failed = latest["reconciles"] >= ready_after and self.behaviour != "ready"
        image = latest["predictor"]["containers"][0].get("image", "")
        if not failed:
            reason, message, status = "RevisionMissing", "Configuration is waiting for a Revision to become ready.", \
                "Unknown"
        elif self.behaviour == "image_pull_error":
            reason, status = "RevisionFailed", "False"
            message = (f'Revision "{latest["name"]}" failed with message: Back-off pulling image "{image}".')
        else:
            reason, status = "RevisionFailed", "False"
            message = (f'Revision "{latest["name"]}" failed with message: Container failed with: storage-initializer '
                       f'exited with code 1.')
        conditions = [{"type": "IngressReady", "status": "True", "lastTransitionTime": stamp}]
        conditions += [{"type": k, "status": status, "reason": reason, "message": message, "lastTransitionTime": stamp}
                       for k in ("LatestDeploymentReady", "PredictorConfigurationReady", "PredictorReady", "Ready")]
        active = "Loaded" if any(r["ready"] for r in self.revisions) else "Pending"
        model = {"transitionStatus": "InProgress", "states": {"activeModelState": active, "targetModelState": "Pending"}}
        if failed and self.behaviour == "model_load_error":
            env = {e["name"]: e.get("value") for e in latest["predictor"]["containers"][0].get("env", [])}
            model = {"transitionStatus": "BlockedByFailedLoad",
                     "states": {"activeModelState": active, "targetModelState": "FailedToLoad"},
                     "lastFailureInfo": {"reason": "ModelLoadFailed", "exitCode": 1,
                                         "message": f"No such object: {env.get('STORAGE_URI')}/saved_model.pb"}}
        return conditions, model


class FakeKubernetes:
    """Use as a context manager; `api_client()` gives a kubernetes.client.ApiClient pointed at it.

    tfjob_crd=False answers like a cluster without the Training Operator (404 on the tfjobs path),
    kserve_crd=False like one without KServe; forbidden=True answers 403 to every TFJob and
    InferenceService request, like a service account without RBAC. isvc_behaviour and isvc_ready_after
    choose what the KServe controller does with an InferenceService (see the module's docstring).
    """

    def __init__(self, log_dir: Path, tfjob_crd: bool = True, forbidden: bool = False,
                 env: Optional[Dict[str, str]] = None, kserve_crd: bool = True, isvc_behaviour: str = "ready",
                 isvc_ready_after: int = 3):
        assert isvc_behaviour in ISVC_BEHAVIOURS, isvc_behaviour
        self.log_dir = Path(log_dir)
        self.tfjob_crd = tfjob_crd
        self.kserve_crd = kserve_crd
        self.forbidden = forbidden
        self.isvc_behaviour = isvc_behaviour
        self.isvc_ready_after = isvc_ready_after
        self.env = dict(env or {})
        self.requests: List[Request] = []
        self.jobs: Dict[tuple, FakeTFJob] = {}
        self.isvcs: Dict[tuple, FakeInferenceService] = {}
        self._resource_version = 0
        self._failures: List[int] = []
        self.started: List[str] = []           # pod names in the order their processes started
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._threads = [threading.Thread(target=self._server.serve_forever, daemon=True),
                         threading.Thread(target=self._reconcile_forever, daemon=True)]

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def api_client(self) -> kubernetes.client.ApiClient:
        configuration = kubernetes.client.Configuration()
        configuration.host = self.host
        return kubernetes.client.ApiClient(configuration)

    def __enter__(self) -> "FakeKubernetes":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for job in self.jobs.values():
                for pod in job.pods:
                    pod.kill()

    def log(self, pod_name: str) -> str:
        """A pod's log, also after the pod was deleted (the file stays)."""
        return (self.log_dir / f"{pod_name}.log").read_text(errors="replace")

    def created_bodies(self) -> List[Dict[str, Any]]:
        return [r.body for r in self.requests if r.method == "POST"]

    def fail_next(self, count: int, code: int = 503) -> None:
        """The next `count` requests get `code` (an API server restarting, or throttling with 429)."""
        with self._lock:
            self._failures = [code] * count

    def isvc_requests(self) -> List[Request]:
        return [r for r in self.requests if ISVCS.match(r.path)]

    def isvc(self, namespace: str, name: str) -> Dict[str, Any]:
        """The stored InferenceService (a copy), status included."""
        with self._lock:
            return json.loads(json.dumps(self.isvcs[(namespace, name)].body))

    def wait_finished(self, namespace: str, name: str, timeout: float) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                job = self.jobs.get((namespace, name))
                if job is not None and job.finished():
                    return json.loads(json.dumps(job.body))
            time.sleep(RECONCILE_SECONDS)
        raise TimeoutError(f"TFJob {namespace}/{name} did not finish in {timeout} s")

    # The API server.

    def handle(self, method: str, url: str, body: Any):
        """Returns (status code, JSON-able body or text)."""
        parsed = urlparse(url)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        with self._lock:
            self.requests.append(Request(method, parsed.path, query, body))
            if self._failures:
                code = self._failures.pop()
                return code, _status(code, "ServiceUnavailable" if code == 503 else "TooManyRequests",
                                     "the server is currently unable to handle the request")
            jobs = TFJOBS.match(parsed.path)
            if jobs:
                return self._tfjobs(method, jobs["ns"], jobs["name"], body)
            isvcs = ISVCS.match(parsed.path)
            if isvcs:
                return self._isvcs(method, isvcs["ns"], isvcs["name"], body)
            pods = PODS.match(parsed.path)
            if pods and method == "GET":
                return 200, self._pod_list(pods["ns"], query.get("labelSelector", ""))
            log = POD_LOG.match(parsed.path)
            if log and method == "GET":
                return self._pod_log(log["ns"], log["pod"], query)
        return 404, "404 page not found\n"

    def _tfjobs(self, method: str, namespace: str, name: Optional[str], body: Any):
        if not self.tfjob_crd:
            # What an API server answers for a group/version nothing serves (no Training Operator).
            return 404, "404 page not found\n"
        if self.forbidden:
            return _forbidden("tfjobs", "kubeflow.org", "kubeflow:default", method, name, namespace)
        if method == "POST" and name is None:
            return self._create(namespace, body)
        job = self.jobs.get((namespace, name)) if name else None
        if name and job is None:
            return 404, _status(404, "NotFound", f'tfjobs.kubeflow.org "{name}" not found')
        if method == "GET" and job is not None:
            return 200, job.body
        if method == "DELETE" and job is not None:
            for pod in job.pods:
                pod.kill()
            del self.jobs[(namespace, name)]
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": name}}
        return 405, _status(405, "MethodNotAllowed", f"{method} is not supported by the fake")

    def _create(self, namespace: str, body: Dict[str, Any]):
        name = body.get("metadata", {}).get("name", "")
        problems = _webhook_problems(body)
        if problems:
            return 422, _status(422, "Invalid", f'TFJob.kubeflow.org "{name}" is invalid: {"; ".join(problems)}')
        if (namespace, name) in self.jobs:
            return 409, _status(409, "AlreadyExists", f'tfjobs.kubeflow.org "{name}" already exists')
        stored = json.loads(json.dumps(body))
        stored["metadata"].update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=_now(),
                                  resourceVersion="1")
        stored["status"] = {"conditions": [], "replicaStatuses": {}}
        job = FakeTFJob(stored)
        job.set_condition("Created", f"TFJob {name} is created.")
        self.jobs[(namespace, name)] = job
        self._start_workers(namespace, job)
        return 201, job.body

    def _isvcs(self, method: str, namespace: str, name: Optional[str], body: Any):
        if not self.kserve_crd:
            return 404, "404 page not found\n"
        if self.forbidden:
            return _forbidden("inferenceservices", "serving.kserve.io", "kubeflow:pipeline-runner", method, name,
                              namespace)
        if method == "POST" and name is None:
            return self._create_isvc(namespace, body)
        service = self.isvcs.get((namespace, name)) if name else None
        if name and service is None:
            return 404, _status(404, "NotFound", f'inferenceservices.serving.kserve.io "{name}" not found')
        if method == "GET" and service is not None:
            return 200, service.body
        if method == "PUT" and service is not None:
            return self._replace_isvc(service, body)
        return 405, _status(405, "MethodNotAllowed", f"{method} is not supported by the fake")

    def _isvc_problems(self, namespace: str, body: Dict[str, Any]) -> Optional[tuple]:
        """(code, Status) for a body the API server (schema) or KServe's webhook would refuse, else None."""
        name = body.get("metadata", {}).get("name", "")
        try:
            jsonschema.Draft202012Validator(crd_schema(str(ISVC_CRD), "InferenceService", "v1beta1")).validate(body)
        except jsonschema.ValidationError as err:
            where = ".".join(str(p) for p in err.absolute_path)
            return 422, _status(422, "Invalid", f'InferenceService.serving.kserve.io "{name}" is invalid: {where}: '
                                f'{err.message}')
        if body.get("metadata", {}).get("namespace", namespace) != namespace:
            return 400, _status(400, "BadRequest", "the namespace of the object does not match the namespace on the "
                                                   "request")
        predictor = body.get("spec", {}).get("predictor", {})
        containers = predictor.get("containers") or []
        problems = [] if DNS_1035.match(name) else [f"The InferenceService \"{name}\" is invalid: a InferenceService "
                                                    f"name must consist of lower case alphanumeric characters or '-'"]
        if len(containers) != 1 or not containers[0].get("image"):
            problems.append("the fake serves custom predictors of one container with an image only")
        if not 0 <= predictor.get("canaryTrafficPercent", 0) <= 100:
            problems.append("canaryTrafficPercent must be within [0, 100]")
        if problems:   # KServe's validating webhook answers 400 with its message
            return 400, _status(400, "BadRequest", f'admission webhook "inferenceservice.kserve-webhook-server.'
                                                   f'validator" denied the request: {"; ".join(problems)}')
        return None

    def _next_resource_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def _create_isvc(self, namespace: str, body: Dict[str, Any]):
        problem = self._isvc_problems(namespace, body)
        if problem:
            return problem
        name = body["metadata"]["name"]
        if (namespace, name) in self.isvcs:
            return 409, _status(409, "AlreadyExists", f'inferenceservices.serving.kserve.io "{name}" already exists')
        stored = json.loads(json.dumps(body))
        stored.pop("status", None)
        stored["metadata"].update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1,
                                  resourceVersion=self._next_resource_version())
        self.isvcs[(namespace, name)] = FakeInferenceService(stored, self.isvc_behaviour)
        return 201, stored

    def _replace_isvc(self, service: FakeInferenceService, body: Dict[str, Any]):
        problem = self._isvc_problems(service.body["metadata"]["namespace"], body)
        if problem:
            return problem
        stored = service.body
        name = stored["metadata"]["name"]
        if body["metadata"].get("name") != name:
            return 400, _status(400, "BadRequest", "the name of the object does not match the name on the URL")
        if body["metadata"].get("resourceVersion") != stored["metadata"]["resourceVersion"]:
            return 409, _status(409, "Conflict", f'Operation cannot be fulfilled on inferenceservices.serving.kserve.io '
                                f'"{name}": the object has been modified; please apply your changes to the latest '
                                f'version and try again')
        new = json.loads(json.dumps(body))
        new["status"] = stored.get("status", {})          # the status subresource is not written by a replace
        for key in ("uid", "creationTimestamp", "generation"):
            new["metadata"][key] = stored["metadata"][key]
        if new["spec"] != stored["spec"]:
            new["metadata"]["generation"] += 1
        new["metadata"]["resourceVersion"] = self._next_resource_version()
        service.body = new
        return 200, new

    def _pod_list(self, namespace: str, selector: str) -> Dict[str, Any]:
        wanted = dict(term.split("=", 1) for term in selector.split(",") if term)
        items = [pod.to_dict() for job in self.jobs.values() for pod in job.pods
                 if pod.namespace == namespace and all(pod.labels.get(k) == v for k, v in wanted.items())]
        return {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": items}

    def _pod_log(self, namespace: str, pod_name: str, query: Dict[str, str]):
        pods = [p for job in self.jobs.values() for p in job.pods if p.namespace == namespace and p.name == pod_name]
        if not pods:
            return 404, _status(404, "NotFound", f'pods "{pod_name}" not found')
        if query.get("container", CONTAINER) != CONTAINER:
            return 400, _status(400, "BadRequest", f"container {query['container']} is not valid for pod {pod_name}")
        lines = self.log(pod_name).splitlines(keepends=True)
        if "tailLines" in query:
            lines = lines[-int(query["tailLines"]):] if int(query["tailLines"]) else []
        return 200, "".join(lines)

    # The Training Operator.

    def _start_workers(self, namespace: str, job: FakeTFJob) -> None:
        name = job.body["metadata"]["name"]
        replica = job.spec["tfReplicaSpecs"]["Worker"]
        count = int(replica.get("replicas", 1))
        template = replica["template"]
        container = next(c for c in template["spec"]["containers"] if c["name"] == CONTAINER)
        ports = free_ports(count)
        for index in range(count):
            pod_name = f"{name}-worker-{index}"
            env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
            env.update(self.env)
            env.update({e["name"]: e.get("value", "") for e in container.get("env", [])})
            env["PYTHONPATH"] = str(REPO)
            if count > 1:   # the operator sets no TF_CONFIG for a one-replica job
                env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                                               "task": {"type": "worker", "index": index}, "environment": "cloud"})
            argv = list(container.get("command", [])) + list(container.get("args", []))
            if argv and argv[0] == "python":
                argv[0] = sys.executable
            log_path = self.log_dir / f"{pod_name}.log"
            with open(log_path, "wb") as log_file:   # stdout and stderr together, as container logs are
                process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                           start_new_session=True)
            labels = dict(template.get("metadata", {}).get("labels", {}))
            labels.update({JOB_NAME_LABEL: name, REPLICA_TYPE_LABEL: "worker", REPLICA_INDEX_LABEL: str(index),
                           "training.kubeflow.org/operator-name": "tfjob-controller"})
            if index == 0:
                labels["training.kubeflow.org/job-role"] = "master"
            job.pods.append(WorkerPod(pod_name, namespace, index, labels, container.get("image", ""), log_path,
                                      process))
            self.started.append(pod_name)
        job.body["status"]["startTime"] = _now()

    def _reconcile_forever(self) -> None:
        while not self._stop.wait(RECONCILE_SECONDS):
            with self._lock:
                for (namespace, name), job in list(self.jobs.items()):
                    if not job.finished():
                        self._reconcile(namespace, name, job)
                for service in self.isvcs.values():
                    service.reconcile(self.isvc_ready_after)

    def _reconcile(self, namespace: str, name: str, job: FakeTFJob) -> None:
        phases = [pod.phase for pod in job.pods]
        counts = {kind: phases.count(phase) for kind, phase in
                  (("active", "Running"), ("succeeded", "Succeeded"), ("failed", "Failed"))}
        job.body["status"]["replicaStatuses"] = {"Worker": {k: v for k, v in counts.items() if v}}
        job.body["status"]["lastReconcileTime"] = _now()
        replicas = int(job.spec["tfReplicaSpecs"]["Worker"].get("replicas", 1))
        all_workers = job.spec.get("successPolicy") == "AllWorkers"
        worker0_done = bool(job.pods) and job.pods[0].phase == "Succeeded"
        if counts["failed"]:
            job.set_condition("Failed", f"TFJob {namespace}/{name} has failed because {counts['failed']} "
                                        f"Worker replica(s) failed.")
        elif counts["succeeded"] == replicas or (worker0_done and not all_workers):
            job.set_condition("Succeeded", f"TFJob {namespace}/{name} successfully completed.")
        elif counts["active"]:
            job.set_condition("Running", f"TFJob {namespace}/{name} is running.")
        if job.finished():
            job.body["status"]["completionTime"] = _now()
            self._clean_pods(job)

    @staticmethod
    def _clean_pods(job: FakeTFJob) -> None:
        policy = job.spec.get("runPolicy", {}).get("cleanPodPolicy", "None")
        doomed = [p for p in job.pods if policy == "All" or (policy == "Running" and p.phase == "Running")]
        for pod in doomed:
            pod.kill()
            job.pods.remove(pod)


def _webhook_problems(body: Dict[str, Any]) -> List[str]:
    """What the operator's validating webhook (and this fake's limits) refuse."""
    name = body.get("metadata", {}).get("name", "")
    problems = [] if DNS_1035.match(name) and len(name) <= 63 else [f"metadata.name {name!r} is not a DNS-1035 label"]
    specs = body.get("spec", {}).get("tfReplicaSpecs") or {}
    if set(specs) != {"Worker"}:
        problems.append(f"the fake runs Worker replicas only, got {sorted(specs)}")
    for rtype, spec in specs.items():
        containers = spec.get("template", {}).get("spec", {}).get("containers", [])
        if not any(c.get("name") == CONTAINER and c.get("image") for c in containers):
            problems.append(f"spec.tfReplicaSpecs[{rtype}].template.spec.containers: must have at least one "
                            f"container with name {CONTAINER} and an image")
        if spec.get("restartPolicy", "Never") != "Never":
            problems.append(f"the fake models restartPolicy Never only, got {spec['restartPolicy']}")
    return problems


def _forbidden(plural: str, group: str, account: str, method: str, name: Optional[str], namespace: str):
    """The API server's 403 when RBAC refuses service account `account` (namespace:name) a verb."""
    verb = {"POST": "create", "GET": "get", "PUT": "update", "DELETE": "delete"}.get(method, method.lower())
    return 403, _status(403, "Forbidden", f'{plural}.{group}{" " + repr(name) if name else ""} is forbidden: User '
                        f'"system:serviceaccount:{account}" cannot {verb} resource "{plural}" in API group "{group}" '
                        f'in the namespace "{namespace}"')


def _status(code: int, reason: str, message: str) -> Dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def _handler(fake: FakeKubernetes):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            code, payload = fake.handle(self.command, self.path, body)
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = _serve

        def log_message(self, *args):   # keep test output to what the tests print
            pass

    return Handler
