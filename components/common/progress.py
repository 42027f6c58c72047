"""Progress of a Beam step that a person can follow: "audio synthesis: 340/800 clips (42 %), 11.2 clips/s,
about 41 s left".

Beam's DirectRunner runs the DoFns in worker processes and hands their metrics to the launching
process only when the pipeline ends. So each worker keeps its own count in a small file of a folder
the executor made (rewritten at most once a second, and at the end of each bundle), and a thread of
the executor's process adds them up and logs a line every `interval` seconds. With a remote runner the
folder does not exist on the workers; they then count nothing and the step logs only its start and end.
"""
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from typing import Optional

log = logging.getLogger(__name__)


def describe(what: str, done: int, total: int, unit: str, elapsed: float) -> str:
    """"<what>: done/total <unit> (share), rate, time left" for a progress line."""
    share = 100.0 * done / total if total else 100.0
    text = f"{what}: {done}/{total} {unit} ({share:.0f} %)"
    if done and elapsed > 0:
        rate = done / elapsed
        text += f", {rate:.1f} {unit}/s"
        if done < total:
            text += f", about {max(0.0, (total - done) / rate):.0f} s left"
    return text


class WorkerCount:
    """Lives in a DoFn (it pickles to the workers): `add` per item, `flush` at the end of a bundle.
    With no folder it counts for nobody (a DoFn used outside an executor, e.g. in bench/)."""

    def __init__(self, folder: Optional[str] = None):
        self._folder = folder
        self._count = 0
        self._file: Optional[str] = None
        self._written_at = 0.0

    def add(self, n: int = 1) -> None:
        self._count += n
        if time.monotonic() - self._written_at >= 1.0:
            self.flush()

    def flush(self) -> None:
        if not self._folder or not os.path.isdir(self._folder):   # a remote worker: the folder is not here
            return
        if self._file is None:   # one file per DoFn instance: a process may hold several
            self._file = os.path.join(self._folder, f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
        tmp = f"{self._file}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(str(self._count))
        os.replace(tmp, self._file)   # the reader never sees half a number
        self._written_at = time.monotonic()


class Progress:
    """Context manager in the executor: logs `<what>: done/total <unit>` while the Beam pipeline runs."""

    def __init__(self, what: str, total: int, unit: str = "clips", interval: float = 10.0):
        self.what, self.total, self.unit, self.interval = what, total, unit, interval
        self.folder = tempfile.mkdtemp(prefix="audioclf-progress-")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress-{what}", daemon=True)
        self._started = 0.0
        self._last_logged = -1

    def worker_count(self) -> WorkerCount:
        return WorkerCount(self.folder)

    def done(self) -> int:
        count = 0
        for name in os.listdir(self.folder):
            if name.endswith(".tmp"):
                continue
            try:
                with open(os.path.join(self.folder, name), encoding="utf-8") as f:
                    count += int(f.read() or 0)
            except (OSError, ValueError):   # replaced while read: it is counted next time
                continue
        return count

    def line(self, done: int, elapsed: float) -> str:
        return describe(self.what, done, self.total, self.unit, elapsed)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            done = self.done()
            if done != self._last_logged:
                log.info("%s", self.line(done, time.monotonic() - self._started))
                self._last_logged = done

    def __enter__(self) -> "Progress":
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        self._thread.join()
        elapsed = time.monotonic() - self._started
        if exc_type is None:
            done = self.done()
            counted = f"{done}/{self.total}" if done else str(self.total)   # 0: remote workers, not counted
            log.info("%s: %s %s in %.1f s (%.1f %s/s)", self.what, counted, self.unit, elapsed,
                     self.total / elapsed if elapsed else 0.0, self.unit)
        shutil.rmtree(self.folder, ignore_errors=True)
