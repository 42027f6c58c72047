"""The output folder's lock: a live holder is named and refused, a stale lock (holder gone, or its pid now
another process) is taken over with a log line, `audioclf report` respects it too."""
import json
import logging
import os
import socket
import subprocess
import sys
import time

import pytest

from components.common.errors import EXIT_USER_ERROR, AudioClfError
from pipeline import cli, run_dir, run_lock

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _holder_process(folder, record_pid=None) -> subprocess.Popen:
    """Another process that locks `folder` (and, with record_pid, writes that pid in the record as if a
    process that is now gone had locked it and passed the file on), then waits until killed."""
    code = ("import sys, json, os, time; from pipeline import run_lock; fd = run_lock.acquire(sys.argv[1], 'run'); "
            "pid = sys.argv[2]; "
            "pid != '-' and (os.ftruncate(fd, 0), os.pwrite(fd, json.dumps({'pid': int(pid), 'start_time': 1.0, "
            "'host': __import__('socket').gethostname(), 'command': 'run'}).encode(), 0)); "
            "print('locked', flush=True); time.sleep(600)")
    process = subprocess.Popen([sys.executable, "-c", code, str(folder), str(record_pid or "-")], cwd=REPO,
                               stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=REPO))
    assert process.stdout.readline().strip() == "locked"
    return process


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def holder(tmp_path):
    process = _holder_process(tmp_path)
    yield process
    process.kill()
    process.wait()


def test_a_live_holder_is_named_and_refused(tmp_path, holder):
    with pytest.raises(AudioClfError, match=rf"{tmp_path} is in use by another audioclf command \(pid {holder.pid} "
                                            rf"on {socket.gethostname()}, started .* UTC, `audioclf run`\)"):
        run_lock.acquire(str(tmp_path), "run")


def test_report_is_refused_while_a_run_holds_the_folder(tmp_path, holder, capsys):
    assert cli.main(["report", "--output", str(tmp_path)]) == EXIT_USER_ERROR
    assert f"pid {holder.pid}" in capsys.readouterr().err


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path, holder):
    holder.kill()
    holder.wait()
    fd = run_lock.acquire(str(tmp_path), "run")   # the kernel released the flock; the record is stale
    run_lock.release(fd, str(tmp_path))
    assert not os.path.exists(run_dir.path(str(tmp_path), run_dir.LOCK))


def test_a_lock_file_of_a_dead_pid_is_taken_over_with_a_log_line(tmp_path, caplog):
    dead = _dead_pid()
    (tmp_path / run_dir.LOCK).write_text(json.dumps({"pid": dead, "start_time": time.time() - 60,
                                                      "host": socket.gethostname(), "command": "run"}))
    with caplog.at_level(logging.WARNING, logger="pipeline.run_lock"):
        with run_lock.hold(str(tmp_path), "report"):
            record = json.loads((tmp_path / run_dir.LOCK).read_text())
            assert record["pid"] == os.getpid() and record["command"] == "report"
    assert f"taking over the stale lock of pid {dead} " in caplog.text and f"pid {dead} is gone" in caplog.text


def test_a_flock_held_for_a_gone_pid_is_taken_over(tmp_path, caplog):
    """The flock is still held (by a process that inherited the file), but the pid in the record is gone."""
    dead = _dead_pid()
    orphan = _holder_process(tmp_path, record_pid=dead)
    try:
        with caplog.at_level(logging.WARNING, logger="pipeline.run_lock"):
            fd = run_lock.acquire(str(tmp_path), "run")
        run_lock.release(fd, str(tmp_path))
    finally:
        orphan.kill()
        orphan.wait()
    assert f"pid {dead} is gone" in caplog.text


def test_a_reused_pid_is_told_apart_by_its_start_time():
    me = {"pid": os.getpid(), "host": socket.gethostname(), "start_time": run_lock.process_start(os.getpid())}
    assert run_lock.gone_reason(me) is None
    assert "is now another process" in run_lock.gone_reason(dict(me, start_time=me["start_time"] - 3600))
    assert run_lock.gone_reason(dict(me, host="elsewhere", start_time=1.0)) is None  # cannot tell: keep it


def test_nested_holds_in_one_process_share_the_lock(tmp_path):
    with run_lock.hold(str(tmp_path), "run"):
        with run_lock.hold(str(tmp_path), "run"):
            pass
        assert (tmp_path / run_dir.LOCK).exists()
    assert not (tmp_path / run_dir.LOCK).exists()
