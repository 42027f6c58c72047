"""pipeline/interrupts.py: an interrupted run's process ends with the signal's exit code even when the
interrupted work left a thread that never ends and a child process that ignores SIGINT (as Beam's SDK
workers do), and the child does not outlive it. Without `exit_after_interrupt` the interpreter waits for
the thread forever: what CI saw once at the end of AudioSynthesis (tests/run_control_test.py)."""
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


def test_an_interrupted_run_ends_and_takes_its_workers_with_it(tmp_path):
    ready = tmp_path / "ready"
    run = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "run.log"), str(ready)], cwd=REPO,
                           env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, stderr=subprocess.PIPE,
                           text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (ready.exists() and ready.read_text()) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = int(ready.read_text())
        os.killpg(run.pid, signal.SIGINT)   # as a terminal's Ctrl-C: the whole process group
        assert run.wait(timeout=60) == 130
        assert run.stderr.read().strip().splitlines()[-1] == "audioclf: interrupted by SIGINT"
        assert not psutil.pid_exists(worker) or psutil.Process(worker).status() == psutil.STATUS_ZOMBIE
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
