"""KServeDeployer: after the Pusher, serves the pushed model with a KServe InferenceService (Kubeflow only).

Usage::

    deployer = KServeDeployer(pushed_model=pusher.outputs["pushed_model"],
                              kserve_config=json.dumps(dataclasses.asdict(config.kubeflow.kserve)),
                              server_command=config.serving.server_command(KSERVE_MODEL_DIR),
                              http_port=config.serving.http_port, model_name=config.serving.model_name)

The compiled Kubeflow pipeline gets it with `kubeflow.deploy: kserve`; `audioclf run` never does (a local
run has no cluster to deploy to). A model that was not pushed (not blessed) is not deployed.
"""
import json
from typing import List

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.common.artifacts import KServeDeployment
from components.kserve_deployer import executor
from components.kserve_deployer.executor import (DEPLOYMENT_KEY, HTTP_PORT_KEY, KSERVE_CONFIG_KEY, MODEL_NAME_KEY,
                                                 PUSHED_MODEL_KEY, SERVER_COMMAND_KEY)


class KServeDeployerSpec(component_spec.ComponentSpec):
    PARAMETERS = {
        KSERVE_CONFIG_KEY: component_spec.ExecutionParameter(type=str),    # the kubeflow.kserve section as JSON
        SERVER_COMMAND_KEY: component_spec.ExecutionParameter(type=str),   # JSON list: the model server's argv
        HTTP_PORT_KEY: component_spec.ExecutionParameter(type=int),
        MODEL_NAME_KEY: component_spec.ExecutionParameter(type=str),
    }
    INPUTS = {PUSHED_MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.PushedModel)}
    OUTPUTS = {DEPLOYMENT_KEY: component_spec.ChannelParameter(type=KServeDeployment)}


class KServeDeployer(base_component.BaseComponent):
    SPEC_CLASS = KServeDeployerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, pushed_model: types.BaseChannel, kserve_config: str, server_command: List[str], http_port: int,
                 model_name: str):
        super().__init__(spec=KServeDeployerSpec(
            pushed_model=pushed_model, kserve_config=kserve_config, server_command=json.dumps(server_command),
            http_port=http_port, model_name=model_name,
            deployment=types.Channel(type=KServeDeployment)))
