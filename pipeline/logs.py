"""Readable logs: progress of each component and of our long steps, without TFX's proto dumps.

TFX logs whole protos (node specs, artifacts) at INFO and Beam relays every worker line. A person
running `audioclf run` wants to see which component runs and how far the long steps are; `-v` shows
everything.

A library's error with a traceback (Beam re-raising a worker's exception, twice or three times over) is
not shown on the terminal: when it carries an AudioClfError, the command line prints that message alone
at the end; otherwise its first line is shown with a pointer to the full text, which goes to the log
file (`to_file`, OUTPUT/run.log for `audioclf run`) and to the terminal with `-v`.
"""
import contextlib
import logging
import os
import re
import sys
from typing import Iterator

from components.common.errors import MARKER, find_user_message

# Loggers of this project: every line of theirs is kept (they log progress, not protos). The packages'
# folders also mark a relayed Beam worker line as ours (audioclf.py is a module, not a folder).
OUR_PACKAGES = ("components", "pipeline", "trainer", "bench")
OUR_LOGGERS = OUR_PACKAGES + ("audioclf",)
# TFX logs through absl on the root logger, so its few useful INFO lines (which component runs, cache
# hits, run and upload notices of the kfp client) can only be told apart by their text.
_LIBRARY_PROGRESS = re.compile(r"Component \w+ is (running|finished)|running pipeline|Execution \d+ (succeeded|failed)|"
                               r"Going to run a new execution|Cached|created (recurring )?run|uploaded .*pipeline",
                               re.IGNORECASE)
# A Beam worker's line relayed by the runner: its severity, text and source file (`log_location`).
_WORKER = re.compile(r'^Worker: severity: (\w+) .*? message: "(.*?)" (?:instruction_id|log_location)', re.DOTALL)
_WORKER_SOURCE = re.compile(r'log_location: "([^"]*)"')
_OUR_SOURCES = tuple(f"/{package}/" for package in OUR_PACKAGES)
_TFX_NOTICES = ("ArtifactQuery.property_predicate",)   # TFX-internal warnings that say nothing to a user
_TRACEBACK = "Traceback (most recent call last)"
# The marker of the user-facing error type inside a relayed traceback.
_USER_ERROR = MARKER
_log_file = None   # set by to_file: where the full text of a shortened error is


def ours(name: str) -> bool:
    """True for the logger of a module of this project (`components.audio_synthesis.executor`, ...)."""
    return name.split(".")[0] in OUR_LOGGERS


class _Quiet(logging.Filter):
    """Keeps warnings and errors, every line of our own loggers, and the library INFO lines that show
    progress; a relayed Beam worker line is kept (unwrapped) when it comes from our source files."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        worker = _WORKER.match(message)
        if worker:
            severity, text = worker.groups()
            source = _WORKER_SOURCE.search(message)
            if severity in ("ERROR", "CRITICAL") or (source and any(s in source.group(1) for s in _OUR_SOURCES)):
                record.msg, record.args = text.encode().decode("unicode_escape"), ()
                return _shorten_traceback(record) if severity in ("ERROR", "CRITICAL") else True
            return False
        if record.levelno >= logging.ERROR and not ours(record.name):
            return _shorten_traceback(record)
        if ours(record.name):
            return True
        if record.levelno >= logging.WARNING:
            return not any(notice in message for notice in _TFX_NOTICES)
        return "\n" not in message.strip() and bool(_LIBRARY_PROGRESS.search(message))


def _shorten_traceback(record: logging.LogRecord) -> bool:
    """A library error with a traceback: dropped when it carries an AudioClfError (the command line
    prints that message), else cut to its first line with a pointer to the full text."""
    message = record.getMessage()
    error = record.exc_info[1] if record.exc_info else None
    if error is None and _TRACEBACK not in message and _TRACEBACK not in (record.exc_text or ""):
        return True
    if _USER_ERROR in message or _USER_ERROR in (record.exc_text or "") or (
            error is not None and find_user_message(error) is not None):
        return False
    where = f"see {_log_file}" if _log_file else "run with -v to see it"
    record.msg, record.args = f"{message.split(chr(10))[0]} (traceback left out: {where})", ()
    record.exc_info, record.exc_text, record.stack_info = None, None, None
    return True


def setup(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    if not verbose:
        handler.addFilter(_Quiet())
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, logging.FileHandler):
            old.close()
    root.handlers[:] = [handler]
    global _log_file  # pylint: disable=global-statement
    _log_file = None
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        from absl import logging as absl_logging  # pylint: disable=import-outside-toplevel
        absl_logging.use_python_logging(quiet=True)
    except ImportError:
        pass
    if not verbose:
        # Inherited by Beam worker processes too: TensorFlow's C++ INFO/WARNING lines, and Google
        # client libraries' deprecation notices about the Python version, say nothing about the run.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
        import warnings  # pylint: disable=import-outside-toplevel
        warnings.filterwarnings("ignore", category=FutureWarning)


@contextlib.contextmanager
def to_file(path: str) -> Iterator[None]:
    """Also writes every log line (unfiltered, at the root logger's level) to `path` during the block: the
    run's own log, where tracebacks and library details go when the terminal shows only progress."""
    global _log_file  # pylint: disable=global-statement
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers.insert(0, handler)   # first: it sees each record before the quiet filter shortens it
    previous, _log_file = _log_file, path
    try:
        yield
    finally:
        _log_file = previous
        root.removeHandler(handler)
        handler.close()
