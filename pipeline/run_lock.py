"""One command at a time in an output folder: `audioclf run` (and `audioclf report`, which rewrites
report.html) hold an OS lock on <output>/run.lock while they work.

The lock is `fcntl.flock` on that file, so the kernel releases it when the holder ends in any way (exit,
crash, SIGKILL). The file also says who holds it (pid, process start time, host, command, when), which
is what a second command prints when it is refused. A lock file left with a holder in it is stale: either
the flock is free (the holder died), or the flock is still held by a process that inherited the open
file (a forked child) while the recorded pid is gone or is now another process (its start time
differs). A stale lock is taken over, with a log line.
"""
import contextlib
import datetime
import fcntl
import json
import logging
import os
import socket
import time
from typing import Dict, Iterator, Optional

from components.common.errors import AudioClfError
from pipeline import run_dir

log = logging.getLogger(__name__)


def process_start(pid: int) -> Optional[float]:
    """When process `pid` started (seconds since the epoch, as psutil gives it); None when there is no
    such process."""
    import psutil  # pylint: disable=import-outside-toplevel

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _utc(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _holder(fd: int) -> Optional[dict]:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 65536).decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        return {"pid": None, "unreadable": text[:200]}
    return holder if isinstance(holder, dict) else {"pid": None, "unreadable": text[:200]}


def describe(holder: dict) -> str:
    """`pid 123 on host, started 2026-... UTC, audioclf run` for the messages."""
    if holder.get("pid") is None:
        return f"an unreadable lock record ({holder.get('unreadable')!r})"
    started = _utc(holder["start_time"]) if isinstance(holder.get("start_time"), (int, float)) else "at an unknown time"
    return (f"pid {holder['pid']} on {holder.get('host', 'an unknown host')}, started {started}, "
            f"`audioclf {holder.get('command', '?')}`")


def gone_reason(holder: dict) -> Optional[str]:
    """Why the recorded holder can no longer hold the folder (None: it may still be running). Only a
    holder on this host can be checked."""
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return "its record is unreadable"
    if holder.get("host") != socket.gethostname():
        return None
    started = process_start(pid)
    if started is None:
        return f"pid {pid} is gone"
    recorded = holder.get("start_time")
    if not isinstance(recorded, (int, float)) or abs(started - recorded) > 1.0:
        return f"pid {pid} is now another process (started {_utc(started)})"
    return None


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def acquire(output_dir: str, command: str) -> int:
    """Locks `output_dir` for `command`; returns the lock file's descriptor (pass it to `release`).
    Raises AudioClfError, naming the holder, when another live process holds it."""
    path = run_dir.path(output_dir, run_dir.LOCK)
    for _ in range(5):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd) or {}
            reason = gone_reason(holder) if holder else None
            os.close(fd)
            if reason is None:
                who = describe(holder) if holder else "a process that has not written its record yet"
                raise AudioClfError(f"{output_dir} is in use by another audioclf command ({who}); wait for it to "
                                    f"finish or pass another --output.") from None
            # The flock is held by an orphan that inherited the file: start over with a new file.
            log.warning("output folder lock: taking over the stale lock of %s: %s", describe(holder), reason)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            continue
        if not _same_file(fd, path):   # replaced or removed between open and flock: lock the new file
            os.close(fd)
            continue
        previous = _holder(fd)
        if previous:
            log.warning("output folder lock: taking over the stale lock of %s: %s", describe(previous),
                        gone_reason(previous) or "it ended without releasing it")
        record = {"pid": os.getpid(), "start_time": process_start(os.getpid()), "host": socket.gethostname(),
                  "command": command, "locked_at": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        os.fsync(fd)
        return fd
    raise AudioClfError(f"could not lock {path}: it keeps being replaced by other processes; try again.")


def release(fd: int, output_dir: str) -> None:
    """Removes the lock file (while still holding it, so no one locks a file that is going away) and
    releases the lock."""
    path = run_dir.path(output_dir, run_dir.LOCK)
    if _same_file(fd, path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    os.close(fd)


_held: Dict[str, int] = {}   # output folder -> lock descriptor, of this process


@contextlib.contextmanager
def hold(output_dir: str, command: str) -> Iterator[None]:
    """Holds the lock of `output_dir` (a local folder that exists) for the block. Nested holds of one
    folder in one process share the outer one (the command line locks before its slow imports, then the
    runner locks again)."""
    output_dir = os.path.abspath(output_dir)
    if output_dir in _held:
        yield
        return
    _held[output_dir] = fd = acquire(output_dir, command)
    try:
        yield
    finally:
        del _held[output_dir]
        release(fd, output_dir)
