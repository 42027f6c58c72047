"""A local stand-in for the Kubeflow Pipelines v2beta1 REST API, enough for kfp 2.13's Client.

It keeps experiments, pipelines, pipeline versions, runs and recurring runs in memory, answers in the
JSON shapes kfp-server-api 2.4 reads (snake_case field names, as the KFP 2.x server writes them), and
records every request so that tests can assert on what was sent:

    server = FakeKfpServer(require_token="s3cret").start()
    ...  # kfp.Client(host=server.url, existing_token="s3cret") ...
    server.requests[-1]  # {"method", "path", "query", "headers", "body", "files", "form"}
    server.stop()

Endpoints (all under /apis/v2beta1): GET healthz; GET/POST experiments, GET experiments/{id}; GET
pipelines (filter by display_name), POST pipelines/upload and pipelines/upload_version (multipart,
`uploadfile`), GET pipelines/{id}/versions; POST runs; POST recurringruns.

Modes: `require_token` answers 401 to any request without "Authorization: Bearer <token>";
`missing_experiments` answers 404 to experiment lookups (list and get), as KFP does for an experiment
that is gone or a namespace the caller cannot see; `multi_user` is what /healthz reports;
`failures[(method, path)] = (status, message)`
answers that request with an error.
"""
import datetime
import itertools
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import yaml

