"""Ctrl-C and SIGTERM during `audioclf run`: stop the run in the main thread with `RunInterrupted`, and
keep the terminal down to one line while everything unwinds.

Without this, a Ctrl-C reaches every process of the terminal's process group: each Beam worker prints its
own KeyboardInterrupt traceback, Beam's threads print theirs while the pipeline is torn down, and the
main thread may see a dead worker before it sees the signal. So, while a run is going on:

* File descriptor 2 is the run's log file (run.log): child processes, C libraries and threads' tracebacks
  write there; our log handlers keep writing to the terminal through a copy of the old descriptor.
* SIGINT is ignored, which child processes inherit (Beam workers, spawned pools), and blocked in every
  thread, so that Linux keeps it pending rather than discarding it; a watcher thread takes it with
  `sigwait` and stops the main thread (by SIGTERM to that thread alone). Every thread blocks it only when
  the block comes before any thread starts: the command line calls `install()` first thing, before
  TensorFlow's import; outside a run, the watcher turns SIGINT into the usual KeyboardInterrupt.
* SIGTERM's handler (the main thread's) records which signal stopped the run, removes the terminal's log
  handlers (the log file keeps every line) and raises `RunInterrupted`. Children get the default SIGTERM
  action, so they end without a word. Where the main thread cannot raise (a `__del__`, a weakref or GC
  callback: Python prints such an exception as "ignored"), `sys.unraisablehook` sees the swallowed
  `RunInterrupted` and has it raised again.

A library may also catch the RunInterrupted in plain code and go on (`except BaseException` and carry on;
CI saw a run interrupted while Beam started its workers keep going and hang, 2026-12-04). So until the
run's own handler says it has the interrupt (`handled()`), it is raised again every
`REDELIVER_AFTER_S` seconds.

`terminal()` is the original stderr, for the one line the command line prints at the end; then
`exit_after_interrupt` stops the run's child processes and ends the process without waiting for
threads left behind. A second signal while the run is being wound up ends the process at once. After
an interrupt, descriptor 2 stays on the log file (threads may still print while the process ends).
"""
import contextlib
import logging
import os
import signal
import sys
import threading
import _thread
from typing import Iterator, NoReturn, TextIO

log = logging.getLogger(__name__)

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
REDELIVER_AFTER_S = 15.0   # an interrupt not handled by then was swallowed: raise it again


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal; `signum` says which."""

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message or f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 128 + self.signum)


_state = {"terminal": None, "watcher": None, "run": None}


def install() -> None:
    """Blocks SIGINT in the calling (main) thread, and so in every thread it starts from now on, and starts
    the thread that takes it; SIGTERM raises RunInterrupted. Call it before anything starts threads; a
    second call does nothing."""
    if _state["watcher"] is not None or threading.current_thread() is not threading.main_thread():
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    signal.signal(signal.SIGTERM, _terminated)
    _state["watcher"] = threading.Thread(target=_watch, name="audioclf-interrupts", daemon=True)
    _state["watcher"].start()


def _terminated(signum, _frame):
    """SIGTERM outside a run's block (before it starts, while it is set up): a RunInterrupted too."""
    raise RunInterrupted(signum)


def _watch() -> None:
    while True:
        signum = signal.sigwait({signal.SIGINT})
        run = _state["run"]
        if run is None:
            _thread.interrupt_main(signum)   # the default handler: KeyboardInterrupt
        else:
            run["pending"] = signum
            signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)


def _redeliver(run: dict) -> None:
    if _state["run"] is run:
        signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)


def _unhandled(run: dict) -> None:
    """Raises the run's interrupt again while nothing has handled it (`handled()`), then checks again later."""
    if _state["run"] is not run or run.get("handled"):
        return
    log.warning("the %s has not stopped the run after %.0f s (a library caught it and went on): raising it again",
                signal.Signals(run["signum"]).name, REDELIVER_AFTER_S)
    run["redeliver"] = True
    _redeliver(run)
    _later(run)


def _later(run: dict) -> None:
    timer = threading.Timer(REDELIVER_AFTER_S, _unhandled, (run,))
    timer.daemon = True
    timer.start()


