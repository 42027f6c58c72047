"""Fetching one large file over HTTP(S) so that a broken connection costs nothing: the body goes to a
`.part` file, a broken transfer resumes from the bytes on disk (HTTP Range), each mirror is tried in
turn when one cannot be reached, and progress is logged every ~5 % or 10 s.

Hand-made rather than tenacity/urllib3.Retry: the retry must resume the file from its current size
(a new Range request each time), and `audioclf download` runs before any heavy dependency installs,
so only the standard library is used."""
from __future__ import annotations

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

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class _BrokenTransfer(Exception):
    """The connection ended before the whole body arrived; worth retrying from the bytes on disk."""


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
) -> None:
    """Tries each URL in turn, moving on only when a mirror cannot be reached at all."""
    unreachable = []
    for url in urls:
        try:
            _download_resuming(url, part, chunk_bytes, progress, retries)
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
) -> None:
    """Fetches `url` into `part`, retrying a broken transfer from the bytes already on disk."""
    for attempt in range(retries + 1):
        try:
            _transfer_once(url, part, chunk_bytes, progress)
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
            time.sleep(RETRY_PAUSE_S * (attempt + 1))


def _transfer_once(
    url: str,
    part: Path,
    chunk_bytes: int,
    progress: Callable[[int, int | None], None] | None,
) -> None:
    """One HTTP request: appends the missing bytes to `part`, or rewrites it if Range is ignored."""
    have = _size(part)
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=SOCKET_TIMEOUT_S
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
        received = 0
        with part.open(mode) as out:
            while True:
                chunk = response.read(chunk_bytes)
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
                reporter.update(offset + received)
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


class _ProgressReporter:
    """Logs at most every ~5 % or 10 s, so big downloads neither flood the log nor look hung."""

    def __init__(self, label: str, total: int | None, callback):
        self.label = label
        self.total = total
        self.callback = callback
        self.last_time = time.monotonic()
        self.last_fraction = 0.0

    def update(self, done: int) -> None:
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
        if self.total:
            log.info("%s: %.1f of %.1f MB (%.0f %%)", self.label, done / 1e6, self.total / 1e6,
                     100.0 * done / self.total)
        else:
            log.info("%s: %.1f MB", self.label, done / 1e6)



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
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
