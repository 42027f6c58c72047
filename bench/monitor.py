"""Watching a benchmark stage from outside: the peak memory of its process tree, the GPU's use, its rusage.

`run_monitored` starts a command, samples it until it ends and returns what it saw:
  - tree memory: every `interval` s (default 0.2) the stage process and all its descendants (Beam's SDK
    worker processes included) are listed with psutil and their PSS and RSS summed. PSS (proportional set
    size, from /proc/<pid>/smaps_rollup) splits each shared page between the processes sharing it, so the
    sum over the tree is the memory the tree really holds; the RSS sum counts shared pages (libraries,
    the page cache of mapped files) once per process and is an upper bound. A peak shorter than the
    interval can be missed.
  - largest process: os.wait4's ru_maxrss, the kernel's exact peak RSS of the single largest process
    among the stage process and the descendants it waited for (not a sum).
  - GPU: `nvidia-smi --query-gpu=index,utilization.gpu,memory.used -lms <interval>` running beside it,
    each line stamped with time.time().
"""
import os
import shutil
import subprocess
import threading
import time
from typing import Dict, List, Optional, Sequence

from bench import _util

MB = 1e6


class TreeMemory(threading.Thread):
    """Peak of the summed PSS and RSS of a process and its descendants, sampled every `interval` s."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self._pid, self._interval = pid, interval
        self._done = threading.Event()
        self.peak_pss = self.peak_rss = 0
        self.peak_processes = self.samples = 0

    def sample(self) -> None:
        import psutil  # pylint: disable=import-outside-toplevel
        try:
            root = psutil.Process(self._pid)
            procs = [root] + root.children(recursive=True)
        except psutil.Error:  # ended (or a zombie) between two samples
            return
        pss = rss = 0
        for proc in procs:
            try:
                info = proc.memory_full_info()
            except psutil.Error:
                continue
            pss, rss = pss + info.pss, rss + info.rss
        self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
        self.peak_processes = max(self.peak_processes, len(procs))
        self.samples += 1

    def run(self) -> None:
        while True:
            self.sample()
            if self._done.wait(self._interval):
                return

    def stop(self) -> None:
        self._done.set()
        self.join()


def gpu_names() -> List[str]:
    """The GPUs `nvidia-smi -L` lists (empty without nvidia-smi or a working driver)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.startswith("GPU ")]


class GpuSampler(threading.Thread):
    """Reads `nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits -lms MS`:
    samples (time.time(), gpu index, utilization %, memory used MiB)."""

    QUERY = ["--query-gpu=index,utilization.gpu,memory.used", "--format=csv,noheader,nounits"]

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.samples: List[tuple] = []
        self._proc = subprocess.Popen(["nvidia-smi", *self.QUERY, "-lms", str(int(interval * 1000))],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def run(self) -> None:
        for line in self._proc.stdout:
            fields = [f.strip() for f in line.split(",")]
            try:
                self.samples.append((time.time(), int(fields[0]), float(fields[1]), float(fields[2])))
            except (IndexError, ValueError):  # "[N/A]" or a warning line
                continue

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self.join(timeout=10)


def gpu_summary(samples: Sequence[tuple], start: Optional[float] = None, end: Optional[float] = None) -> Dict:
    """Mean and max utilization and max memory of the busiest GPU over [start, end] (all samples if the
    window holds none)."""
    window = [s for s in samples if (start is None or s[0] >= start) and (end is None or s[0] <= end)]
    whole = not window
    window = window or list(samples)
    if not window:
        return {}
    by_gpu: Dict[int, List[tuple]] = {}
    for s in window:
        by_gpu.setdefault(s[1], []).append(s)
    index, rows = max(by_gpu.items(), key=lambda kv: sum(r[2] for r in kv[1]) / len(kv[1]))
    return {"gpu": index, "samples": len(rows), "util_mean": sum(r[2] for r in rows) / len(rows),
            "util_max": max(r[2] for r in rows), "memory_max_mib": max(r[3] for r in rows),
            "whole_stage": whole, "gpus": len(by_gpu)}


def run_monitored(cmd: Sequence[str], env: Dict[str, str], log_path: str, pin_core: Optional[int] = None,
                  gpu: bool = False, interval: float = 0.2) -> Dict:
    """Runs cmd (stdout and stderr to log_path) while sampling its tree's memory (and the GPU); returns
    rc, wall_s, peak_pss_mb, peak_rss_mb, max_rss_mb (wait4), peak_processes, memory_samples, the
    CpuMeter of the run and the GPU samples. pin_core: the child is pinned to that CPU before it execs,
    so every thread it and its children start stays on it."""
    preexec = (lambda: os.sched_setaffinity(0, {pin_core})) if pin_core is not None else None
    sampler = None
    with open(log_path, "w", encoding="utf-8") as log, _util.CpuMeter() as meter:
        proc = subprocess.Popen(list(cmd), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=_util.REPO_ROOT,
                                preexec_fn=preexec)  # pylint: disable=subprocess-popen-preexec-fn
        memory = TreeMemory(proc.pid, interval)
        memory.start()
        if gpu:
            sampler = GpuSampler(interval)
            sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            memory.stop()
            if sampler:
                sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    return {"rc": proc.returncode, "wall_s": meter.wall, "peak_pss_mb": memory.peak_pss / MB,
            "peak_rss_mb": memory.peak_rss / MB, "max_rss_mb": usage.ru_maxrss * 1024 / MB,
            "peak_processes": memory.peak_processes, "memory_samples": memory.samples, "meter": meter,
            "gpu_samples": sampler.samples if sampler else []}
