"""Sends the compiled pipeline to Kubeflow Pipelines (KFP v2 API): one run (`audioclf submit`) or a
recurring run for retraining (`audioclf schedule`), in an experiment created when missing."""
import datetime
import hashlib
import json
import logging
from typing import Any, Dict, Optional, Tuple

import kfp

from components.common.errors import AudioClfError
from pipeline.kubeflow.connection import server_errors
from pipeline.kubeflow.cron import normalize_cron
from pipeline.kubeflow.parameters import check_params, parameter_types, read_package


log = logging.getLogger(__name__)


def submit(client: kfp.Client, package_path: str, experiment: str, params: Dict[str, Any],
           run_name: Optional[str] = None, enable_caching: Optional[bool] = None) -> Dict[str, str]:
    """Creates one run of the package (its spec sent inline) in `experiment`, created if missing.
    `enable_caching` None keeps the compiled caching options. Returns run_id, experiment_id, url."""
    documents = read_package(package_path)
    check_params(params, parameter_types(documents[0]), package_path)
    host = _host(client)
    experiment_id = _experiment_id(client, experiment, host)
    run_name = run_name or _default_run_name(documents[0])
    with server_errors(host, f"creating run {run_name!r}", experiment=experiment, experiment_id=experiment_id,
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
    check_params(params, parameter_types(documents[0]), package_path)
    host = _host(client)
    experiment_id = _experiment_id(client, experiment, host)
    pipeline_id, version_id, version_name = _pipeline_version(client, package_path, pipeline_name, host)
    job_name = job_name or f"{pipeline_name} retraining"
    with server_errors(host, f"creating recurring run {job_name!r}", experiment=experiment,
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
    with server_errors(host, f"finding or creating experiment {name!r}", experiment=name, namespace=namespace):
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
        with server_errors(host, f"uploading {package_path} as pipeline {pipeline_name!r}"):
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
    with server_errors(host, f"uploading {package_path} as version {name!r} of pipeline {pipeline_name!r}"):
        version = client.upload_pipeline_version(package_path, name, pipeline_id=pipeline_id,
                                                 description="audioclf: compiled by `audioclf compile`")
    log.info("uploaded %s as version %r of pipeline %r", package_path, name, pipeline_name)
    return pipeline_id, version.pipeline_version_id, name


def _name_filter(display_name: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": display_name}]})


def _find_pipeline(client: kfp.Client, name: str, namespace: Optional[str], host: str) -> Optional[str]:
    # kfp's get_pipeline_id looks only at shared pipelines; a multi-user profile keeps its own.
    with server_errors(host, f"looking up pipeline {name!r}"):
        found = client.list_pipelines(filter=_name_filter(name), namespace=namespace).pipelines or []
    if len(found) > 1:
        raise AudioClfError(f"KFP at {host} has {len(found)} pipelines named {name!r}; delete the extra ones or "
                            f"set a different `name` in the config.")
    return found[0].pipeline_id if found else None


def _versions(client: kfp.Client, pipeline_id: str, host: str, display_name: Optional[str] = None,
              page_size: int = 10) -> list:
    """Versions of a pipeline, newest first; only those named `display_name` if given."""
    with server_errors(host, f"listing the versions of pipeline {pipeline_id}"):
        response = client.list_pipeline_versions(
            pipeline_id, page_size=page_size, sort_by="created_at desc",
            filter=_name_filter(display_name) if display_name else None)
    return response.pipeline_versions or []
