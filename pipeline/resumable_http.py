"""Fetching one large file over HTTP(S) so that a broken connection costs nothing: the body goes to a
`.part` file, a broken transfer resumes from the bytes on disk (HTTP Range), each mirror is tried in
turn when one cannot be reached, and progress is logged every ~5 % or 10 s.

Every byte received is written at once (`read1`, not a blocking read of a whole chunk), so a transfer
that stalls keeps what it got and the retry asks only for the rest. A server that trickles (a byte now
and then keeps a socket timeout from ever firing) is caught by a minimum throughput over a window
(`Limits.min_bytes_per_s`), and `Limits.deadline_s` bounds the whole download, retries included.

Hand-made rather than tenacity/urllib3.Retry: the retry must resume the file from its current size
(a new Range request each time), and `audioclf download` runs before any heavy dependency installs,
so only the standard library is used."""
from __future__ import annotations

import dataclasses
import http.client
import logging
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

USER_AGENT = "audioclf-download/1 (+python urllib)"
SOCKET_TIMEOUT_S = 60.0
# Pause before retry n is n * RETRY_PAUSE_S: a dropped connection often comes back after a moment.
RETRY_PAUSE_S = 2.0
LOG_EVERY_FRACTION = 0.05
LOG_EVERY_S = 10.0
# A transfer slower than Limits.min_bytes_per_s, averaged over this many seconds, is broken off (and
# resumed by the next retry): a slow-drip server otherwise holds the download forever.
THROUGHPUT_WINDOW_S = 60.0
DEFAULT_MIN_BYTES_PER_S = 10_000


@dataclasses.dataclass(frozen=True)
class Limits:
    """How slow and how long a download may be. `min_bytes_per_s` 0 turns the throughput check off;
    `deadline_s` None (the default) lets the whole download, retries and mirrors included, take as long
    as it needs."""
    min_bytes_per_s: float = DEFAULT_MIN_BYTES_PER_S
    deadline_s: float | None = None

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class _BrokenTransfer(Exception):
    """The connection ended before the whole body arrived; worth retrying from the bytes on disk."""


class _TooSlow(_BrokenTransfer):
    """Bytes arrive, but slower than the minimum throughput; retried from the bytes on disk."""


class _Unreachable(Exception):
    """This mirror could not be reached (no connection, DNS failure, 5xx); the next one may work."""


# Errors raised while reading a body that mean "the connection broke", not "the request is wrong".
_RETRYABLE = (_BrokenTransfer, http.client.IncompleteRead, ConnectionError, TimeoutError)


def fetch_with_fallback(
    urls: list[str],
    part: Path,
    chunk_bytes: int,
    progress: Callable[[int, int | None], None] | None,
    retries: int,
    limits: Limits | None = None,
) -> None:
    """Tries each URL in turn, moving on only when a mirror cannot be reached at all."""
    limits = limits or Limits()
    deadline = _Deadline(limits.deadline_s, part)
    unreachable = []
    for url in urls:
        try:
            _download_resuming(url, part, chunk_bytes, progress, retries, limits, deadline)
            return
        except _Unreachable as exc:
            unreachable.append(f"{url} ({exc})")
            if url != urls[-1]:
                log.warning("Cannot reach %s (%s); trying the next mirror.", url, exc)
    raise AudioClfError(
        "Could not reach any mirror: " + "; ".join(unreachable) + ". Check the network connection "
        "(and proxy settings), then run again, or pick another mirror with --mirror."
    )


def _download_resuming(
    url: str,
    part: Path,
    chunk_bytes: int,
    progress: Callable[[int, int | None], None] | None,
    retries: int,
    limits: Limits,
    deadline: _Deadline,
) -> None:
    """Fetches `url` into `part`, retrying a broken transfer from the bytes already on disk."""
    for attempt in range(retries + 1):
        try:
            _transfer_once(url, part, chunk_bytes, progress, limits, deadline)
            return
        except _RETRYABLE as exc:
            have = _size(part)
            if attempt == retries:
                raise AudioClfError(
                    f"The download of {url} kept breaking off ({describe(exc)}) after "
                    f"{retries + 1} tries; {have} bytes are kept in {part}. Run the same command "
                    "again to resume, or pick another mirror with --mirror."
                ) from exc
            log.warning(
                "Transfer of %s broke off after %d bytes (%s); retry %d of %d resumes from there.",
                url, have, describe(exc), attempt + 1, retries,
            )
            pause = RETRY_PAUSE_S * (attempt + 1)
            deadline.check(pause)
            time.sleep(pause)