API = "/apis/v2beta1"
# google.rpc.Code values the KFP server puts in its error bodies.
_RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 500: 13}


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class FakeKfpServer:
    """The server and its state; `requests` lists what the client sent, in order."""

    def __init__(self, require_token: Optional[str] = None, missing_experiments: bool = False,
                 multi_user: bool = False):
        self.require_token = require_token
        self.missing_experiments = missing_experiments
        self.multi_user = multi_user
        self.failures: Dict[Tuple[str, str], Tuple[int, str]] = {}
        self.requests: List[Dict[str, Any]] = []
        self.experiments: Dict[str, Dict[str, Any]] = {}
        self.pipelines: Dict[str, Dict[str, Any]] = {}
        self.versions: Dict[str, Dict[str, Any]] = {}   # version id -> version (with its pipeline_id)
        self.runs: Dict[str, Dict[str, Any]] = {}
        self.recurring_runs: Dict[str, Dict[str, Any]] = {}
        self._clock = itertools.count()
        self._lock = threading.Lock()
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.url = ""   # http://127.0.0.1:<port> once started (kept after stop, for messages)

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> "FakeKfpServer":
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-kfp", daemon=True)
        self._thread.start()
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    # -- helpers for tests ------------------------------------------------------------------------

    def add_experiment(self, display_name: str, namespace: str = "") -> Dict[str, Any]:
        return self._create_experiment({"display_name": display_name, "namespace": namespace})

    def sent(self, method: str, path: str) -> List[Dict[str, Any]]:
        """The recorded requests with this method and path (path without /apis/v2beta1)."""
        return [r for r in self.requests if r["method"] == method and r["path"] == API + path]

    # -- request handling -------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: Dict[str, str], record: Dict[str, Any]) -> Tuple[int, Any]:
        with self._lock:
            self.requests.append(record)
            if self.require_token and record["headers"].get("authorization") != f"Bearer {self.require_token}":
                raise ApiError(401, "Unauthenticated: request has no valid bearer token")
            if (method, path) in self.failures:
                raise ApiError(*self.failures[(method, path)])
            if not path.startswith(API + "/"):
                raise ApiError(404, f"no route for {path}")
            return 200, self._route(method, path[len(API):], query, record)

    def _route(self, method: str, path: str, query: Dict[str, str], record: Dict[str, Any]) -> Any:
        parts = path.strip("/").split("/")
        if method == "GET" and parts == ["healthz"]:
            return {"multi_user": self.multi_user}
        if parts[0] == "experiments":
            return self._experiments(method, parts[1:], query, record["body"])
        if method == "POST" and parts == ["pipelines", "upload"]:
            return self._upload_pipeline(query, record["files"])
        if method == "POST" and parts == ["pipelines", "upload_version"]:
            return self._upload_version(query, record["files"])
        if method == "GET" and parts == ["pipelines"]:
            found = [p for p in self.pipelines.values()
                     if _matches(p, query.get("filter")) and p["namespace"] == query.get("namespace", "")]
            return _page("pipelines", found)
        if method == "GET" and len(parts) == 3 and parts[0] == "pipelines" and parts[2] == "versions":
            if parts[1] not in self.pipelines:
                raise ApiError(404, f"Pipeline {parts[1]} not found")
            found = [v for v in self.versions.values() if v["pipeline_id"] == parts[1] and _matches(v, query.get("filter"))]
            found.sort(key=lambda v: v["_order"], reverse=query.get("sort_by", "").endswith(" desc"))
            return _page("pipeline_versions", found[:int(query.get("page_size") or 10)])
        if method == "POST" and parts == ["runs"]:
            return self._create(self.runs, "run_id", record["body"], state="PENDING")
        if method == "POST" and parts == ["recurringruns"]:
            body = record["body"]
            reference = body.get("pipeline_version_reference") or {}
            if reference and reference.get("pipeline_version_id") not in self.versions:
                raise ApiError(404, f"Pipeline version {reference.get('pipeline_version_id')} not found")
            return self._create(self.recurring_runs, "recurring_run_id", body,
                                status="ENABLED" if body.get("mode") == "ENABLE" else "DISABLED")
        raise ApiError(404, f"no route for {method} {API}{path}")

    def _experiments(self, method: str, rest: List[str], query: Dict[str, str], body: Any) -> Any:
        if method == "POST" and not rest:
            if not (body or {}).get("display_name"):
                raise ApiError(400, "Invalid input error: experiment name is empty")
            return self._create_experiment(body)
        if method != "GET":
            raise ApiError(404, f"no route for {method} experiments/{'/'.join(rest)}")
        if self.missing_experiments:
            raise ApiError(404, "Failed to get experiment: ResourceNotFoundError: experiment not found in namespace")
        if rest:
            if rest[0] not in self.experiments:
                raise ApiError(404, f"Experiment {rest[0]} not found")
            return self.experiments[rest[0]]
        found = [e for e in self.experiments.values()
                 if _matches(e, query.get("filter")) and e["namespace"] == query.get("namespace", "")]
        return _page("experiments", found)

    def _create_experiment(self, body: Dict[str, Any]) -> Dict[str, Any]:
        experiment = {"experiment_id": str(uuid.uuid4()), "display_name": body["display_name"],
                      "description": body.get("description", ""), "namespace": body.get("namespace") or "",
                      "created_at": self._now(), "storage_state": "AVAILABLE"}
        self.experiments[experiment["experiment_id"]] = experiment
        return experiment

    def _upload_pipeline(self, query: Dict[str, str], files: Dict[str, Any]) -> Dict[str, Any]:
        spec = _spec_of(files)
        name = query.get("name") or spec.get("pipelineInfo", {}).get("name")
        namespace = query.get("namespace", "")
        if any(p["display_name"] == name and p["namespace"] == namespace for p in self.pipelines.values()):
            raise ApiError(409, f"Already exist error: pipeline {name!r} already exists")
        pipeline = {"pipeline_id": str(uuid.uuid4()), "display_name": name, "description": query.get("description", ""),
                    "namespace": namespace, "created_at": self._now()}
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        # As the KFP server does, the first version is named after the pipeline.
        self._add_version(pipeline["pipeline_id"], name, query.get("description", ""), spec)
        return pipeline

    def _upload_version(self, query: Dict[str, str], files: Dict[str, Any]) -> Dict[str, Any]:
        pipeline_id, name = query.get("pipelineid"), query.get("name")
        if pipeline_id not in self.pipelines:
            raise ApiError(404, f"Pipeline {pipeline_id} not found")
        if any(v["pipeline_id"] == pipeline_id and v["display_name"] == name for v in self.versions.values()):
            raise ApiError(409, f"Already exist error: pipeline version {name!r} already exists")
        return _public(self._add_version(pipeline_id, name, query.get("description", ""), _spec_of(files)))

    def _add_version(self, pipeline_id: str, name: str, description: str, spec: Any) -> Dict[str, Any]:
        version = {"pipeline_id": pipeline_id, "pipeline_version_id": str(uuid.uuid4()), "display_name": name,
                   "description": description, "created_at": self._now(), "pipeline_spec": spec,
                   "_order": next(self._clock)}
        self.versions[version["pipeline_version_id"]] = version
        return version

    def _create(self, table: Dict[str, Any], id_key: str, body: Any, **extra) -> Dict[str, Any]:
        body = body or {}
        if body.get("experiment_id") not in self.experiments:
            raise ApiError(404, f"Experiment {body.get('experiment_id')} not found")
        if not body.get("pipeline_spec") and not body.get("pipeline_version_reference"):
            raise ApiError(400, "Invalid input error: neither pipeline_spec nor pipeline_version_reference is set")
        item = dict(body, **{id_key: str(uuid.uuid4()), "created_at": self._now()}, **extra)
        table[item[id_key]] = item
        return item

    def _now(self) -> str:
        stamp = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=next(self._clock))
        return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _handler_for(server: FakeKfpServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's names)
            self._serve("GET")

        def do_POST(self):  # noqa: N802
            self._serve("POST")

        def do_DELETE(self):  # noqa: N802
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            record = {"method": method, "path": url.path, "query": query, "headers": headers, "raw": raw,
                      "body": None, "files": {}, "form": {}}
            content_type = headers.get("content-type", "")
            if content_type.startswith("multipart/form-data"):
                record["files"], record["form"] = decode_multipart(raw, content_type)
            elif raw:
                try:
                    record["body"] = json.loads(raw)
                except ValueError:
                    record["body"] = raw.decode("utf-8", "replace")
            try:
                status, payload = server.handle(method, url.path, query, record)
            except ApiError as err:
                status, payload = err.status, {"error": err.message, "code": _RPC_CODES.get(err.status, 2),
                                               "message": err.message, "details": []}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):  # pylint: disable=redefined-builtin
            pass   # keep the test output clean

    return Handler


