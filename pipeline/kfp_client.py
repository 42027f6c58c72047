"""Sends the compiled pipeline to Kubeflow Pipelines (KFP v2 API) with the kfp client: one run
(`audioclf submit`) or a recurring run for retraining (`audioclf schedule`).

Authentication comes from the usual places, never from this code: a bearer token in `KFP_TOKEN`;
otherwise, inside a pod, the projected service-account token KFP reads
(`KF_PIPELINES_SA_TOKEN_PATH`, default /var/run/secrets/kubeflow/pipelines/token); otherwise
whatever kfp itself finds (the cookie or header of ~/.config/kfp/context.json), or nothing, which
is what a `kubectl port-forward` to the UI service needs.

Schedules are cron expressions as KFP reads them: 6 fields, seconds first ("0 0 3 * * *" is 03:00
every day), or a descriptor such as "@daily". A standard 5-field expression ("0 3 * * *") is taken
to be minute-first and gets "0 " in front: KFP would otherwise read its first field as seconds.

Every failure of the server or of the connection becomes an AudioClfError that says what to check
(`_server_errors` is the one place that maps them).
"""
import contextlib
import datetime
import functools
import hashlib
import io
import json
import logging
import math
import os
import re
import warnings
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import kfp
import kfp_server_api
import urllib3
import yaml
from google.protobuf import json_format
from kfp.client import KF_PIPELINES_SA_TOKEN_ENV, KF_PIPELINES_SA_TOKEN_PATH
from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials
from kfp.pipeline_spec import pipeline_spec_pb2

from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

TOKEN_ENV = "KFP_TOKEN"
HOST_ENV = "KF_PIPELINES_ENDPOINT"   # kfp's own variable, used when no host is given
PORT_FORWARD = "kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80"
# (connect, read) seconds for every request: kfp sets none, so a host that drops packets (a cluster IP
# typed from outside the cluster) would hang the command for minutes.
REQUEST_TIMEOUT = (10.0, 300.0)

# What a `--param` value must look like, per KFP parameter type (messages name the type this way).
_TYPE_HELP = {
    "STRING": "a string",
    "NUMBER_INTEGER": "a whole number, e.g. 20",
    "NUMBER_DOUBLE": "a number, e.g. 0.75",
    "BOOLEAN": "true or false",
    "LIST": "a JSON list, e.g. [1, 2]",
    "STRUCT": "a JSON object, e.g. {\"a\": 1}",
}
# Specs written before KFP's `parameterType` field name their parameters' types this way.
_LEGACY_TYPES = {"STRING": "STRING", "INT": "NUMBER_INTEGER", "DOUBLE": "NUMBER_DOUBLE"}


# ---------------------------------------------------------------------------------------------------
# Connecting


class _Client(kfp.Client):
    """kfp.Client that fails fast: one health check instead of five, and bounded request times."""

    def __init__(self, host: str, **kwargs):
        self.host_url = host
        self.multi_user: Optional[bool] = None   # as /healthz says; None when it was not asked
        super().__init__(host=host, **kwargs)

    def get_kfp_healthz(self, sleep_duration: int = 5):
        # The constructor asks /healthz whether KFP runs in multi-user mode, and kfp retries every API
        # error five times 5 s apart, a 401 or 404 included: 25 s of silence before a certain failure.
        # This is the constructor's first request, so it is also where request times get their bound.
        _bound_request_times(self._healthz_api.api_client)
        health = self._healthz_api.healthz_service_get_healthz()
        self.multi_user = health.multi_user
        return health


def connect(host: Optional[str], namespace: Optional[str] = None) -> kfp.Client:
    """A kfp client for the KFP API at `host` (e.g. http://localhost:8080), authenticated as the
    module docstring says. `namespace`: the profile namespace of a multi-user deployment."""
    url = _normalize_host(host)
    kwargs: Dict[str, Any] = dict(_credentials())
    if namespace:
        kwargs["namespace"] = namespace
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="This client only works", category=FutureWarning)
        with _server_errors(url, "connecting", namespace=namespace):
            client = _Client(url, **kwargs)
    # Without the health check (a namespace was given) the constructor sent nothing yet.
    _bound_request_times(client._healthz_api.api_client)  # pylint: disable=protected-access
    if client.multi_user and not client.get_user_namespace():
        # kfp takes the namespace from a pod's service account only; elsewhere every experiment call
        # would fail with a less helpful message.
        raise AudioClfError(f"Kubeflow Pipelines at {url} runs in multi-user mode: pass the namespace of your "
                            f"Kubeflow profile (e.g. --namespace kubeflow-user-example-com).")
    log.info("connected to Kubeflow Pipelines at %s (namespace: %s)", url, namespace or "default")
    return client


