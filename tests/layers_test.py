"""The layers point down: components/common at the bottom, then trainer/, then the components (each
may use those upstream of it in the pipeline), then pipeline/ (CLI, runners, report, Kubeflow) and
bench/ on top. A module may import its own folder and what lies below it, never above; test modules
beside the code obey the same rule (artifacts made by running upstream components come from
tests/sample_artifacts.py, which is outside the layers)."""
import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PROJECT = ("components", "trainer", "serving", "pipeline", "bench", "audioclf")


def layer(module: str) -> str:
    """The layer a dotted module name belongs to: 'common', 'trainer', 'component:<name>', 'pipeline', 'bench'."""
    parts = module.split(".")
    if parts[0] == "components":
        if len(parts) == 1 or parts[1] in ("common", "__init__"):
            return "common"
        return f"component:{parts[1]}"
    return {"audioclf": "pipeline"}.get(parts[0], parts[0])


# The components in pipeline order: a component may read the formats and settings of those upstream of it
# (e.g. the synthesis reads the speaker index), never of those downstream.
PIPELINE_ORDER = ("speaker_index", "audio_synthesis", "audio_example_gen", "schema_curation", "anomaly_gate",
                  "audio_trainer", "audio_evaluator", "kserve_deployer")

# What each layer may import besides itself.
ALLOWED = {
    "common": set(),
    "trainer": {"common"},
    "component": {"common", "trainer"},
    # The model server runs in its own environment without TFX or Beam: trainer's classifier only.
    "serving": {"common", "trainer"},
    "pipeline": {"common", "trainer", "component", "serving"},
    "bench": {"common", "trainer", "component", "serving", "pipeline"},
}


def allowed(importer: str, imported: str) -> bool:
    if importer == imported:
        return True
    if importer.startswith("component:") and imported.startswith("component:"):
        return PIPELINE_ORDER.index(imported.split(":")[1]) < PIPELINE_ORDER.index(importer.split(":")[1])
    return imported.split(":")[0] in ALLOWED[importer.split(":")[0]]


def project_imports(path: pathlib.Path):
    """(line, module) of every import of a project module in `path`, top-level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names if node.module == "components"]
        for name in names:
            if name.split(".")[0] in PROJECT:
                yield node.lineno, name


def source_files():
    for top in ("components", "trainer", "serving", "pipeline", "bench"):
        yield from sorted((REPO / top).rglob("*.py"))
    yield REPO / "audioclf.py"


def module_name(path: pathlib.Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def violations():
    found = []
    for path in source_files():
        own = layer(module_name(path))
        for line, name in project_imports(path):
            if not allowed(own, layer(name)):
                found.append(f"{path.relative_to(REPO)}:{line} ({own}) imports {name} ({layer(name)})")
    return found


def test_no_module_imports_a_layer_above_its_own():
    assert violations() == []


@pytest.mark.parametrize("importer, imported, ok", [
    ("components.speaker_index.corpus", "pipeline.config", False),
    ("trainer.model", "components.audio_trainer.tfjob", False),
    ("components.common.audio", "trainer.model", False),
    ("components.audio_trainer.executor", "trainer.task", True),
    ("components.audio_evaluator.executor", "components.speaker_index.corpus", True),
    ("components.speaker_index.executor", "components.audio_synthesis.config", False),
    ("pipeline.cli", "components.common.errors", True),
    ("pipeline.cli", "bench.kfold", False),
])
def test_the_rule_itself(importer, imported, ok):
    assert allowed(layer(importer), layer(imported)) is ok
