"""The compiled pipeline package as KFP reads it: its documents, its run-time parameters and their
types, and `--param name=value` pairs checked and typed against them."""
import json
import math
from typing import Any, Dict, List, Sequence

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from components.common.errors import AudioClfError


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


def check_params(params: Dict[str, Any], types: Dict[str, str], package_path: str) -> None:
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
