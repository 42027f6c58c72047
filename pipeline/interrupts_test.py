"""pipeline/interrupts.py: an interrupted run's process ends with the signal's exit code even when the
interrupted work left a thread that never ends and a child process that ignores SIGINT (as Beam's SDK
workers do), and the child does not outlive it. Without `exit_after_interrupt` the interpreter waits for
the thread forever: what CI saw once at the end of AudioSynthesis (tests/run_control_test.py). And a
signal that lands in a `__del__`, where Python swallows the exception, or that a library catches and carries
on from, still stops the run."""
import contextlib
import os
import signal
import subprocess
import sys
import time

import psutil

from conftest import REPO

CHILD = r'''
import subprocess, sys, threading, time
from pipeline import interrupts, logs
interrupts.install()
logs.setup(False)
log, ready = sys.argv[1], sys.argv[2]
try:
    with logs.to_file(log), interrupts.catch(log):
        threading.Thread(target=time.sleep, args=(600,), name="left-behind").start()   # not a daemon
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])   # SIGINT ignored
        with open(ready, "w") as f:
            f.write(str(worker.pid))
        time.sleep(600)
except interrupts.RunInterrupted as stop:
    print(f"audioclf: {stop}", file=interrupts.terminal(), flush=True)
    interrupts.exit_after_interrupt(stop.exit_code, grace_s=5)
'''


@contextlib.contextmanager
def _interrupted(script: str, tmp_path):
    """Runs `script` (argv: its log file, a file it writes when ready) in a session of its own, waits until it
    is ready, then sends SIGINT to its process group, as a terminal's Ctrl-C; yields the process."""
    ready = tmp_path / "ready"
    run = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "run.log"), str(ready)], cwd=REPO,
                           env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, stderr=subprocess.PIPE,
                           text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (ready.exists() and ready.read_text()) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(run.pid, signal.SIGINT)
        yield run
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)


def test_an_interrupted_run_ends_and_takes_its_workers_with_it(tmp_path):
    with _interrupted(CHILD, tmp_path) as run:
        worker = int((tmp_path / "ready").read_text())
        assert run.wait(timeout=60) == 130
        assert run.stderr.read().strip().splitlines()[-1] == "audioclf: interrupted by SIGINT"
        assert not psutil.pid_exists(worker) or psutil.Process(worker).status() == psutil.STATUS_ZOMBIE


IN_DEL = r"""
import sys, time
from pipeline import interrupts, logs
interrupts.install()
logs.setup(False)
log, ready = sys.argv[1], sys.argv[2]


class Slow:
    def __del__(self):   # as grpc's _Server.__del__: the signal's handler runs in here
        with open(ready, "w") as f:
            f.write("in __del__")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            pass


try:
    with logs.to_file(log), interrupts.catch(log):
        Slow()
        time.sleep(600)
except interrupts.RunInterrupted as stop:
    print(f"audioclf: {stop}", file=interrupts.terminal(), flush=True)
    interrupts.exit_after_interrupt(stop.exit_code, grace_s=5)
"""


def test_a_signal_that_lands_in_a_del_still_stops_the_run(tmp_path):
    with _interrupted(IN_DEL, tmp_path) as run:
        assert run.wait(timeout=60) == 130   # without the re-raise: asleep for 600 s
        assert run.stderr.read().strip().splitlines()[-1] == "audioclf: interrupted by SIGINT"
        assert "cannot raise: raising it again" in (tmp_path / "run.log").read_text()


SWALLOWED = r"""
import sys, time
from pipeline import interrupts, logs
interrupts.install()
interrupts.REDELIVER_AFTER_S = 1.0
logs.setup(False)
log, ready = sys.argv[1], sys.argv[2]
try:
    with logs.to_file(log), interrupts.catch(log):
        try:   # as a library that catches everything and carries on
            with open(ready, "w") as f:
                f.write("waiting")
            time.sleep(600)
        except BaseException:
            pass
        with open(ready, "w") as f:
            f.write("swallowed")
        time.sleep(600)
except interrupts.RunInterrupted as stop:
    print(f"audioclf: {stop}", file=interrupts.terminal(), flush=True)
    interrupts.exit_after_interrupt(stop.exit_code, grace_s=5)
"""


def test_an_interrupt_a_library_swallows_is_raised_again(tmp_path):
    with _interrupted(SWALLOWED, tmp_path) as run:
        assert run.wait(timeout=60) == 130   # without the re-raise: asleep for 600 s after swallowing it
        assert (tmp_path / "ready").read_text() == "swallowed"
        assert run.stderr.read().strip().splitlines()[-1] == "audioclf: interrupted by SIGINT"
        assert "a library caught it and went on): raising it again" in (tmp_path / "run.log").read_text()