def _normalize_host(host: Optional[str]) -> str:
    host = (host or os.environ.get(HOST_ENV, "")).strip()
    if not host:
        raise AudioClfError(f"no Kubeflow Pipelines host: pass --host URL (or set {HOST_ENV}), e.g. "
                            f"--host http://localhost:8080 after `{PORT_FORWARD}`.")
    if "://" not in host:
        host = "https://" + host   # what kfp does with a bare host name
    if not host.startswith(("http://", "https://")):
        raise AudioClfError(f"--host {host}: use an http:// or https:// URL, e.g. http://localhost:8080.")
    return host.rstrip("/")


def _credentials() -> Dict[str, Any]:
    """kfp.Client arguments that authenticate: KFP_TOKEN, else a mounted service-account token."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return {"existing_token": token}
    # kfp reads this token only when it also picks the host itself (no host given); with --host
    # pointing at the in-cluster service a pod needs it all the same.
    sa_token = os.environ.get(KF_PIPELINES_SA_TOKEN_ENV) or KF_PIPELINES_SA_TOKEN_PATH
    if os.path.isfile(sa_token):
        log.info("authenticating with the service-account token in %s", sa_token)
        return {"credentials": ServiceAccountTokenVolumeCredentials(sa_token)}
    return {}


def _bound_request_times(api_client) -> None:
    """Gives every request of `api_client` REQUEST_TIMEOUT unless the call sets its own."""
    rest = api_client.rest_client
    if getattr(rest, "_audioclf_bounded", False):
        return
    request = rest.request

    @functools.wraps(request)
    def bounded(*args, _request_timeout=None, **kwargs):
        return request(*args, _request_timeout=_request_timeout or REQUEST_TIMEOUT, **kwargs)

    rest.request = bounded
    rest._audioclf_bounded = True  # pylint: disable=protected-access


# ---------------------------------------------------------------------------------------------------
# The package and its parameters


def read_package(package_path: str) -> List[Dict[str, Any]]:
    """The documents of a compiled package: the PipelineSpec, then the platform spec if any."""
    if not package_path.endswith((".yaml", ".yml")):
        raise AudioClfError(f"pipeline package {package_path}: expected the YAML file `audioclf compile` writes (*.yaml).")
    try:
        with open(package_path, encoding="utf-8") as f:
            documents = [d for d in yaml.safe_load_all(f) if d is not None]
    except FileNotFoundError as err:
        raise AudioClfError(f"pipeline package {package_path} not found; run `audioclf compile --output "
                            f"{package_path}` first.") from err
    except yaml.YAMLError as err:
        raise AudioClfError(f"pipeline package {package_path} is not valid YAML: {err}") from err
    if not documents or not isinstance(documents[0], dict) or "root" not in documents[0]:
        raise AudioClfError(f"{package_path} is not a compiled KFP pipeline (no PipelineSpec with a root); "
                            f"run `audioclf compile`.")
    try:
        json_format.ParseDict(documents[0], pipeline_spec_pb2.PipelineSpec())
        for platform in documents[1:]:
            json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
    except json_format.ParseError as err:
        raise AudioClfError(f"{package_path} is not a valid KFP PipelineSpec: {err}. Recompile it with "
                            f"`audioclf compile`.") from err
    return documents


def parameter_types(spec: Dict[str, Any]) -> Dict[str, str]:
    """Run-time parameter name -> KFP type (NUMBER_INTEGER, ...) from the spec's root inputs."""
    parameters = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    return {name: p.get("parameterType") or _LEGACY_TYPES.get(p.get("type"), "STRING")
            for name, p in parameters.items()}


