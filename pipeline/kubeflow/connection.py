"""Connecting to Kubeflow Pipelines with the kfp client, and what its failures mean for the user.

Authentication comes from the usual places, never from this code: a bearer token in `KFP_TOKEN`;
otherwise, inside a pod, the projected service-account token KFP reads
(`KF_PIPELINES_SA_TOKEN_PATH`, default /var/run/secrets/kubeflow/pipelines/token); otherwise
whatever kfp itself finds (the cookie or header of ~/.config/kfp/context.json), or nothing, which
is what a `kubectl port-forward` to the UI service needs.

Every failure of the server or of the connection becomes an AudioClfError that says what to check
(`server_errors` is the one place that maps them).
"""
import contextlib
import functools
import io
import json
import logging
import os
import warnings
from typing import Any, Dict, Iterator, Optional

import kfp
import kfp_server_api
import urllib3
from kfp.client import KF_PIPELINES_SA_TOKEN_ENV, KF_PIPELINES_SA_TOKEN_PATH
from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

from components.common.errors import AudioClfError


log = logging.getLogger(__name__)

TOKEN_ENV = "KFP_TOKEN"
HOST_ENV = "KF_PIPELINES_ENDPOINT"   # kfp's own variable, used when no host is given
PORT_FORWARD = "kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80"
# (connect, read) seconds for every request: kfp sets none, so a host that drops packets (a cluster IP
# typed from outside the cluster) would hang the command for minutes.
REQUEST_TIMEOUT = (10.0, 300.0)


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
        with server_errors(url, "connecting", namespace=namespace):
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


@contextlib.contextmanager
def server_errors(host: str, doing: str, experiment: Optional[str] = None, experiment_id: Optional[str] = None,
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
