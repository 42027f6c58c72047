"""Real `audioclf run` processes in one output folder: a second run is refused at once while the first
holds the folder; Ctrl-C (SIGINT to the whole process group, as a terminal sends it) stops the first with
one line, exit 130, and a summary and report that say where it was interrupted; the next run marks the
execution it left RUNNING as abandoned in ML Metadata (and SIGTERM stops that one with exit 143)."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2

from conftest import REPO, build_corpus
from components.common.errors import EXIT_USER_ERROR
from pipeline import run_dir
from pipeline import summary as run_summary

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TINY = str(Path(__file__).with_name("tiny.yaml"))


def _start(corpus: Path, output: Path, log: Path) -> subprocess.Popen:
    """`audioclf run` in its own process group (the test signals the group, as a terminal does)."""
    argv = [sys.executable, "-m", "pipeline.cli", "run", "--config", TINY, "--data-root", str(corpus),
            "--output", str(output), "--set", "synthesis.clips={train: 400, eval: 4, test: 4}"]
    with open(log, "wb") as err:
        return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                env=dict(os.environ, PYTHONPATH=str(REPO)))


def _wait_for(what, check, process: subprocess.Popen, timeout: float = 600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        assert process.poll() is None, f"the run ended (exit {process.returncode}) before {what}"
        time.sleep(0.2)
    raise AssertionError(f"no {what} after {timeout} s")


def _inside_a_component(output: Path):
    """AudioSynthesis once its executor is at work: it logs "audio synthesis: N clips of ..." when it starts
    its Beam pipeline, which then takes seconds (worker start-up, and the run makes 400 clips). Not the
    executor's last line ("done/total clips in N s"): it comes as the component ends, and a signal then
    may land between two components (CI, 2026-12-02; that case is tested in pipeline/summary_test.py)."""
    log = output / run_dir.LOG
    text = log.read_text(errors="replace") if log.exists() else ""
    return "AudioSynthesis" if re.search(r"audio synthesis: \d+ clips of ", text) else None


def _terminal_lines(path: Path) -> list:
    """What reached the terminal, without TensorFlow's C++ registration notices printed at import."""
    return [line for line in path.read_text(errors="replace").splitlines()
            if line.strip() and "Unable to register" not in line]


def test_lock_interrupt_and_abandoned_execution(tmp_path):
    corpus = build_corpus(tmp_path / "corpus")
    output = tmp_path / "out"
    first = _start(corpus, output, tmp_path / "first.err")
    try:
        _wait_for("lock file", (output / run_dir.LOCK).exists, first)

        # A second run into the same folder: refused at once, naming the first.
        started = time.monotonic()
        second = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--config", TINY, "--data-root",
                                 str(corpus), "--output", str(output)], cwd=REPO, capture_output=True, text=True,
                                timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)), check=False)
        assert second.returncode == EXIT_USER_ERROR, second.stderr[-2000:]
        assert time.monotonic() - started < 60
        assert re.search(rf"audioclf: error: {output} is in use by another audioclf command \(pid {first.pid} on "
                         rf"\S+, started \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC, `audioclf run`\)", second.stderr)

        # Ctrl-C while a component works.
        seen = _wait_for("component at work", lambda: _inside_a_component(output), first)
        os.killpg(first.pid, signal.SIGINT)
        assert first.wait(timeout=300) == 130
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    lines = _terminal_lines(tmp_path / "first.err")
    last = lines[-1]
    stopped = re.fullmatch(rf"audioclf: interrupted by SIGINT at (\w+); what it had done is in "
                           rf"{output}/summary.json and {output}/report.html, details in {output}/run.log", last)
    assert stopped, last
    # The component seen at work, or a later one: it may have finished between the look and the signal.
    component = stopped.group(1)
    assert run_dir.COMPONENT_ORDER.index(component) >= run_dir.COMPONENT_ORDER.index(seen), (seen, component)
    assert [line for line in lines if line.startswith("audioclf:")] == [last]
    assert "Traceback" not in "\n".join(lines) and "KeyboardInterrupt" not in "\n".join(lines)
    summary = json.loads((output / run_dir.SUMMARY).read_text())
    assert summary["status"] == "interrupted" and summary["interrupted_at"] == component
    assert summary["error"] == "interrupted by SIGINT"
    assert summary["components"][component]["status"] == "interrupted"
    orphan = summary["components"][component]["execution_id"]
    page = (output / run_dir.REPORT).read_text()
    assert f"Interrupted at {component}" in page
    assert not (output / run_dir.LOCK).exists()

    # The next run: the previous summary and report are gone at once, the orphan is marked abandoned.
    rerun = _start(corpus, output, tmp_path / "rerun.err")
    try:
        _wait_for("a component running", lambda: re.search(r"Component \w+ is running",
                                                             (tmp_path / "rerun.err").read_text()), rerun)
        assert not (output / run_dir.SUMMARY).exists() and not (output / run_dir.REPORT).exists()
        os.kill(rerun.pid, signal.SIGTERM)
        assert rerun.wait(timeout=300) == 143
    finally:
        if rerun.poll() is None:
            os.killpg(rerun.pid, signal.SIGKILL)
    err = (tmp_path / "rerun.err").read_text()
    assert re.search(rf"marked 1 execution\(s\) .* as abandoned \(CANCELED\): {component} \(execution {orphan}\)", err)
    assert "audioclf: interrupted by SIGTERM" in err
    store = run_summary.open_store(str(output / run_dir.METADATA))
    [execution] = store.get_executions_by_id([orphan])
    assert execution.last_known_state == metadata_store_pb2.Execution.CANCELED
    assert execution.custom_properties["abandoned"].int_value == 1
    assert json.loads((output / run_dir.SUMMARY).read_text())["status"] == "interrupted"
