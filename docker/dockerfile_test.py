"""docker/Dockerfile, docker/build.sh and .dockerignore, checked without a Docker engine.

The image must install exactly like a developer checkout (one lock, one install script, no drift),
run as a non-root user without an ENTRYPOINT (the compiled pipeline sets each step's command), and be
tagged with the name the compiled pipeline uses (pipeline.config.KubeflowConfig.image).
"""
import ast
import fnmatch
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from pipeline.config import KubeflowConfig

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "docker" / "Dockerfile"
SERVING_DOCKERFILE = REPO / "docker" / "Dockerfile.serving"
BUILD_SH = REPO / "docker" / "build.sh"
INSTALL_LOCK = "scripts/install_lock.sh"
BASE_IMAGE = re.compile(r"^(docker\.io/)?(library/)?python:3\.11(\.\d+)?-slim-bookworm(@sha256:[0-9a-f]{64})?$")


# ---------------------------------------------------------------------------------------------------
# A small Dockerfile parser: enough of the reference syntax for the checks below.

@dataclass
class Instruction:
    keyword: str                 # upper case: FROM, RUN, COPY, ...
    args: str                    # the rest, continuations joined, flags removed
    flags: Dict[str, Optional[str]] = field(default_factory=dict)   # --from=build -> {"from": "build"}
    line: int = 0                # 1-based line of the instruction's first line

    def words(self) -> List[str]:
        """The arguments as a list: JSON (exec) form when it is one, else split like a shell."""
        text = self.args.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                pass
            else:
                if isinstance(value, list) and all(isinstance(v, str) for v in value):
                    return value
        return shlex.split(text, posix=True)


_FLAG_KEYWORDS = {"FROM", "RUN", "COPY", "ADD"}


def parse_dockerfile(text: str) -> List[Instruction]:
    """Instructions of a Dockerfile: comments dropped (also inside continuations), lines ending in the
    escape character joined, parser directives (`# escape=`) honoured, leading `--flags` split off."""
    lines = text.splitlines()
    escape = "\\"
    for line in lines:                       # directives come first, before any other line
        match = re.match(r"^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$", line)
        if not match:
            break
        if match.group(1).lower() == "escape":
            escape = match.group(2)

    instructions: List[Instruction] = []
    parts: List[str] = []
    start = 0
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue                         # a comment or an empty line, also inside a continuation
        if not parts:
            start = number
        body = raw.rstrip()
        if body.endswith(escape):
            parts.append(body[: -len(escape)])
            continue
        parts.append(body)
        instructions.append(_instruction(" ".join(p.strip() for p in parts), start))
        parts = []
    if parts:
        raise ValueError(f"line {start}: the last instruction ends with a line continuation")
    return instructions


def _instruction(text: str, line: int) -> Instruction:
    keyword, _, rest = text.partition(" ")
    keyword = keyword.upper()
    flags: Dict[str, Optional[str]] = {}
    rest = rest.strip()
    if keyword in _FLAG_KEYWORDS:
        while rest.startswith("--"):
            token, _, rest = rest.partition(" ")
            name, eq, value = token[2:].partition("=")
            flags[name.lower()] = value if eq else None
            rest = rest.strip()
    return Instruction(keyword, rest, flags, line)