def parse_params(pairs: Sequence[str], package_path: str) -> Dict[str, Any]:
    """`name=value` strings typed by the package's run-time parameters (a later pair wins)."""
    types = parameter_types(read_package(package_path)[0])
    params: Dict[str, Any] = {}
    for pair in pairs or ():
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise AudioClfError(f"--param {pair!r}: expected NAME=VALUE, e.g. epochs=20.")
        if name not in types:
            raise AudioClfError(f"--param {name}: the pipeline in {package_path} has no such run-time parameter; "
                                f"known: {_known(types)}.")
        params[name] = _typed_value(name, raw, types[name])
    return params


def _known(types: Dict[str, str]) -> str:
    return ", ".join(f"{name} ({kind})" for name, kind in sorted(types.items())) or "none"


def _typed_value(name: str, raw: str, kind: str) -> Any:
    text = raw.strip()
    try:
        if kind == "STRING":
            return raw
        if kind == "NUMBER_INTEGER":
            return int(text)
        if kind == "NUMBER_DOUBLE":
            value = float(text)
            if math.isfinite(value):
                return value
        elif kind == "BOOLEAN" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        elif kind in ("LIST", "STRUCT"):
            value = json.loads(text)
            if isinstance(value, list if kind == "LIST" else dict):
                return value
    except ValueError:
        pass
    raise AudioClfError(f"--param {name}={raw}: {name} is a {kind} parameter; give {_TYPE_HELP.get(kind, kind)}.")


def _check_params(params: Dict[str, Any], types: Dict[str, str], package_path: str) -> None:
    """Refuses values that do not fit the package, for callers that build `params` themselves."""
    expected = {"STRING": (str,), "NUMBER_INTEGER": (int,), "NUMBER_DOUBLE": (int, float),
                "BOOLEAN": (bool,), "LIST": (list,), "STRUCT": (dict,)}
    for name, value in (params or {}).items():
        if name not in types:
            raise AudioClfError(f"parameter {name}: the pipeline in {package_path} has no such run-time parameter; "
                                f"known: {_known(types)}.")
        kind = types[name]
        wrong_bool = isinstance(value, bool) and kind != "BOOLEAN"
        if wrong_bool or not isinstance(value, expected.get(kind, (object,))):
            raise AudioClfError(f"parameter {name}={value!r}: {name} is a {kind} parameter; "
                                f"give {_TYPE_HELP.get(kind, kind)}.")


# ---------------------------------------------------------------------------------------------------
# Cron


_CRON_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31),
                ("month", 1, 12), ("day of week", 0, 6))
_NAMES = {"month": ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
          "day of week": ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]}
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def normalize_cron(expression: str) -> str:
    """The 6-field (seconds first) cron expression KFP's scheduler parses (robfig/cron); a 5-field
    standard expression gets "0 " in front. AudioClfError, naming the field, if it cannot parse."""
    text = " ".join((expression or "").split())
    if text.startswith("@"):
        return _check_descriptor(text)
    fields = text.split(" ") if text else []
    if len(fields) == 5:
        fields = ["0"] + fields
    if len(fields) != 6:
        raise AudioClfError(f"--cron {expression!r}: expected 5 fields (minute hour day month weekday, e.g. "
                            f"'0 3 * * *') or KFP's 6 with seconds first (e.g. '0 0 3 * * *'); got {len(fields)}.")
    for value, (name, low, high) in zip(fields, _CRON_FIELDS):
        if not _cron_field_ok(value, name, low, high):
            raise AudioClfError(f"--cron {expression!r}: the {name} field {value!r} is not valid; use numbers in "
                                f"{low}-{high}, *, ranges a-b, lists a,b and steps */n"
                                + (", or ? for 'any'" if name in ("day of month", "day of week") else "") + ".")
    return " ".join(fields)


def _check_descriptor(text: str) -> str:
    if text.lower() in _DESCRIPTORS:
        return text
    parts = text.split(" ")
    if len(parts) == 2 and parts[0].lower() == "@every" and _GO_DURATION.match(parts[1]):
        return text
    raise AudioClfError(f"--cron {text!r}: unknown descriptor; use one of {', '.join(_DESCRIPTORS)} or "
                        f"'@every 24h', or a cron expression such as '0 3 * * *'.")


