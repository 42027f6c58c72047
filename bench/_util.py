"""Small helpers shared by the benchmark scripts: machine description, statistics, Markdown."""
import datetime
import json
import os
import platform
import sys
import time
from typing import List, Optional, Sequence

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK_NOTE = ["**--quick smoke run: counts are too small for real figures.**", ""]


def add_idle_args(parser) -> None:
    """--no-wait-idle and --retries, as `measure` uses them."""
    parser.add_argument("--no-wait-idle", action="store_true",
                        help="do not wait for other processes to quieten before each measurement")
    parser.add_argument("--retries", type=int, default=2,
                        help="measure a part again (keeping the least disturbed) when other processes were busy meanwhile")


def results_path(name: str, quick: bool) -> str:
    """bench/results/<name>.md, or <name>_quick.md for a --quick smoke run."""
    return os.path.join(REPO_ROOT, "bench", "results", f"{name}_quick.md" if quick else f"{name}.md")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float:
    """Total memory of the machine (MemTotal), GiB; nan where /proc/meminfo is missing."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1 << 20)
    except OSError:
        pass
    return float("nan")


def os_name() -> str:
    """PRETTY_NAME of /etc/os-release (e.g. "Debian GNU/Linux 12 (bookworm)"), else platform.system()."""
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def git_commit() -> str:
    """HEAD of the repository, with "+ uncommitted changes" when the work tree differs from it."""
    import subprocess  # pylint: disable=import-outside-toplevel
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" + uncommitted changes" if dirty else "")


def machine_lines(extra: Sequence[str] = ()) -> List[str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')}",
        f"- platform: {platform.platform()} ({os_name()})",
        f"- CPU: {cpu_model()}",
        f"- os.cpu_count(): {os.cpu_count()} (usable by this process: {usable}); RAM {ram_gib():.1f} GiB",
        f"- python: {sys.version.split()[0]} ({sys.executable})",
    ]
    return lines + [f"- {e}" for e in extra]


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(out)


def ms(seconds: Sequence[float]) -> np.ndarray:
    return np.asarray(seconds, dtype=np.float64) * 1e3


def mean_p90(values_ms: np.ndarray) -> str:
    return f"{np.mean(values_ms):.1f}", f"{np.percentile(values_ms, 90):.1f}"


def pin_to_one_core():
    """Restricts this process (and children started from now on) to one CPU; returns the old set."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(old)})
    return old


def unpin(old) -> None:
    if old is not None:
        os.sched_setaffinity(0, old)


def write_report(path: str, text: str, data: Optional[dict] = None) -> None:
    """Writes and prints the Markdown report; with `data`, also the figures behind it as JSON beside it
    (same name, .json)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    if data is not None:
        with open(os.path.splitext(path)[0] + ".json", "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
    print(text)
    print(f"\n(written to {path})")


class CpuMeter:
    """Machine-wide CPU use (from /proc/stat) next to this process tree's (os.times) over a span.

    `other_cores` is what the rest of the machine used meanwhile (other users, the hypervisor's steal):
    a busy neighbour makes every timing here slower. Children count once they have been waited for.
    """

    def __init__(self):
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.wall = self.busy_cores = self.own_cores = self.self_cores = self.child_cores = self.steal_cores = float("nan")

    @staticmethod
    def _stat():
        try:
            with open("/proc/stat", encoding="utf-8") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except OSError:
            return None
        fields += [0] * (8 - len(fields))
        idle = fields[3] + fields[4]
        return sum(fields[:8]) - idle, fields[7]  # busy (incl. steal), steal

    def __enter__(self):
        self._t, self._s, self._o = time.perf_counter(), self._stat(), os.times()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self._t
        stat, times = self._stat(), os.times()
        self.wall = wall
        self.self_cores = (times.user + times.system - self._o.user - self._o.system) / wall
        self.child_cores = (times.children_user + times.children_system
                            - self._o.children_user - self._o.children_system) / wall
        self.own_cores = self.self_cores + self.child_cores
        if stat and self._s:
            self.busy_cores = (stat[0] - self._s[0]) / self._hz / wall
            self.steal_cores = (stat[1] - self._s[1]) / self._hz / wall
        return False

    @property
    def other_cores(self) -> float:
        return max(0.0, self.busy_cores - self.own_cores)

    def summary(self) -> str:
        return f"{self.own_cores:.2f} / {self.other_cores:.2f}"


def wait_for_idle(threshold: float = 0.15, sample_s: float = 2.0, max_wait_s: float = 180.0) -> float:
    """Waits (up to max_wait_s) until the rest of the machine uses < threshold cores over sample_s.

    This is a shared machine: a test suite started by someone else halves what a benchmark sees.
    Returns the seconds waited; the CpuMeter of each measurement still reports what happened during it.
    """
    start = time.perf_counter()
    while True:
        with CpuMeter() as meter:
            time.sleep(sample_s)
        if meter.other_cores < threshold or time.perf_counter() - start > max_wait_s:
            waited = time.perf_counter() - start
            if waited > sample_s * 1.5:
                print(f"(waited {waited:.0f} s for other processes to quieten: now {meter.other_cores:.2f} cores)",
                      flush=True)
            return waited


OTHER_LOAD_WARN = 0.15  # cores used by other processes during a measurement above which it is flagged


def measure(fn, label: str, wait_idle: bool = True, retries: int = 2):
    """Runs fn() under a CpuMeter; when other processes were busy meanwhile, waits and measures again
    (up to `retries` more times) and keeps the least disturbed attempt. Returns (result, meter)."""
    best = None
    for attempt in range(1 + retries):
        if wait_idle:
            wait_for_idle(OTHER_LOAD_WARN)
        with CpuMeter() as meter:
            result = fn()
        if best is None or meter.other_cores < best[1].other_cores:
            best = (result, meter)
        if meter.other_cores <= OTHER_LOAD_WARN:
            break
        if attempt < retries:
            print(f"{label}: other processes used {meter.other_cores:.2f} cores meanwhile; measuring again", flush=True)
    return best


def load_warnings(parts) -> List[str]:
    """Report lines flagging each (name, CpuMeter) part during which other processes were busy."""
    return [line for name, meter in parts if meter.other_cores > OTHER_LOAD_WARN
            for line in (f"**Warning: other processes used {meter.other_cores:.2f} cores during {name}; "
                         f"re-run on an idle machine.**", "")]
