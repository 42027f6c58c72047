"""Shared test fixtures: small LibriSpeech-layout corpora built from the bundled real recordings."""
import os
import shutil
import signal
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


@pytest.fixture
def no_hang():
    """Fails the test instead of hanging it: a SIGALRM after 60 s raises in the blocked call (an open() of a
    FIFO waits for a writer forever). pytest-timeout is not installed."""
    def expired(_signum, _frame):
        raise TimeoutError("the test hung for 60 s (a FIFO or device was opened?)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def _quiet_tensorflow(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))


SPEECHOCEAN = REPO / "data" / "speechocean762-adults"
VCTK = REPO / "data" / "vctk-mini"


def build_kaldi_corpus(root: Path, per_gender: int = 3, utterances: int = 2) -> Path:
    """A Kaldi data dir (data/wav.scp, utt2spk, spk2gender, spk2age) of real speechocean762 speakers."""
    data = SPEECHOCEAN / "data"
    genders = dict(line.split() for line in (data / "spk2gender").read_text().splitlines() if line.strip())
    ages = dict(line.split() for line in (data / "spk2age").read_text().splitlines() if line.strip())
    utt2spk = [line.split() for line in (data / "utt2spk").read_text().splitlines() if line.strip()]
    wav = dict(line.split(maxsplit=1) for line in (data / "wav.scp").read_text().splitlines() if line.strip())
    chosen = [s for g in ("f", "m") for s in sorted(s for s in genders if genders[s] == g)[:per_gender]]
    (root / "data").mkdir(parents=True, exist_ok=True)
    scp, u2s = [], []
    for speaker in chosen:
        for utt in [u for u, s in utt2spk if s == speaker][:utterances]:
            dest = root / wav[utt]
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SPEECHOCEAN / wav[utt], dest)
            scp.append(f"{utt} {wav[utt]}\n")
            u2s.append(f"{utt} {speaker}\n")
    (root / "data" / "wav.scp").write_text("".join(scp))
    (root / "data" / "utt2spk").write_text("".join(u2s))
    (root / "data" / "spk2gender").write_text("".join(f"{s} {genders[s]}\n" for s in chosen))
    (root / "data" / "spk2age").write_text("".join(f"{s} {ages[s]}\n" for s in chosen))
    return root


def build_csv_manifest(root: Path, utterances: int = 2) -> Path:
    """A CSV manifest (path,speaker,gender,age) of the real VCTK speakers in data/vctk-mini, paths relative."""
    lines = ["path,speaker,gender,age\n"]
    for line in (VCTK / "SPEAKERS.TXT").read_text().splitlines():
        if line.startswith(";") or not line.strip():
            continue
        speaker, gender = (f.strip() for f in line.split("|")[:2])
        for f in sorted((VCTK / "dev-mini" / speaker).rglob("*.flac"))[:utterances]:
            dest = root / "audio" / speaker / f.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
            lines.append(f"audio/{speaker}/{f.name},{speaker},{'female' if gender == 'F' else 'male'},30\n")
    (root / "manifest.csv").write_text("".join(lines))
    return root