def _cron_field_ok(value: str, name: str, low: int, high: int) -> bool:
    if value == "?":
        return name in ("day of month", "day of week")
    for part in value.split(","):
        span, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if span == "*":
            continue
        start, dash, end = span.partition("-")
        bounds = [_cron_number(start, name)] + ([_cron_number(end, name)] if dash else [])
        if any(b is None or not low <= b <= high for b in bounds) or (dash and bounds[0] > bounds[1]):
            return False
    return True


def _cron_number(text: str, name: str) -> Optional[int]:
    if text.isdigit():
        return int(text)
    names = _NAMES.get(name, [])
    offset = 1 if name == "month" else 0
    return names.index(text.upper()) + offset if text.upper() in names else None


# ---------------------------------------------------------------------------------------------------
# Submit and schedule


def submit(client: kfp.Client, package_path: str, experiment: str, params: Dict[str, Any],
           run_name: Optional[str] = None, enable_caching: Optional[bool] = None) -> Dict[str, str]:
    """Creates one run of the package (its spec sent inline) in `experiment`, created if missing.
    `enable_caching` None keeps the compiled caching options. Returns run_id, experiment_id, url."""
    documents = read_package(package_path)
    _check_params(params, parameter_types(documents[0]), package_path)
    host = _host(client)
    experiment_id = _experiment_id(client, experiment, host)
    run_name = run_name or _default_run_name(documents[0])
    with _server_errors(host, f"creating run {run_name!r}", experiment=experiment, experiment_id=experiment_id,
                        namespace=_namespace(client)):
        run = client.run_pipeline(experiment_id=experiment_id, job_name=run_name, pipeline_package_path=package_path,
                                  params=dict(params or {}), enable_caching=enable_caching)
    url = f"{host}/#/runs/details/{run.run_id}"
    log.info("created run %r (%s) in experiment %r: %s", run_name, run.run_id, experiment, url)
    return {"run_id": run.run_id, "experiment_id": experiment_id, "url": url}


def schedule(client: kfp.Client, package_path: str, experiment: str, cron: str, max_concurrency: int,
             params: Dict[str, Any], pipeline_name: str, job_name: Optional[str] = None) -> Dict[str, Any]:
    """Uploads the package as pipeline `pipeline_name` (or as a version of it, named by the package's
    content hash and re-used when that version exists), then creates an enabled recurring run of that
    version in `experiment` on the cron schedule, without catch-up of missed runs. Returns the ids."""
    cron6 = normalize_cron(cron)
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise AudioClfError(f"--max-concurrency {max_concurrency!r}: must be a whole number >= 1 (runs of the "
                            f"schedule allowed at the same time).")
    if not (pipeline_name or "").strip():
        raise AudioClfError("schedule: the pipeline name is empty; set `name` in the config.")
    documents = read_package(package_path)
    _check_params(params, parameter_types(documents[0]), package_path)
    host = _host(client)
    experiment_id = _experiment_id(client, experiment, host)
    pipeline_id, version_id, version_name = _pipeline_version(client, package_path, pipeline_name, host)
    job_name = job_name or f"{pipeline_name} retraining"
    with _server_errors(host, f"creating recurring run {job_name!r}", experiment=experiment,
                        experiment_id=experiment_id, namespace=_namespace(client)):
        recurring = client.create_recurring_run(
            experiment_id=experiment_id, job_name=job_name, cron_expression=cron6, max_concurrency=max_concurrency,
            no_catchup=True, params=dict(params or {}), pipeline_id=pipeline_id, version_id=version_id, enabled=True)
    url = f"{host}/#/recurringrun/details/{recurring.recurring_run_id}"
    log.info("created recurring run %r (%s, cron %r) of pipeline %r version %r in experiment %r: %s",
             job_name, recurring.recurring_run_id, cron6, pipeline_name, version_name, experiment, url)
    return {"recurring_run_id": recurring.recurring_run_id, "experiment_id": experiment_id,
            "pipeline_id": pipeline_id, "pipeline_version_id": version_id, "pipeline_version_name": version_name,
            "cron": cron6, "url": url}


