"""A bad setting ends `audioclf run` (and compile) before anything runs: exit code 2, one line naming
the setting, the value given and what is accepted, no traceback, nothing in the output folder."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.common.errors import EXIT_USER_ERROR
from pipeline import cli, local_runner, memory

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_component_runs(monkeypatch):
    """A setting these tests expect refused must not reach the pipeline (a default run takes minutes)."""
    def run(*args, **kwargs):
        raise AssertionError("the settings were accepted and the pipeline started")
    monkeypatch.setattr(local_runner, "run", run)


def _error_line(err: str) -> str:
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("audioclf: error: ")]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


@pytest.mark.parametrize("override, expected", [
    ("trainer.learning_rate=-1", "trainer.learning_rate=-1 must be a number in (0, 10]"),
    ("trainer.learning_rate=1e-4x", "trainer.learning_rate='1e-4x' must be a number in (0, 10]"),
    ("trainer.epochs=1.5", "trainer.epochs=1.5 must be an integer in [1, 100000]"),
    ("trainer.dropout=1.5", "trainer.dropout=1.5 must be a number in [0, 1)"),
    ("trainer.n_fft=0", "trainer.n_fft=0 must be an integer in [16, 16384]"),
    ("trainer.hop_length=0", "trainer.hop_length=0 must be an integer in [1, 16384]"),
    ("trainer.conv_filters=abcd", "trainer.conv_filters='abcd' must be a list of integers, each in [1, 4096]"),
    ("trainer.conv_filters=[16, x, 64, 64]", "trainer.conv_filters[1]='x' must be an integer in [1, 4096]"),
    ("trainer.pitch_channel=1", "trainer.pitch_channel=1 must be true or false"),
    ("synthesis.clip_seconds=abc", "synthesis.clip_seconds='abc' must be a number in (0, 600]"),
    ("synthesis.clip_seconds=.nan", "synthesis.clip_seconds=nan must be a number in (0, 600]"),
    ("synthesis.clip_seconds=.inf", "synthesis.clip_seconds=inf must be a number in (0, 600]"),
    ("synthesis.clip_seconds=100000", "synthesis.clip_seconds=100000 must be a number in (0, 600]"),
    ("synthesis.sample_rate=96000", "synthesis.sample_rate=96000 must be an integer in [4000, 48000]"),
    ("synthesis.clips={train: x, eval: 2, test: 2}", "synthesis.clips.train='x' must be an integer in [1, 1000000]"),
    ("synthesis.clips={train: 4}", "synthesis.clips must give a count for each of train, eval, test"),
    ("beam.direct_num_workers=1000", "beam.direct_num_workers=1000 must be an integer in [1, 256]"),
    ("examples.num_shards=0", "examples.num_shards=0 must be an integer in [1, 10000]"),
    ("kubeflow.tfjob.workers=0", "kubeflow.tfjob.workers=0 must be an integer in [1, 1024]"),
    ("evaluator.max_regression=.nan", "evaluator.max_regression=nan must be a number in [0, 1]"),
    # Allowed one by one, too much together: refused with the numbers before the data stages run.
    ("synthesis={clip_seconds: 600, clips: {train: 100000, eval: 2, test: 2}}",
     "the AudioExampleGen step needs about 1920.0 GB of memory (100,000 clips x 9,600,000 samples x 2 bytes), "
     "more than the"),
    ("a.b=[", "--set a.b=[: the value is not valid YAML"),
])
def test_a_bad_setting_stops_the_run_before_anything_runs(tmp_path, capsys, override, expected):
    code = cli.main(["run", "--output", str(tmp_path / "out"), "--set", override])
    line = _error_line(capsys.readouterr().err)
    assert code == EXIT_USER_ERROR and expected in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, expected", [
    ("- synthesis\n- trainer\n", "holds a list (['synthesis', 'trainer']), not a mapping of sections"),
    ("42\n", "holds a int (42), not a mapping of sections"),
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "is not text (byte 0 is not UTF-8)"),
    ("trainer: [1, 2]\n", "config: 'trainer' must be a mapping, got [1, 2]"),
    ("trainer: {epochs: 2.5}\n", "trainer.epochs=2.5 must be an integer in [1, 100000]"),
    (None, "is a folder; pass a YAML/JSON file to --config"),
])
def test_a_config_file_that_is_not_a_mapping_of_settings_is_refused(tmp_path, capsys, content, expected):
    path = tmp_path / "config.yaml"
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    code = cli.main(["run", "--output", str(tmp_path / "out"), "--config", str(path)])
    line = _error_line(capsys.readouterr().err)
    assert code == EXIT_USER_ERROR and f"{path} {expected}" in line if "config file" in line else expected in line, line
    assert not (tmp_path / "out").exists()


def test_memory_is_checked_against_what_this_machine_has(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 100 << 20)   # 100 MB
    code = cli.main(["run", "--output", str(tmp_path / "out")])
    line = _error_line(capsys.readouterr().err)
    assert code == EXIT_USER_ERROR and "more than the 0.1 GB available on this machine" in line, line
    assert not (tmp_path / "out").exists()


def test_compile_refuses_a_bad_setting_and_a_pod_too_small(tmp_path, capsys):
    out = tmp_path / "pipeline.yaml"
    assert cli.main(["compile", "--output", str(out), "--set", "trainer.epochs=1.5"]) == EXIT_USER_ERROR
    assert "trainer.epochs=1.5 must be an integer" in _error_line(capsys.readouterr().err)
    assert cli.main(["compile", "--output", str(out), "--set", "kubeflow.trainer.memory=256Mi"]) == EXIT_USER_ERROR
    assert "more than the 0.3 GB of kubeflow.trainer.memory=256Mi" in _error_line(capsys.readouterr().err)
    assert not out.exists()


def test_the_command_line_process_exits_2_with_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--output", str(tmp_path / "out"),
                           "--set", "trainer.learning_rate=-1"], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=300, check=False)
    assert done.returncode == EXIT_USER_ERROR, done.stderr[-3000:]
    assert "config: trainer.learning_rate=-1 must be a number in (0, 10]" in _error_line(done.stderr)
    assert not (tmp_path / "out").exists()
