"""The Kubernetes API from a pipeline step: the client, and what a failed call means.

Shared by the steps that create a cluster resource and wait for it: the Trainer's TFJob launcher
(components/audio_trainer/tfjob.py) and the KServe deployer (components/kserve_deployer/). A poll that
fails because the API server restarts or throttles is tried again on the next poll (`TransientError`,
`ErrorsInARow`); any other refusal becomes an AudioClfError that says what to grant or install.
"""
import contextlib
import json

import kubernetes
import urllib3
from kubernetes.client.rest import ApiException

from components.common.errors import AudioClfError

# Polls that may fail in a row (API server restarts, throttling) before a step gives up.
MAX_TRANSIENT_ERRORS = 5


class TransientError(Exception):
    """A failed API call worth trying again on the next poll."""


@contextlib.contextmanager
def transient_errors():
    """Inside: a connection failure, a throttled request (429) or a server error (5xx) is raised as
    TransientError; other ApiExceptions (401, 403, 404, 409, ...) pass unchanged."""
    try:
        yield
    except ApiException as err:
        if err.status == 429 or err.status >= 500:
            raise TransientError(f"{err.status} {err.reason}") from err
        raise
    except (urllib3.exceptions.HTTPError, OSError) as err:   # connection refused or reset, timeouts
        raise TransientError(str(err)) from err


class ErrorsInARow:
    """Counts transient failures since the last success; `too_many` once there were more than `limit`."""

    def __init__(self, limit: int = MAX_TRANSIENT_ERRORS):
        self.limit, self.count = limit, 0

    def success(self) -> None:
        self.count = 0

    def too_many(self) -> bool:
        """Counts one more failure; True when that is one too many."""
        self.count += 1
        return self.count > self.limit


def status_message(err: ApiException) -> str:
    """The API server's message from the Status in the error body, else the HTTP reason."""
    try:
        return json.loads(err.body).get("message") or err.reason
    except (AttributeError, TypeError, ValueError):
        return (err.body or err.reason or "").strip()


def api_error(err: ApiException, action: str, *, credentials: str, forbidden: str, missing: str,
              missing_hint: str) -> AudioClfError:
    """The AudioClfError for a refused call: `cannot <action>: <why> (<status> <message>); <what to do>`."""
    detail = f"{err.status} {status_message(err)}"
    if err.status == 401:
        return AudioClfError(f"cannot {action}: the Kubernetes API rejected the credentials ({detail}); {credentials}")
    if err.status == 403:
        return AudioClfError(f"cannot {action}: not allowed ({detail}); {forbidden}")
    if err.status == 404:
        return AudioClfError(f"cannot {action}: {missing} ({detail}); {missing_hint}")
    return AudioClfError(f"cannot {action}: the Kubernetes API answered {detail}.")


def api_client(purpose: str, hint: str) -> kubernetes.client.ApiClient:
    """A client for the cluster the process runs in (the step pod's service account), else the local
    kubeconfig; AudioClfError `cannot reach Kubernetes to <purpose>: ...; <hint>` when neither works."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    except kubernetes.config.ConfigException as in_cluster:
        try:
            kubernetes.config.load_kube_config(client_configuration=configuration)
        except (kubernetes.config.ConfigException, OSError) as kubeconfig:
            raise AudioClfError(f"cannot reach Kubernetes to {purpose}: not in a cluster ({in_cluster}) and no "
                                f"usable kubeconfig ({kubeconfig}); {hint}") from kubeconfig
    return kubernetes.client.ApiClient(configuration)