def _host(client: kfp.Client) -> str:
    # A client made by `connect` knows its URL; kfp keeps the one it was given as its UI host.
    return getattr(client, "host_url", None) or client._uihost  # pylint: disable=protected-access


def _namespace(client: kfp.Client) -> Optional[str]:
    return client.get_user_namespace() or None


def _default_run_name(spec: Dict[str, Any]) -> str:
    name = spec.get("pipelineInfo", {}).get("name") or "pipeline"
    return f"{name} {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


def _experiment_id(client: kfp.Client, name: str, host: str) -> str:
    """The id of experiment `name` in the client's namespace; kfp creates it if there is none."""
    if not (name or "").strip():
        raise AudioClfError("the experiment name is empty; pass --experiment NAME or set kubeflow.experiment.")
    namespace = _namespace(client)
    with _server_errors(host, f"finding or creating experiment {name!r}", experiment=name, namespace=namespace):
        experiment = client.create_experiment(name=name, namespace=namespace)
    return experiment.experiment_id


def version_name(pipeline_name: str, package_path: str) -> str:
    """The pipeline version name of a package: the same bytes give the same name."""
    with open(package_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return f"{pipeline_name}-{digest[:16]}"


def _pipeline_version(client: kfp.Client, package_path: str, pipeline_name: str,
                      host: str) -> Tuple[str, str, str]:
    """(pipeline id, version id, version name) of the package as a version of pipeline `pipeline_name`."""
    namespace = _namespace(client)
    pipeline_id = _find_pipeline(client, pipeline_name, namespace, host)
    if pipeline_id is None:
        with _server_errors(host, f"uploading {package_path} as pipeline {pipeline_name!r}"):
            pipeline = client.upload_pipeline(package_path, pipeline_name=pipeline_name, namespace=namespace,
                                              description="audioclf: compiled by `audioclf compile`")
        # The upload API names the first version after the pipeline and does not return its id.
        first = _versions(client, pipeline.pipeline_id, host, page_size=1)
        if not first:
            raise AudioClfError(f"KFP at {host} created pipeline {pipeline_name!r} ({pipeline.pipeline_id}) but "
                                f"lists no version of it; look at the pipeline in the KFP UI.")
        log.info("uploaded %s as new pipeline %r (%s)", package_path, pipeline_name, pipeline.pipeline_id)
        return pipeline.pipeline_id, first[0].pipeline_version_id, first[0].display_name
    name = version_name(pipeline_name, package_path)
    same = _versions(client, pipeline_id, host, display_name=name)
    if same:
        log.info("pipeline %r already has version %r of this package; re-using it", pipeline_name, name)
        return pipeline_id, same[0].pipeline_version_id, name
    with _server_errors(host, f"uploading {package_path} as version {name!r} of pipeline {pipeline_name!r}"):
        version = client.upload_pipeline_version(package_path, name, pipeline_id=pipeline_id,
                                                 description="audioclf: compiled by `audioclf compile`")
    log.info("uploaded %s as version %r of pipeline %r", package_path, name, pipeline_name)
    return pipeline_id, version.pipeline_version_id, name


def _name_filter(display_name: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": display_name}]})


def _find_pipeline(client: kfp.Client, name: str, namespace: Optional[str], host: str) -> Optional[str]:
    # kfp's get_pipeline_id looks only at shared pipelines; a multi-user profile keeps its own.
    with _server_errors(host, f"looking up pipeline {name!r}"):
        found = client.list_pipelines(filter=_name_filter(name), namespace=namespace).pipelines or []
    if len(found) > 1:
        raise AudioClfError(f"KFP at {host} has {len(found)} pipelines named {name!r}; delete the extra ones or "
                            f"set a different `name` in the config.")
    return found[0].pipeline_id if found else None


def _versions(client: kfp.Client, pipeline_id: str, host: str, display_name: Optional[str] = None,
              page_size: int = 10) -> list:
    """Versions of a pipeline, newest first; only those named `display_name` if given."""
    with _server_errors(host, f"listing the versions of pipeline {pipeline_id}"):
        response = client.list_pipeline_versions(
            pipeline_id, page_size=page_size, sort_by="created_at desc",
            filter=_name_filter(display_name) if display_name else None)
    return response.pipeline_versions or []


# ---------------------------------------------------------------------------------------------------
# Errors


@contextlib.contextmanager
def _server_errors(host: str, doing: str, experiment: Optional[str] = None, experiment_id: Optional[str] = None,
                   namespace: Optional[str] = None) -> Iterator[None]:
    """Runs kfp calls, turning what they raise into AudioClfError. kfp prints links on stdout, which
    carries the command's JSON result, so they go to the log instead."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            yield
    except kfp_server_api.ApiException as err:
        raise _http_error(err, host, doing, experiment, experiment_id, namespace) from err
    except (urllib3.exceptions.HTTPError, ConnectionError) as err:
        raise _connection_error(err, host, doing) from err
    except ValueError as err:   # kfp's own checks, e.g. two experiments with the same name
        raise AudioClfError(f"{doing} on KFP at {host}: {err}") from err
    finally:
        for line in printed.getvalue().splitlines():
            log.debug("kfp: %s", line)


def _connection_error(err: Exception, host: str, doing: str) -> AudioClfError:
    reason = getattr(err, "reason", None) or err
    if isinstance(reason, urllib3.exceptions.ReadTimeoutError):
        return AudioClfError(f"KFP at {host} accepted the connection but did not answer within "
                             f"{REQUEST_TIMEOUT[1]:g} s while {doing}; check that --host is the KFP API or UI "
                             f"address and that the ml-pipeline pods are ready.")
    if isinstance(reason, urllib3.exceptions.SSLError):
        return AudioClfError(f"the TLS handshake with {host} failed while {doing} ({reason}); a port-forward "
                             f"speaks plain http: use --host http://... (or fix the certificate).")
    return AudioClfError(f"cannot reach Kubeflow Pipelines at {host} while {doing} ({_short(reason)}). Check "
                         f"--host; from outside the cluster forward the UI first: `{PORT_FORWARD}` and use "
                         f"--host http://localhost:8080.")


def _http_error(err: kfp_server_api.ApiException, host: str, doing: str, experiment: Optional[str],
                experiment_id: Optional[str], namespace: Optional[str]) -> AudioClfError:
    status, message = err.status, _server_message(err)
    if not status:   # raised by the client itself, before an HTTP answer (e.g. a TLS failure)
        return AudioClfError(f"cannot talk to KFP at {host} while {doing}: {_short(err.reason)}. Check --host "
                             f"(http:// for a port-forward).")
    if status in (401, 403):
        return AudioClfError(
            f"KFP at {host} refused the request ({status} {'unauthenticated' if status == 401 else 'forbidden'}) "
            f"while {doing}: {message}. Not authorized: set {TOKEN_ENV} to a bearer token the cluster accepts, or "
            f"check the kube config / service-account token ({KF_PIPELINES_SA_TOKEN_ENV})"
            + (f" and that you may use namespace {namespace!r}" if namespace else "") + ".")
    if status == 404 and experiment:
        which = f"experiment {experiment!r}" + (f" (id {experiment_id})" if experiment_id else "")
        return AudioClfError(
            f"{which} was not found in namespace {namespace or '(default, single-user)'} on KFP at {host} while "
            f"{doing}: {message}. Check --experiment and, on a multi-user deployment, that the namespace is your "
            f"profile's (experiments belong to one namespace).")
    if status == 404:
        return AudioClfError(f"KFP at {host} answered 404 not found while {doing}: {message}. Is --host a "
                             f"Kubeflow Pipelines 2.x address (the API or the UI)?")
    return AudioClfError(f"KFP at {host} answered HTTP {status} {err.reason or ''} while {doing}: {message}")


def _server_message(err: kfp_server_api.ApiException) -> str:
    """The message of a KFP error body ({"error"|"message": ...}), else the body's start."""
    body = err.body.decode("utf-8", "replace") if isinstance(err.body, bytes) else (err.body or "")
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        text = parsed.get("message") or parsed.get("error")
        if text:
            return _short(text)
    return _short(body.strip() or err.reason or "no details")


def _short(text: Any, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."
