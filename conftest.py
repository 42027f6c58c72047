"""Shared test fixtures: small LibriSpeech-layout corpora built from the bundled real recordings."""
import os
import shutil
import sys
from pathlib import Path

import pytest

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any test imports TensorFlow)

REPO = Path(__file__).resolve().parent
# The local fakes of cluster APIs (tests/fake_kfp_server.py, tests/fake_k8s.py) import by module name:
# tests/ is no package, and `import tests` would find IPython's own `tests` package once IPython is loaded.
sys.path.insert(0, str(REPO / "tests"))
BUNDLED = REPO / "data" / "librispeech-mini"
HEADER = "; test corpus\n;ID  |SEX| SUBSET           |MINUTES| NAME\n"


def bundled_speakers():
    """(id, gender, files) of the bundled corpus, in SPEAKERS.TXT order."""
    result = []
    for line in (BUNDLED / "SPEAKERS.TXT").read_text().splitlines():
        if line.startswith(";") or not line.strip():
            continue
        fields = [f.strip() for f in line.split("|", 4)]
        files = sorted((BUNDLED / "dev-mini" / fields[0]).rglob("*.flac"))
        if files:
            result.append((fields[0], fields[1], files))
    return result


def build_corpus(root: Path, per_gender: int = 4, subset: str = "dev-mini", extra_lines: str = "") -> Path:
    """Copies `per_gender` real speakers of each gender into root (LibriSpeech layout)."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [HEADER]
    counts = {"F": 0, "M": 0}
    for speaker, gender, files in bundled_speakers():
        if counts[gender] >= per_gender:
            continue
        counts[gender] += 1
        for f in files:
            dest = root / subset / speaker / f.parent.name / f.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
        lines.append(f"{speaker:<5}| {gender} | train-clean-100  | 25.00 | Reader {speaker}\n")
    (root / "SPEAKERS.TXT").write_text("".join(lines) + extra_lines)
    return root


@pytest.fixture
def small_corpus(tmp_path):
    return build_corpus(tmp_path / "corpus")


@pytest.fixture(autouse=True)
def _quiet_tensorflow(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
