"""KServeDeployer executor: deploys what the Pusher pushed as a KServe InferenceService, or nothing.

Not blessed means not pushed, and not pushed means not deployed: the step then touches no cluster, logs
why and records `deployed` = 0. A pushed model (the Pusher's `pushed_destination`, <serving_dir>/<version>)
is deployed with inference_service.py: created or updated, waited for until Ready, or the step fails
with the service's conditions.
"""
import json
import logging
import math
from typing import Any, Dict, List, Optional

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.audio_trainer.config import KServeConfig
from components.common import fs
from components.common.artifacts import DEPLOYMENT_FILE
from components.common.settings import section_from_json
from components.kserve_deployer import inference_service

log = logging.getLogger(__name__)

PUSHED_MODEL_KEY = "pushed_model"
DEPLOYMENT_KEY = "deployment"
KSERVE_CONFIG_KEY = "kserve_config"
SERVER_COMMAND_KEY = "server_command"
HTTP_PORT_KEY = "http_port"
MODEL_NAME_KEY = "model_name"
# The Pusher's custom properties (tfx/components/pusher/executor.py).
PUSHED, PUSHED_DESTINATION, PUSHED_VERSION = "pushed", "pushed_destination", "pushed_version"


def _property(item: types.Artifact, key: str) -> Any:
    """A custom property as the Pusher set it (an int or string on a local run). On Kubeflow, TFX's entry
    point hands it over as a JSON value (`pushed` = 1.0), which `get_custom_property` returns, except that a
    JSON 0 comes back as None."""
    return item.get_custom_property(key) if item.has_custom_property(key) else None


def pushed_model(item: types.Artifact) -> Optional[Dict[str, str]]:
    """{"uri", "version"} of the pushed model, or None when the Pusher pushed nothing."""
    if not _property(item, PUSHED):
        return None
    uri = _property(item, PUSHED_DESTINATION)
    if not uri:
        raise ValueError(f"the PushedModel at {item.uri} says pushed but has no {PUSHED_DESTINATION}")
    return {"uri": str(uri), "version": str(_property(item, PUSHED_VERSION) or str(uri).rstrip("/").rsplit("/", 1)[-1])}


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        config: KServeConfig = section_from_json(KServeConfig, exec_properties[KSERVE_CONFIG_KEY])
        pushed = artifact_utils.get_single_instance(input_dict[PUSHED_MODEL_KEY])
        output = artifact_utils.get_single_instance(output_dict[DEPLOYMENT_KEY])
        model_name = exec_properties[MODEL_NAME_KEY]
        record = {"deployed": 0, "service": config.name, "namespace": config.namespace, "model_name": model_name}
        model = pushed_model(pushed)
        if model is None:
            log.info("KServe deploy: the Pusher pushed no model (not blessed), so nothing is deployed; "
                     "InferenceService %s in namespace %s is left as it is", config.name, config.namespace)
            self._record(output, {**record, "reason": "not pushed (the model was not blessed)"})
            return
        inference_service.check_storage_uri(model["uri"])
        manifest = inference_service.build_manifest(
            config.name, config.namespace, config.image, json.loads(exec_properties[SERVER_COMMAND_KEY]),
            int(exec_properties[HTTP_PORT_KEY]), model["uri"], model["version"], config.resources,
            service_account=config.service_account, deployment_mode=config.deployment_mode,
            min_replicas=config.min_replicas, max_replicas=config.max_replicas,
            canary_traffic_percent=config.canary_traffic_percent)
        service = inference_service.InferenceServiceDeployer().deploy(manifest, poll_seconds=config.poll_seconds,
                                  timeout_seconds=math.ceil(config.timeout_minutes * 60))
        status = service.get("status") or {}
        predictor = (status.get("components") or {}).get("predictor") or {}
        url = inference_service.service_url(service)
        applied = service.get("spec", {}).get("predictor", {}).get("canaryTrafficPercent") or 0
        log.info("KServe deploy: model %s (version %s) is served by InferenceService %s: %s/v1/models/%s:predict "
                 "and %s/v2/models/%s/infer%s", model["uri"], model["version"], config.name, url, model_name, url,
                 model_name, f" (canary: {applied}% of traffic)" if applied else "")
        self._record(output, {**record, "deployed": 1, "url": url, "model_uri": model["uri"],
                              "model_version": model["version"], "revision": predictor.get("latestReadyRevision", ""),
                              "canary_traffic_percent": int(applied), "traffic": predictor.get("traffic") or [],
                              "image": config.image})

    @staticmethod
    def _record(output: types.Artifact, record: Dict[str, Any]) -> None:
        fs.makedirs(output.uri)
        fs.write_text(fs.join(output.uri, DEPLOYMENT_FILE), json.dumps(record, indent=1, sort_keys=True) + "\n")
        for key, value in record.items():
            if isinstance(value, int):
                output.set_int_custom_property(key, value)
            elif isinstance(value, str):
                output.set_string_custom_property(key, value)