def decode_multipart(raw: bytes, content_type: str) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """({field: {"filename", "content" (the exact bytes), "content_type"}}, {field: text}) of a body."""
    boundary = content_type.split("boundary=", 1)[1].strip().strip('"').encode()
    files, form = {}, {}
    for part in raw.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part[2:].partition(b"\r\n\r\n")
        content = content[:-2] if content.endswith(b"\r\n") else content
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = dict(_disposition_params(headers.get("content-disposition", "")))
        if "filename" in disposition:
            files[disposition["name"]] = {"filename": disposition["filename"], "content": content,
                                          "content_type": headers.get("content-type")}
        else:
            form[disposition.get("name", "")] = content.decode("utf-8")
    return files, form


def _disposition_params(value: str):
    for item in value.split(";")[1:]:
        key, _, val = item.strip().partition("=")
        yield key, val.strip('"')


def _spec_of(files: Dict[str, Any]) -> Any:
    if "uploadfile" not in files:
        raise ApiError(400, "Invalid input error: missing the uploadfile form field")
    documents = [d for d in yaml.safe_load_all(files["uploadfile"]["content"]) if d is not None]
    if not documents:
        raise ApiError(400, "Invalid input error: empty pipeline file")
    if len(documents) == 1:
        return documents[0]
    return {"pipeline_spec": documents[0], "platform_spec": documents[1]}


def _matches(item: Dict[str, Any], filter_json: Optional[str]) -> bool:
    """Applies a KFP filter's EQUALS predicates (the only operation kfp's name lookups use)."""
    if not filter_json:
        return True
    for predicate in json.loads(filter_json).get("predicates", []):
        if predicate.get("operation") not in ("EQUALS", 1):
            raise ApiError(400, f"fake KFP server: unsupported filter operation {predicate.get('operation')}")
        value = predicate.get("stringValue", predicate.get("string_value"))
        if item.get(predicate["key"]) != value:
            return False
    return True


def _public(item: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}


def _page(key: str, items: List[Dict[str, Any]]) -> Dict[str, Any]:
    # The KFP server leaves the list out when it is empty, as protobuf JSON does.
    page = {"total_size": len(items)}
    if items:
        page[key] = [_public(i) for i in items]
    return page