def _transfer_once(
    url: str,
    part: Path,
    chunk_bytes: int,
    progress: Callable[[int, int | None], None] | None,
    limits: Limits | None = None,
    deadline: _Deadline | None = None,
) -> None:
    """One HTTP request: appends the missing bytes to `part`, or rewrites it if Range is ignored.

    Whatever arrives is written at once, so a transfer that stalls or breaks keeps every byte it got."""
    limits = limits or Limits()
    deadline = deadline or _Deadline(None, part)
    deadline.check()
    have = _size(part)
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=deadline.socket_timeout()
        )
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:
            log.info("%s is already complete on disk (%d bytes; server answered 416).", part, have)
            return
        if exc.code >= 500:
            raise _Unreachable(f"HTTP {exc.code} {exc.reason}") from exc
        raise AudioClfError(
            f"Could not download {url}: HTTP {exc.code} {exc.reason}. Check the subset name and "
            "the mirror URL, or pick another mirror with --mirror."
        ) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            # The mirror answered and then hung up (RemoteDisconnected is a ConnectionResetError):
            # a flaky connection worth retrying, not an unreachable host.
            raise _BrokenTransfer(describe(exc.reason)) from exc
        raise _Unreachable(describe(exc.reason)) from exc
    except (TimeoutError, ConnectionError) as exc:
        raise _Unreachable(describe(exc)) from exc

    with response:
        offset, total = _where_body_starts(response, have, url, part)
        mode = "ab" if offset else "wb"
        body_length = _int_or_none(response.headers.get("Content-Length"))
        reporter = _ProgressReporter(part.name, total, progress)
        speed = _ThroughputCheck(limits.min_bytes_per_s)
        received = 0
        with part.open(mode) as out:
            while True:
                # read1: what has arrived (up to chunk_bytes), not a wait for a whole chunk that a
                # stall would throw away.
                chunk = response.read1(chunk_bytes)
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
                reporter.update(offset + received)
                speed.update(received)
                deadline.check()
        # http.client returns b"" instead of raising when a Content-Length body is cut short.
        if body_length is not None and received < body_length:
            raise _BrokenTransfer(f"got {received} of {body_length} bytes")
        reporter.finish(offset + received)


def _where_body_starts(response, have: int, url: str, part: Path) -> tuple[int, int | None]:
    """Returns (offset in the file where this body starts, whole file size if known)."""
    if response.status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if match is None:
            return have, None
        start, total = int(match.group(1)), match.group(3)
        if start != have:
            # Cannot splice a range that does not start where our file ends; start over cleanly.
            part.unlink(missing_ok=True)
            raise _BrokenTransfer(f"server sent bytes from {start}, expected {have}")
        return have, None if total == "*" else int(total)
    if have:
        log.info("%s ignored the Range header; downloading %s again from zero.", url, part.name)
    return 0, _int_or_none(response.headers.get("Content-Length"))


class _ThroughputCheck:
    """Raises _TooSlow when fewer than `min_bytes_per_s` arrived on average over THROUGHPUT_WINDOW_S."""

    def __init__(self, min_bytes_per_s: float):
        self.min_bytes_per_s = min_bytes_per_s
        self.window_start = time.monotonic()
        self.window_bytes = 0

    def update(self, received: int) -> None:
        elapsed = time.monotonic() - self.window_start
        if not self.min_bytes_per_s or elapsed < THROUGHPUT_WINDOW_S:
            return
        rate = (received - self.window_bytes) / elapsed
        if rate < self.min_bytes_per_s:
            raise _TooSlow(f"too slow: {rate:.0f} bytes/s over the last {elapsed:.0f} s, below the minimum of "
                           f"{self.min_bytes_per_s:.0f} bytes/s (--min-speed-kbps)")
        self.window_start, self.window_bytes = time.monotonic(), received


class _Deadline:
    """The whole download's time limit (None: none); past it, AudioClfError keeping the part file."""

    def __init__(self, seconds: float | None, part: Path):
        self.seconds = seconds
        self.part = part
        self.at = None if seconds is None else time.monotonic() + seconds

    def check(self, extra_s: float = 0.0) -> None:
        if self.at is not None and time.monotonic() + extra_s > self.at:
            raise AudioClfError(
                f"The download did not finish within {self.seconds / 60:.1f} minutes (--timeout-minutes); "
                f"{_size(self.part)} bytes are kept in {self.part}. Run the same command again to resume, "
                "allow more time, or pick another mirror with --mirror."
            )

    def socket_timeout(self) -> float:
        if self.at is None:
            return SOCKET_TIMEOUT_S
        return max(0.1, min(SOCKET_TIMEOUT_S, self.at - time.monotonic()))


class _ProgressReporter:
    """Logs at most every ~5 % or 10 s, so big downloads neither flood the log nor look hung."""

    def __init__(self, label: str, total: int | None, callback):
        self.label = label
        self.total = total
        self.callback = callback
        self.last_time = self.start_time = time.monotonic()
        self.last_fraction = 0.0
        self.first_done: int | None = None

    def update(self, done: int) -> None:
        if self.first_done is None:
            self.first_done = done
        if self.callback is not None:
            self.callback(done, self.total)
        now = time.monotonic()
        fraction = done / self.total if self.total else 0.0
        due = fraction - self.last_fraction >= LOG_EVERY_FRACTION
        if due or now - self.last_time >= LOG_EVERY_S:
            self._log(done)
            self.last_time, self.last_fraction = now, fraction

    def finish(self, done: int) -> None:
        self._log(done)

    def _log(self, done: int) -> None:
        elapsed = time.monotonic() - self.start_time
        rate = (done - (self.first_done or 0)) / elapsed / 1e3 if elapsed > 0 else 0.0
        if self.total:
            log.info("%s: %.1f of %.1f MB (%.0f %%), %.0f kB/s", self.label, done / 1e6, self.total / 1e6,
                     100.0 * done / self.total, rate)
        else:
            log.info("%s: %.1f MB, %.0f kB/s", self.label, done / 1e6, rate)



def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def describe(exc: object) -> str:
    text = str(exc)
    if isinstance(exc, _BrokenTransfer) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