def handled() -> None:
    """The run's own code has the RunInterrupted (its `except`): no more raising it again."""
    if _state["run"] is not None:
        _state["run"]["handled"] = True


def exit_after_interrupt(code: int, grace_s: float = 10.0) -> NoReturn:
    """Ends the process of an interrupted run, once its summary, report and last line are out: stops the
    child processes the run left (Beam's SDK workers, worker pools; they ignore SIGINT, see above) with
    SIGTERM, SIGKILL for those still there after `grace_s`, flushes the logs and exits at once, without
    waiting for threads the interrupted libraries left behind. One of those can hold the interpreter's
    shutdown forever: in CI on 2026-12-02 a Ctrl-C at the end of AudioSynthesis printed the run's last line
    and the process never exited (tests/run_control_test.py)."""
    import psutil  # pylint: disable=import-outside-toplevel

    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=grace_s)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(alive, timeout=grace_s)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr, _state["terminal"]):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)  # pylint: disable=protected-access


def terminal() -> TextIO:
    """Where the command line's last line goes: the terminal, also while descriptor 2 is the log file."""
    return _state["terminal"] or sys.stderr


def _terminal_handlers() -> list:
    """The root logger's handlers that write to the process's real stderr."""
    return [h for h in logging.getLogger().handlers
            if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is sys.__stderr__]


@contextlib.contextmanager
def catch(log_path: str) -> Iterator[None]:
    """Turns SIGINT and SIGTERM during the block into `RunInterrupted` in the main thread, with stderr on
    the log file (see the module doc); does nothing outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    install()
    caught = {"signum": None}
    sys.stderr.flush()
    saved_fd = os.dup(2)
    _state["terminal"] = terminal_stream = os.fdopen(os.dup(2), "w", buffering=1)
    handlers = _terminal_handlers()
    for handler in handlers:
        handler.setStream(terminal_stream)
    log_stream = open(log_path, "a", buffering=1, encoding="utf-8")  # pylint: disable=consider-using-with
    os.dup2(log_stream.fileno(), 2)

    def stop(signum, _frame):
        signum = caught.pop("pending", signum)
        if caught.pop("redeliver", False):   # the first raise was swallowed (see `swallowed` below)
            raise RunInterrupted(caught["signum"])
        if caught["signum"] is not None:   # a second signal: stop waiting for the wind-up
            print(f"audioclf: {signal.Signals(signum).name} again: stopped at once; the summary may be missing",
                  file=terminal_stream, flush=True)
            os._exit(EXIT_CODES.get(caught["signum"], 130))  # pylint: disable=protected-access
        caught["signum"] = signum
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
        log.warning("received %s: stopping the run", signal.Signals(signum).name)
        _later(caught)
        raise RunInterrupted(signum)

    def swallowed(unraisable):
        """A signal handler runs wherever the main thread is; in a `__del__` or a weakref or GC callback the
        RunInterrupted it raises is "ignored" (printed, not raised) and the run would go on to its end (grpc's
        `_Server.__del__` in AudioSynthesis, seen 2026-12-02). So raise it again, at the next chance."""
        if isinstance(unraisable.exc_value, RunInterrupted) and caught["signum"] is not None:
            log.info("the interrupt landed in %r, which cannot raise: raising it again", unraisable.object)
            caught["redeliver"] = True
            # From another thread, a moment later: raised inside this hook, it would be lost again. Not once
            # the run is over (it ended in those 50 ms): its summary then says it completed.
            threading.Timer(0.05, _redeliver, (caught,)).start()
        else:
            previous_hook(unraisable)

    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
                signal.SIGTERM: signal.signal(signal.SIGTERM, stop)}
    previous_hook, sys.unraisablehook = sys.unraisablehook, swallowed
    _state["run"] = caught
    try:
        yield
    finally:
        _state["run"] = None
        sys.unraisablehook = previous_hook
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught["signum"] is None:
            os.dup2(saved_fd, 2)
            for handler in handlers:
                handler.setStream(sys.__stderr__)
            _state["terminal"] = None
            terminal_stream.close()
            log_stream.close()
        os.close(saved_fd)
