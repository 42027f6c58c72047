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
