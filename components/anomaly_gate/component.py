"""AnomalyGate: fails the run when ExampleValidator found anomalies; the Trainer runs after it.

Usage::

    gate = AnomalyGate(anomalies=example_validator.outputs["anomalies"])
    trainer.add_upstream_node(gate)
"""
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.anomaly_gate import executor
from components.anomaly_gate.executor import ANOMALIES_KEY


class AnomalyGateSpec(component_spec.ComponentSpec):
    PARAMETERS = {}
    INPUTS = {ANOMALIES_KEY: component_spec.ChannelParameter(type=standard_artifacts.ExampleAnomalies)}
    OUTPUTS = {}


class AnomalyGate(base_component.BaseComponent):
    SPEC_CLASS = AnomalyGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, anomalies: types.Channel):
        super().__init__(spec=AnomalyGateSpec(anomalies=anomalies))
