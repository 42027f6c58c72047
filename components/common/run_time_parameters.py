"""Run-time parameters on standard TFX components.

Kubeflow Pipelines passes a run-time parameter to a step only as a top-level execution property, but
the Trainer's epoch count lives inside `custom_config` and the Evaluator's accuracy floor inside
`eval_config`. `extend_spec` adds the parameter to the standard spec; the component's executor folds
its value back into the nested setting before the standard executor runs.
"""
from typing import Dict, Optional, Type

from tfx.types import component_spec


def extend_spec(base: Type[component_spec.ComponentSpec], name: str,
                extra: Dict[str, component_spec.ExecutionParameter],
                extra_inputs: Optional[Dict[str, component_spec.ChannelParameter]] = None
                ) -> Type[component_spec.ComponentSpec]:
    """A ComponentSpec class with `base`'s parameters, inputs and outputs plus `extra` parameters (and
    `extra_inputs` channels)."""
    extra_inputs = extra_inputs or {}
    clash = sorted(set(extra) & set(base.PARAMETERS)) + sorted(set(extra_inputs) & set(base.INPUTS))
    if clash:
        raise ValueError(f"{name}: {', '.join(clash)} already in {base.__name__}")
    return type(name, (base,), {"PARAMETERS": {**base.PARAMETERS, **extra}, "INPUTS": {**base.INPUTS, **extra_inputs}})
