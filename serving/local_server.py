"""A model server process on this machine, started and waited for until it is ready: used by the server's
tests, the serving benchmark and the image checks (each builds its own command: from a checkout with
`audioclf serve`, or inside an image)."""
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

READY_PATH = "/v2/health/ready"


class NotReady(RuntimeError):
    """The server exited, or did not answer ready in time; the message ends with its log's tail."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(log_path: Path) -> str:
    try:
        return log_path.read_text(errors="replace")[-3000:]
    except OSError:
        return "(no log)"


def start(argv: Sequence[str], port: int, log_path: Path, timeout: float = 300, cwd: Optional[Path] = None,
          env: Optional[Dict[str, str]] = None) -> Tuple[subprocess.Popen, str]:
    """Starts `argv` (a server that listens on `port`), its output to `log_path`, and waits until KServe's
    readiness endpoint answers 200. Returns the process and the server's base URL; raises NotReady (the
    process killed) if it exits or is not ready within `timeout` seconds."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NotReady(f"the server exited ({process.returncode}): {_tail(log_path)}")
        try:
            with urllib.request.urlopen(url + READY_PATH, timeout=5) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    process.wait()
    raise NotReady(f"the server was not ready within {timeout:.0f} s: {_tail(log_path)}")


def stop(process: subprocess.Popen, timeout: float = 60) -> None:
    """Asks the server to stop (SIGTERM) and kills it if it has not stopped within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
