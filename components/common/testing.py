"""Helpers for executor tests: artifacts on temp folders, and running an executor with Beam args.
(Artifacts made by running the upstream components are in tests/sample_artifacts.py.)"""
import functools
import json
from pathlib import Path

import yaml
from tfx.dsl.components.base import base_beam_executor

from components.common import beam_args
from components.common.artifacts import INDEX_FILE, SpeakerIndex

# The DirectRunner as `audioclf run` sets it, so no throwaway TFX package is built per test either; the
# DirectRunner starts no container, so the image is only a name.
IN_MEMORY = beam_args.direct_runner("in_memory", 1, image="audioclf-tests")
TWO_PROCESSES = beam_args.direct_runner("multi_processing", 2, image="audioclf-tests")


def artifact(cls, uri: Path):
    item = cls()
    uri.mkdir(parents=True, exist_ok=True)
    item.uri = str(uri)
    return item


def speaker_index_artifact(index: dict, uri: Path) -> SpeakerIndex:
    item = artifact(SpeakerIndex, uri)
    (uri / INDEX_FILE).write_text(json.dumps(index))
    return item


def run_beam_executor(executor_cls, beam_args, inputs, outputs, exec_properties):
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=list(beam_args), tmp_dir="/tmp",
                                                          unique_id="test")
    executor_cls(context).Do(inputs, outputs, exec_properties)


def strict_schema(schema: dict) -> dict:
    """A CRD's OpenAPI schema with unknown fields refused, as the API server does with strict field validation
    (without it, it drops them silently: a typo would pass unnoticed)."""
    schema = dict(schema)
    if "properties" in schema:
        schema["properties"] = {key: strict_schema(value) for key, value in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = strict_schema(schema[key])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in schema:
            schema[key] = [strict_schema(s) for s in schema[key]]
    return schema


@functools.lru_cache(maxsize=None)
def crd_schema(path: str, kind: str, version: str) -> dict:
    """The strict OpenAPI v3 schema of one served version of the CustomResourceDefinition in `path` (read
    once per process: the KServe CRD is 1 MB of YAML)."""
    with open(path, encoding="utf-8") as f:
        crd = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert crd["spec"]["names"]["kind"] == kind, (path, crd["spec"]["names"]["kind"])
    served = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    assert served["served"], f"{kind} {version} is not served by {path}"
    return strict_schema(served["schema"]["openAPIV3Schema"])


def rbac_grants(path, role: str, kubernetes_version: str):
    """(subjects, {(api group, resource, verb)}) of the Role named `role` in the RBAC file `path` and its
    RoleBinding, after checking every document of the file against Kubernetes' schemas (strict)."""
    import kubernetes_validate  # pylint: disable=import-outside-toplevel  (a test dependency)

    documents = list(yaml.safe_load_all(Path(path).read_text(encoding="utf-8")))
    for document in documents:
        kubernetes_validate.validate(document, kubernetes_version, strict=True)
    (rules,) = [d["rules"] for d in documents if d["kind"] == "Role" and d["metadata"]["name"] == role]
    (binding,) = [d for d in documents if d["kind"] == "RoleBinding" and d["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}]
    return binding["subjects"], {(group, resource, verb) for rule in rules for group in rule["apiGroups"]
                                 for resource in rule["resources"] for verb in rule["verbs"]}
