"""The quiet log filter: our loggers' lines and library progress kept, protos and worker chatter dropped."""
import logging

import pytest

from pipeline import logs


def _record(name: str, message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord(name, level, "x.py", 1, message, (), None)


def _worker(severity: str, text: str, source: str) -> str:
    return (f'Worker: severity: {severity} timestamp {{   seconds: 1   nanos: 2 }} message: "{text}" '
            f'instruction_id: "bundle_4" transform_id: "ParDo(D)" log_location: "{source}:6" thread: "Thread-11" ')


@pytest.mark.parametrize("name, message, level, kept", [
    ("components.audio_synthesis.executor", "audio synthesis: 12/1500 clips", logging.INFO, True),
    ("trainer.callbacks", "epoch 3, eval (200 clips): accuracy 0.8", logging.INFO, True),
    ("root", "Component SpeakerIndexGen is running.", logging.INFO, True),
    ("root", "Component SpeakerIndexGen is running.\nnode_info {\n  id: 'x'\n}", logging.INFO, False),
    ("root", "Running driver for Trainer", logging.INFO, False),
    ("apache_beam.runners.portability", "Running ('ref_AppliedPTransform_Create',)", logging.INFO, False),
    ("absl", "Something odd happened", logging.WARNING, True),
    ("absl", "ArtifactQuery.property_predicate is not supported", logging.WARNING, False),
    ("root", _worker("INFO", "audio synthesis: 3/12 clips", "/x/site-packages/components/audio_synthesis/executor.py"),
     logging.INFO, True),
    ("root", _worker("INFO", "Creating state cache with size 0", "/x/apache_beam/runners/worker/statecache.py"),
     logging.INFO, False),
    ("root", _worker("ERROR", "boom", "/x/apache_beam/runners/worker/sdk_worker.py"), logging.INFO, True),
])
def test_what_the_quiet_filter_keeps(name, message, level, kept):
    assert logs._Quiet().filter(_record(name, message, level)) is kept  # pylint: disable=protected-access


def test_a_kept_worker_line_is_unwrapped():
    record = _record("root", _worker("INFO", "audio synthesis: 3/12 clips", "/repo/components/x/executor.py"))
    assert logs._Quiet().filter(record)  # pylint: disable=protected-access
    assert record.getMessage() == "audio synthesis: 3/12 clips"


def test_our_loggers_are_told_by_name():
    assert logs.ours("pipeline.kubeflow.runs") and logs.ours("components") and not logs.ours("tfx.orchestration")


def _error_record(name: str, message: str, error: BaseException = None) -> logging.LogRecord:
    exc_info = (type(error), error, None) if error is not None else None
    return logging.LogRecord(name, logging.ERROR, "x.py", 1, message, (), exc_info)


BEAM_TRACE = ("a.flac: cannot decode audio [while running 'ParDo(Boom)']\nTraceback (most recent call last):\n"
              '  File "apache_beam/runners/common.py", line 1501, in process\n'
              "components.common.errors.AudioClfError: a.flac: cannot decode audio\n")


def test_a_library_traceback_carrying_a_user_error_is_left_to_the_command_line():
    """Beam logs a worker's AudioClfError with its traceback (twice with multi_processing): the terminal
    shows none of it; the command line prints the message once."""
    from components.common.errors import AudioClfError

    quiet = logs._Quiet()  # pylint: disable=protected-access
    assert not quiet.filter(_error_record("apache_beam.runners.portability.local_job_service", BEAM_TRACE))
    assert not quiet.filter(_error_record("apache_beam.runners.common", "a.flac: cannot decode audio",
                                          AudioClfError("a.flac: cannot decode audio")))
    assert not quiet.filter(_record("root", _worker("ERROR", BEAM_TRACE.replace("\n", "\\n"), "/x/sdk_worker.py")))


def test_a_library_traceback_of_a_bug_is_cut_to_its_first_line():
    quiet = logs._Quiet()  # pylint: disable=protected-access
    record = _error_record("apache_beam.runners.worker.sdk_worker",
                           "Error processing instruction bundle_3. Original traceback is\nTraceback (most recent "
                           "call last):\n  File \"x.py\"\nZeroDivisionError: division by zero")
    assert quiet.filter(record)
    assert record.getMessage() == ("Error processing instruction bundle_3. Original traceback is (traceback left out: "
                                   "run with -v to see it)")
    with_exc = _error_record("tfx.orchestration", "Execution 4 failed", ZeroDivisionError("division by zero"))
    assert quiet.filter(with_exc) and with_exc.exc_info is None and "left out" in with_exc.getMessage()
    plain = _error_record("absl", "something failed")
    assert quiet.filter(plain) and plain.getMessage() == "something failed"


CHILD = r'''
import logging, subprocess, sys
from pipeline import interrupts, logs
logs.setup(False)
with logs.to_file(sys.argv[1]), interrupts.catch(sys.argv[1]):
    subprocess.run([sys.executable, "-c", "import sys; print('Traceback (most recent call last): in a worker', "
                    "file=sys.stderr)"], check=True)
    logging.getLogger("components.x").info("audio synthesis: 3/12 clips")
    logging.getLogger("apache_beam.x").error("Error\nTraceback (most recent call last):\nZeroDivisionError: boom")
    print("printed by python", file=sys.stderr)
print("audioclf: error: after the block", file=sys.stderr)
'''


def test_worker_stderr_goes_to_the_log_file_and_the_terminal_keeps_our_lines(tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    log = tmp_path / "run.log"
    done = subprocess.run([sys.executable, "-c", CHILD, str(log)], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120, check=True)
    terminal = [line.split(" ", 3)[-1] if line[:2] == "20" else line for line in done.stderr.splitlines()]
    assert terminal == ["audio synthesis: 3/12 clips",
                        f"Error (traceback left out: see {log})",
                        "audioclf: error: after the block"], done.stderr
    text = log.read_text()
    for line in ("printed by python", "in a worker", "ZeroDivisionError: boom", "audio synthesis: 3/12 clips"):
        assert line in text
