"""SchemaCurator: SchemaGen's inferred schema -> the same schema with the config's fixed domains.

Usage::

    curated = SchemaCurator(schema=schema_gen.outputs["schema"],
                            synthesis_config=config.section_json("synthesis"))
    curated.outputs["curated_schema"]  # standard Schema, used by ExampleValidator and Trainer
"""
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.schema_curation import executor
from components.schema_curation.executor import CURATED_SCHEMA_KEY, SCHEMA_KEY, SYNTHESIS_CONFIG_KEY


class SchemaCuratorSpec(component_spec.ComponentSpec):
    PARAMETERS = {SYNTHESIS_CONFIG_KEY: component_spec.ExecutionParameter(type=str)}
    INPUTS = {SCHEMA_KEY: component_spec.ChannelParameter(type=standard_artifacts.Schema)}
    OUTPUTS = {CURATED_SCHEMA_KEY: component_spec.ChannelParameter(type=standard_artifacts.Schema)}


class SchemaCurator(base_component.BaseComponent):
    SPEC_CLASS = SchemaCuratorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, schema: types.Channel, synthesis_config: str):
        super().__init__(spec=SchemaCuratorSpec(schema=schema, synthesis_config=synthesis_config,
                                                curated_schema=types.Channel(type=standard_artifacts.Schema)))