def stages(instructions: List[Instruction]) -> List[List[Instruction]]:
    """The build stages, each starting with its FROM."""
    result: List[List[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        elif not result:
            if instruction.keyword != "ARG":
                raise ValueError(f"line {instruction.line}: {instruction.keyword} before the first FROM")
            continue
        result[-1].append(instruction)
    return result


def env_values(instruction: Instruction) -> Dict[str, str]:
    """ENV KEY=value KEY2="v 2" ..., or the legacy ENV KEY value form."""
    words = shlex.split(instruction.args, posix=True)
    if words and "=" not in words[0]:
        return {words[0]: instruction.args.strip()[len(words[0]):].strip()}
    return dict(word.split("=", 1) for word in words)


def copy_sources(instruction: Instruction) -> List[str]:
    return instruction.words()[:-1]


# ---------------------------------------------------------------------------------------------------
# .dockerignore, with Docker's rules: patterns relative to the context root, `*` and `?` within one
# path element, `**` across any number of them, `!` re-includes, the last matching line wins, and an
# excluded directory excludes everything below it.

def read_dockerignore(path: Path) -> List[tuple]:
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line[1:].strip() if negate else line).lstrip("/")
        rules.append((negate, _pattern_regex(pattern)))
    return rules


def _pattern_regex(pattern: str) -> "re.Pattern":
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append(r"(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(r".*")
            i += 2
        elif pattern[i] == "*":
            out.append(r"[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append(r"[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape("["))
                i += 1
            else:
                out.append(fnmatch.translate(pattern[i:end + 1])[4:-3])   # the class, as fnmatch reads it
                i = end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def is_ignored(rules: List[tuple], relative: str) -> bool:
    """Whether the context path `relative` (posix, from the context root) is left out of the context."""
    parts = Path(relative).parts
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for negate, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not negate
    return ignored


# ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dockerfile() -> List[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final_stage(dockerfile) -> List[Instruction]:
    return stages(dockerfile)[-1]


def setup_py_version() -> str:
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "VERSION" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no VERSION = '...' line")


_MISSING = object()


def setup_py_call_argument(name: str, default=_MISSING):
    """A keyword argument of setup() (or of find_packages() inside it), as a Python value."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == name:
                    return ast.literal_eval(keyword.value)
    if default is _MISSING:
        raise AssertionError(f"setup.py passes no {name}=")
    return default


def shell_commands(path: Path) -> List[str]:
    """The non-comment lines of a shell script, continuations joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def shell_pipeline_commands(text: str) -> List[List[str]]:
    """The simple commands of a shell line (split at &&, ||, ;, |), each as its words."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: List[List[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set(";&|"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---- the parser itself ----------------------------------------------------------------------------

def test_parser_joins_continuations_and_drops_comments():
    text = (
        "# syntax=docker/dockerfile:1\n"
        "FROM --platform=linux/amd64 python:3.11-slim-bookworm AS build\n"
        "# a comment\n"
        "RUN --mount=type=cache,target=/root/.cache/pip apt-get update \\\n"
        "    # a comment inside the continuation\n"
        "\n"
        " && apt-get install -y ffmpeg\n"
        "COPY --from=build --chown=1000:1000 /opt/venv /opt/venv\n"
        'ENTRYPOINT ["python", "-m", "x"]\n'
        'ENV A=1 B="two words" \\\n    C=3\n'
        "env LEGACY value with spaces\n"
    )
    parsed = parse_dockerfile(text)
    assert [i.keyword for i in parsed] == ["FROM", "RUN", "COPY", "ENTRYPOINT", "ENV", "ENV"]
    assert parsed[0].flags == {"platform": "linux/amd64"} and parsed[0].words() == ["python:3.11-slim-bookworm", "AS", "build"]
    assert parsed[1].flags == {"mount": "type=cache,target=/root/.cache/pip"}
    assert parsed[1].args.split() == ["apt-get", "update", "&&", "apt-get", "install", "-y", "ffmpeg"]
    assert parsed[1].line == 4
    assert parsed[2].flags == {"from": "build", "chown": "1000:1000"} and copy_sources(parsed[2]) == ["/opt/venv"]
    assert parsed[3].words() == ["python", "-m", "x"]
    assert env_values(parsed[4]) == {"A": "1", "B": "two words", "C": "3"}
    assert env_values(parsed[5]) == {"LEGACY": "value with spaces"}
    assert len(stages(parsed)) == 1
    with pytest.raises(ValueError, match="continuation"):
        parse_dockerfile("FROM x\nRUN a \\\n")
    backtick = parse_dockerfile("# escape=`\nFROM x\nRUN a `\n  b\n")
    assert backtick[1].args.split() == ["a", "b"]


def test_dockerignore_matcher_follows_docker_rules():
    rules = [(False, _pattern_regex(p)) for p in (".venv", "**/__pycache__", "*.egg-info", "data/*.tmp")]
    rules.append((True, _pattern_regex("data/keep.tmp")))
    assert is_ignored(rules, ".venv/bin/python")
    assert is_ignored(rules, "pipeline/__pycache__/cli.cpython-311.pyc")
    assert is_ignored(rules, "__pycache__/x.pyc")
    assert is_ignored(rules, "audioclf.egg-info/PKG-INFO")
    assert not is_ignored(rules, "sub/audioclf.egg-info")        # no implicit **/ as in .gitignore
    assert is_ignored(rules, "data/a.tmp") and not is_ignored(rules, "data/keep.tmp")
    assert not is_ignored(rules, "data/sub/a.tmp")               # * stays within one path element
    assert not is_ignored(rules, "pipeline/cli.py")


# ---- one lock, one install script ------------------------------------------------------------------

def test_image_installs_only_through_install_lock_script(dockerfile):
    build = [i for stage in stages(dockerfile) for i in stage]
    runs = [i for i in build if i.keyword == "RUN"]
    copies = [i for i in build if i.keyword in ("COPY", "ADD") and "from" not in i.flags]
    copied = [source.rstrip("/") for i in copies for source in copy_sources(i)]
    assert "requirements/lock.txt" in copied and INSTALL_LOCK in copied

    installer = re.compile(r"\bpip3?\b|\buv\b|easy_install|setup\.py\s+(install|develop)|"
                           r"\bpoetry\b|\bconda\b|\bpipenv\b|\bpipx\b|\.whl\b")
    for run in runs:
        assert not installer.search(run.args), (
            f"Dockerfile line {run.line} installs Python packages itself; install only through "
            f"{INSTALL_LOCK} so the image and scripts/setup.sh cannot drift: {run.args}")
    for add in (i for i in build if i.keyword == "ADD"):
        assert not re.search(r"\.(whl|tar\.gz|zip)\b|https?://", add.args), f"line {add.line}: ADD of a package"

    calls = []
    for run in runs:
        for words in shell_pipeline_commands(run.args):
            scripts = [n for n, w in enumerate(words) if w.endswith(INSTALL_LOCK)]
            if scripts:
                calls.append((run, words[scripts[0] + 1:]))
    assert calls, f"the Dockerfile never runs {INSTALL_LOCK}"
    for run, args in calls:
        assert args and args[0] == "/opt/venv", f"line {run.line}: install into /opt/venv, got {args}"
        assert "--editable" not in args, f"line {run.line}: the image needs a regular (site-packages) install"
    modes = [set(args) & {"--lock-only", "--project-only"} for _, args in calls]
    covers_both = set() in modes or ({"--lock-only"} in modes and {"--project-only"} in modes)
    assert covers_both, f"the install script calls {modes} do not install both the lock and the project"

    # The lock is installed before the sources are copied (a source edit must not reinstall 3.6 GB), and
    # every package setup.py installs is copied before the project install.
    if {"--lock-only"} in modes:
        lock_run = calls[modes.index({"--lock-only"})][0]
        project_run = calls[modes.index({"--project-only"})][0]
        assert lock_run.line < project_run.line
        before_lock = {s.rstrip("/") for i in copies if i.line < lock_run.line for s in copy_sources(i)}
        allowed = {"requirements/lock.txt", "requirements/gpu-lock.txt", INSTALL_LOCK, "requirements", "scripts"}
        assert before_lock <= allowed, (
            f"only the lock and the install script may be copied before the lock install, not {before_lock}")
    else:
        project_run = calls[modes.index(set())][0]
    # Every top-level package and module setup.py installs: a missing one would not fail the install
    # (setuptools only warns about a missing py_modules file), it would be missing from the image.
    needed = {"setup.py", "pyproject.toml"} | {
        p for p in setup_py_call_argument("include") if "." not in p and "*" not in p} | {
        f"{m}.py" for m in setup_py_call_argument("py_modules", [])}
    copied_before = {s.rstrip("/") for i in copies if i.line < project_run.line for s in copy_sources(i)}
    assert needed <= copied_before, f"copy {sorted(needed - copied_before)} before the project install"


def test_setup_sh_installs_through_the_same_script_and_lock():
    commands = shell_commands(REPO / "scripts" / "setup.sh")
    calls = [c for c in commands if INSTALL_LOCK in c and not c.startswith("echo")]
    assert calls, f"scripts/setup.sh must install through {INSTALL_LOCK}"
    assert any(re.search(re.escape(INSTALL_LOCK) + r"\s+\.venv\s+--editable\b", c) for c in calls), calls
    for command in commands:
        assert not re.search(r"\bpip3?\s+install\b|-m\s+pip\b", command), (
            f"scripts/setup.sh installs packages itself; use {INSTALL_LOCK}: {command}")

    install = shell_commands(REPO / INSTALL_LOCK)
    pip_installs = [c for c in install if re.search(r"pip\"?\s+install\b", c)]
    lock_installs = [c for c in pip_installs if '-r "$lock_file"' in c]
    assert len(lock_installs) == 1, "the install script installs its lock once"
    assert 'lock_file="requirements/lock.txt"' in (REPO / INSTALL_LOCK).read_text(), "requirements/lock.txt is the default"
    other_locks = {m for c in calls for m in re.findall(r"--lock\s+(\S+)", c)}
    assert other_locks <= {"requirements/serving-lock.txt"}, f"setup.sh installs another lock: {other_locks}"
    assert "--no-deps" in lock_installs[0] and "--ignore-requires-python" in lock_installs[0]
    for command in pip_installs:
        assert "--no-deps" in command, f"every install is --no-deps (the lock is complete): {command}"
        assert not re.search(r"-r\s+(?!\"\$lock_file\")", command), f"another requirements file: {command}"
        assert not re.search(r"==|>=|<=|~=", command), f"a version pinned outside the lock: {command}"
    assert any(re.search(r'pip"?\s+check\b', c) for c in install), "the install script ends with pip check"


def test_lock_holds_every_dependency_setup_py_declares():
    # Installs are --no-deps, so a dependency added to setup.py but not to the lock would be missing.
    locked = {normalize(line.split("==")[0]) for line in (REPO / "requirements" / "lock.txt").read_text().splitlines()
              if "==" in line and not line.lstrip().startswith("#")}
    declared = {normalize(re.split(r"[<>=!~\[; ]", r, 1)[0]) for r in setup_py_call_argument("install_requires")}
    assert declared - locked == set()


def test_shell_scripts_are_strict_and_parse():
    for script in (REPO / INSTALL_LOCK, REPO / "scripts" / "setup.sh", BUILD_SH):
        assert "set -euo pipefail" in shell_commands(script), f"{script.name}: start with set -euo pipefail"
        assert os.stat(script).st_mode & stat.S_IXUSR, f"{script} is not executable (chmod +x)"
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_install_script_refuses_bad_arguments_before_touching_anything(tmp_path):
    script = str(REPO / INSTALL_LOCK)
    both = subprocess.run([script, str(tmp_path / "v"), "--lock-only", "--project-only"],
                          capture_output=True, text=True)
    assert both.returncode == 2 and "exclude each other" in both.stderr
    assert not (tmp_path / "v").exists()

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "something").write_text("keep me")
    refused = subprocess.run([script, str(existing)], capture_output=True, text=True)
    assert refused.returncode == 1 and "already exists" in refused.stderr
    assert sorted(p.name for p in existing.iterdir()) == ["something"]

    no_venv = subprocess.run([script, str(tmp_path / "none"), "--project-only"], capture_output=True, text=True)
    assert no_venv.returncode == 1 and "--lock-only" in no_venv.stderr


# ---- base image, runtime, user ---------------------------------------------------------------------

def global_args(instructions: List[Instruction]) -> Dict[str, str]:
    """ARG NAME=default lines before the first FROM (what ${NAME} in a FROM line resolves to)."""
    values: Dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG" and "=" in instruction.args:
            name, default = instruction.args.strip().split("=", 1)
            values[name] = default.strip('"')
    return values


def base_images(instructions: List[Instruction]) -> List[str]:
    """The base of each stage that does not build on an earlier stage, ${ARG}s resolved to their defaults."""
    args, names, bases = global_args(instructions), set(), []
    for instruction in (i for i in instructions if i.keyword == "FROM"):
        words = instruction.words()
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), words[0])
        if image not in names:               # FROM <earlier stage> reuses that stage's base
            bases.append(image)
        assert "platform" not in instruction.flags or instruction.flags["platform"] == "linux/amd64"
        if len(words) >= 3 and words[1].upper() == "AS":
            names.add(words[2])
    return bases


@pytest.mark.parametrize("path", [DOCKERFILE, SERVING_DOCKERFILE], ids=["main", "serving"])
def test_base_image_is_python_311_on_bookworm(path):
    instructions = parse_dockerfile(path.read_text())
    bases = base_images(instructions)
    assert bases and all(BASE_IMAGE.match(b) for b in bases), (
        f"{path.name}: bases {bases}; the locks were measured on Python 3.11, Debian 12 (glibc 2.36): "
        f"use python:3.11-slim-bookworm (docker/base_image.sh makes its local stand-in)")
    assert global_args(instructions).get("BASE_IMAGE"), f"{path.name}: ARG BASE_IMAGE=... before the first FROM"
    assert all(i.words()[0] in ("${BASE_IMAGE}", "$BASE_IMAGE") for i in instructions
               if i.keyword == "FROM"), f"{path.name}: every stage starts FROM ${{BASE_IMAGE}} (build.sh --base)"


def test_gpu_lock_is_the_lock_plus_tensorflows_cuda_wheels(dockerfile):
    lines = [line.strip() for line in (REPO / "requirements" / "gpu-lock.txt").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert lines[0] == "-r lock.txt", "requirements/gpu-lock.txt starts from the one lock (-r lock.txt)"
    extra = lines[1:]
    assert extra and all(re.fullmatch(r"nvidia-[a-z0-9-]+-cu12==[0-9.]+", line) for line in extra), extra
    names = {line.split("==")[0] for line in extra}
    assert {"nvidia-cudnn-cu12", "nvidia-cublas-cu12", "nvidia-cuda-runtime-cu12", "nvidia-nccl-cu12"} <= names
    locked = (REPO / "requirements" / "lock.txt").read_text()
    assert "tensorflow==2.16.2" in locked.splitlines(), "re-resolve gpu-lock.txt when TensorFlow changes"
    installs = " ".join(i.args for i in dockerfile if i.keyword == "RUN" and INSTALL_LOCK in i.args)
    assert re.search(r"gpu\)\s*lock=requirements/gpu-lock\.txt", installs), "VARIANT=gpu installs gpu-lock.txt"


def test_serving_image_installs_its_lock_and_the_servers_code_only():
    instructions = parse_dockerfile(SERVING_DOCKERFILE.read_text())
    runs = [i for i in instructions if i.keyword == "RUN"]
    lock_runs = [r for r in runs if INSTALL_LOCK in r.args]
    assert len(lock_runs) == 1
    assert re.search(re.escape(INSTALL_LOCK) + r"\s+/opt/venv\s+--lock-only\s+--lock\s+requirements/serving-lock\.txt",
                     lock_runs[0].args)
    for run in runs:
        assert not re.search(r"\bpip3?\s+install\b|-m\s+pip\b", run.args), f"line {run.line} installs packages itself"
    final = stages(instructions)[-1]
    copied = {s.rstrip("/") for i in final if i.keyword == "COPY" and "from" not in i.flags for s in copy_sources(i)}
    # The serving layer (tests/layers_test.py): serving/ imports only components.common and trainer.
    assert copied == {"serving", "trainer", "components/__init__.py", "components/common"}, copied
    env: Dict[str, str] = {}
    for instruction in (i for i in final if i.keyword == "ENV"):
        env.update(env_values(instruction))
    assert env.get("PYTHONPATH") == "/opt/audioclf" and env.get("TF_USE_LEGACY_KERAS") == "1"
    users = [i.args.strip() for i in final if i.keyword == "USER"]
    assert users and users[-1].split(":")[0] == "1000"
    entry = [i.words() for i in final if i.keyword == "ENTRYPOINT"]
    assert entry == [["python", "-m", "serving.server"]]
    assert any(re.search(r"import kserve, serving\.server", r.args) for r in runs), "a build-time import check"


def test_runtime_stage_has_ffmpeg_env_venv_and_smoke_check(final_stage):
    runs = [i for i in final_stage if i.keyword == "RUN"]
    apt = [r for r in runs if re.search(r"apt-get\s+install\b", r.args)]
    assert any(re.search(r"\bffmpeg\b", r.args) for r in apt), "install ffmpeg in the runtime stage"
    for run in apt:
        assert "--no-install-recommends" in run.args and "rm -rf /var/lib/apt/lists" in run.args, (
            f"line {run.line}: apt-get install --no-install-recommends, then rm -rf /var/lib/apt/lists/*")
        assert not re.search(r"\b(g\+\+|gcc|build-essential)\b", run.args), "no compiler in the runtime image"

    env: Dict[str, str] = {}
    for instruction in (i for i in final_stage if i.keyword == "ENV"):
        env.update(env_values(instruction))
    assert env.get("TF_USE_LEGACY_KERAS") == "1"
    assert env.get("PYTHONUNBUFFERED") == "1"
    assert env.get("PATH", "").split(":")[0] == "/opt/venv/bin", "python must be /opt/venv/bin/python"

    venv_copies = [i for i in final_stage if i.keyword == "COPY" and "from" in i.flags
                   and i.words() == ["/opt/venv", "/opt/venv"]]
    assert venv_copies, "the runtime stage must copy /opt/venv (the venv install_lock.sh made)"

    smoke = [r for r in runs if "kubeflow_v2_run_executor" in r.args]
    assert smoke, "a build-time import check of the modules the pipeline steps run"
    for module in ("tfx", "kapre", "components.speaker_index.executor", "trainer.task", "trainer.worker",
                   "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"):
        assert re.search(r"import [^\"']*\b" + re.escape(module) + r"\b", smoke[0].args), f"smoke check misses {module}"
    assert smoke[0].line > venv_copies[0].line


def test_runs_as_a_non_root_user_and_keeps_kubeflows_command(dockerfile, final_stage):
    users = [i for i in final_stage if i.keyword == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    user = users[-1].args.split(":")[0].strip()
    if user.isdigit():
        assert int(user) != 0, "USER 0 is root"
    else:
        assert user != "root"
        created = [r for r in final_stage if r.keyword == "RUN" and re.search(r"useradd\b.*\b" + re.escape(user), r.args)]
        uid = re.search(r"(?:--uid|-u)\s+(\d+)", created[0].args) if created else None
        assert uid and int(uid.group(1)) != 0, f"create {user} with a fixed non-zero uid (useradd --uid 1000)"
    env: Dict[str, str] = {}
    for instruction in (i for i in final_stage if i.keyword == "ENV"):
        env.update(env_values(instruction))
    assert env.get("HOME", "").startswith("/home/"), "set HOME to the user's writable home"
    workdirs = [i for i in final_stage if i.keyword == "WORKDIR"]
    assert workdirs and workdirs[-1].args.startswith(env["HOME"]), "work in the user's (writable) home"

    # The compiled spec sets `command: [python, -m, ...kubeflow_v2_run_executor]` and TFJob workers run
    # `python -m trainer.worker`; an ENTRYPOINT would be prepended to both and break them.
    assert not [i for i in dockerfile if i.keyword == "ENTRYPOINT"], "no ENTRYPOINT (Kubeflow sets the command)"

    args = {i.words()[0].split("=")[0] for i in final_stage if i.keyword == "ARG"}
    labels = " ".join(i.args for i in final_stage if i.keyword == "LABEL")
    assert "VERSION" in args and re.search(r"org\.opencontainers\.image\.version=\"?\$\{?VERSION\b", labels)


# ---- build context ---------------------------------------------------------------------------------

def test_every_copied_path_exists_and_is_in_the_build_context(dockerfile):
    rules = read_dockerignore(REPO / ".dockerignore")
    for must_leave_out in (".venv/bin/python", ".git/HEAD", "output/demo/summary.json"):
        assert is_ignored(rules, must_leave_out), f".dockerignore must leave out {must_leave_out.split('/')[0]}"
    checked = 0
    for instruction in (i for i in dockerfile if i.keyword in ("COPY", "ADD") and "from" not in i.flags):
        for source in copy_sources(instruction):
            matches = sorted(REPO.glob(source.rstrip("/"))) if any(c in source for c in "*?[") else [REPO / source]
            assert matches and all(m.exists() for m in matches), f"line {instruction.line}: {source} does not exist"
            for match in matches:
                files = [match] if match.is_file() else [
                    p for p in match.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
                for path in files:
                    relative = path.relative_to(REPO).as_posix()
                    assert not is_ignored(rules, relative), (
                        f"line {instruction.line} copies {source}, but .dockerignore leaves out {relative}")
                    checked += 1
    assert checked > 100     # the sources and the bundled corpora


# ---- build.sh --------------------------------------------------------------------------------------

BASH = shutil.which("bash")


def _build_sh(*args, env=None):
    environment = {k: v for k, v in os.environ.items() if k != "IMAGE_REPO"}
    environment.update(env or {})
    return subprocess.run([BASH, str(BUILD_SH), *args], capture_output=True, text=True, env=environment,
                          cwd="/", timeout=60)


def _docker_build_tags(stdout: str) -> List[List[str]]:
    builds = [shlex.split(line) for line in stdout.splitlines() if line.startswith("docker build ")]
    assert len(builds) == 1, stdout
    return builds[0]


def _option_values(words: List[str], option: str) -> List[str]:
    return [words[i + 1] for i, w in enumerate(words[:-1]) if w == option]


def test_dry_run_tags_the_image_the_compiled_pipeline_names():
    version = setup_py_version()
    result = _build_sh("--dry-run")
    assert result.returncode == 0, result.stderr
    words = _docker_build_tags(result.stdout)
    tags = _option_values(words, "--tag")
    assert f"ghcr.io/audioclf/audioclf:{version}" in tags
    assert KubeflowConfig().image == f"ghcr.io/audioclf/audioclf:{version}", (
        "pipeline.config KubeflowConfig.image must be the tag docker/build.sh gives the image")
    assert KubeflowConfig().image in tags
    gpu_tags = _option_values(_docker_build_tags(_build_sh("--dry-run", "--variant", "gpu").stdout), "--tag")
    assert KubeflowConfig().gpu_image in gpu_tags, "kubeflow.gpu_image must be the tag of --variant gpu"
    serving_tags = _option_values(_docker_build_tags(_build_sh("--dry-run", "--image", "serving").stdout), "--tag")
    assert KubeflowConfig().kserve.image in serving_tags, "kubeflow.kserve.image must be the tag of --image serving"
    assert _option_values(words, "--file") == ["docker/Dockerfile"] and words[-1] == "."
    assert f"VERSION={version}" in _option_values(words, "--build-arg")
    assert not [line for line in result.stdout.splitlines() if line.startswith("docker push")]
    assert "audioclf compile --image " in result.stderr
    if subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True).returncode == 0:
        sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        assert any(t.startswith(f"ghcr.io/audioclf/audioclf:{version}-{sha}") for t in tags), tags


def test_repo_override_and_push():
    result = _build_sh("--dry-run", "--push", env={"IMAGE_REPO": "registry.example/team/audioclf"})
    tags = _option_values(_docker_build_tags(result.stdout), "--tag")
    assert tags and all(t.startswith("registry.example/team/audioclf:") for t in tags)
    pushes = [shlex.split(line)[2] for line in result.stdout.splitlines() if line.startswith("docker push ")]
    assert pushes == tags
    flag = _build_sh("--dry-run", "--repo", "other.example/x", env={"IMAGE_REPO": "ignored.example/y"})
    assert all(t.startswith("other.example/x:") for t in _option_values(_docker_build_tags(flag.stdout), "--tag"))


def test_runs_docker_and_says_clearly_when_it_is_missing(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "docker.log"
    fake = bin_dir / "docker"
    fake.write_text(f'#!/usr/bin/env bash\necho "$*" >> {shlex.quote(str(log))}\n')
    fake.chmod(0o755)
    result = _build_sh("--push", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "info"                 # is an engine there? (docker first, buildah otherwise)
    # Read-only questions aside (is an engine there, how big is the image), it only builds and pushes.
    calls = [c for c in calls if c != "info" and not c.startswith("image inspect ")]
    assert calls[0].startswith("build ") and f":{setup_py_version()} " in calls[0]
    assert [c.split()[0] for c in calls[1:]] == ["push"] * (len(calls) - 1) and len(calls) >= 3

    # Only what build.sh needs before it looks for docker (dirname), and no docker.
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "dirname").symlink_to(shutil.which("dirname"))
    missing = _build_sh(env={"PATH": str(bare)})
    assert missing.returncode == 1
    assert "docker is not installed" in missing.stderr and "--dry-run" in missing.stderr


def test_variants_images_and_engines_in_dry_run(tmp_path):
    version = setup_py_version()
    gpu = _build_sh("--dry-run", "--variant", "gpu")
    assert gpu.returncode == 0, gpu.stderr
    words = _docker_build_tags(gpu.stdout)
    assert f"ghcr.io/audioclf/audioclf:{version}-gpu" in _option_values(words, "--tag")
    assert "VARIANT=gpu" in _option_values(words, "--build-arg")

    serving = _build_sh("--dry-run", "--image", "serving")
    words = _docker_build_tags(serving.stdout)
    assert f"ghcr.io/audioclf/audioclf-serving:{version}" in _option_values(words, "--tag")
    assert _option_values(words, "--file") == ["docker/Dockerfile.serving"]
    assert not [a for a in _option_values(words, "--build-arg") if a.startswith("VARIANT=")]

    refused = _build_sh("--dry-run", "--image", "serving", "--variant", "gpu")
    assert refused.returncode == 2 and "no GPU variant" in refused.stderr
    for bad in (["--variant", "tpu"], ["--image", "x"], ["--engine", "podman"], ["--variant"]):
        assert _build_sh("--dry-run", *bad).returncode == 2, bad

    cert = tmp_path / "ca.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    buildah = _build_sh("--dry-run", "--engine", "buildah", "--base", "localhost/base:1", "--ca-cert", str(cert))
    assert buildah.returncode == 0, buildah.stderr
    (line,) = [shlex.split(x) for x in buildah.stdout.splitlines() if x.startswith("buildah ")]
    assert line[:5] == ["buildah", "--storage-driver", "overlay", "bud", "--isolation"] and "--layers" in line
    assert "BASE_IMAGE=localhost/base:1" in _option_values(line, "--build-arg")
    assert _option_values(line, "--secret") == [f"id=ca-cert,src={cert}"]
    missing = _build_sh("--dry-run", "--ca-cert", str(tmp_path / "none.pem"))
    assert missing.returncode == 1 and "no such file" in missing.stderr
