"""`audioclf predict` on bad input: folders, files that are not regular (FIFO, /dev/zero), limits, NaN
samples, a 1-sample file, and a damaged model folder. Each bad file gets one error line and never a
label; a damaged model is one `audioclf: error:` line, exit 2. The model is a stand-in (its metadata is
real, its SavedModel a stub that answers 50/50) except where a damaged saved_model.pb must be loaded."""
import json
import os
import shutil
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from components.common.errors import EXIT_USER_ERROR
from pipeline import cli
from sample_artifacts import export_tiny_model  # tests/sample_artifacts.py
from trainer import classifier, export

RATE = 8000


@pytest.fixture
def model(tmp_path, monkeypatch):
    """A model folder that loads without TensorFlow's loader: real metadata, a stub classify signature."""
    folder = tmp_path / "model"
    (folder / "assets.extra").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    (folder / export.MODEL_METADATA_FILE).write_text(json.dumps(
        {"sample_rate": RATE, "clip_samples": RATE, "label_names": ["male", "female"]}))

    def classify(audio):
        return {export.OUTPUT_KEY: tf.fill([audio.shape[0], 2], 0.5)}

    monkeypatch.setattr(classifier.tf.saved_model, "load",
                        lambda path: types.SimpleNamespace(signatures={export.CLASSIFY_AUDIO: classify}))
    return folder


@pytest.fixture(scope="module")
def real_model(tmp_path_factory):
    return export_tiny_model(tmp_path_factory.mktemp("model"), rate=RATE) / "1"


def _predict(capsys, model_dir, *args):
    code = cli.main(["predict", "--model", str(model_dir), *[str(a) for a in args]])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def _speech(path: Path, seconds: float = 1.5) -> Path:
    soundfile.write(path, np.sin(np.arange(int(seconds * RATE)) / 3.0).astype(np.float32) * 0.3, RATE)
    return path


def test_a_folder_stands_for_its_audio_files_sorted_and_recursive(model, tmp_path, capsys):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    files = [_speech(folder / "b.wav"), _speech(folder / "sub" / "a.WAV"), _speech(folder / "A.wav")]
    _speech(folder / ".hidden" / "x.wav")
    (folder / "notes.txt").write_text("not audio")
    (tmp_path / "empty").mkdir()
    code, lines, err = _predict(capsys, model, folder, tmp_path / "empty")
    assert [line["file"] for line in lines] == sorted(str(f) for f in files) + [str(tmp_path / "empty")]
    assert all(line["label"] in ("male", "female") for line in lines[:3])
    assert "is a folder without audio files" in lines[3]["error"] and "internal error" not in err
    assert code == EXIT_USER_ERROR and "1 of 4 file(s) could not be classified" in err


def test_files_that_are_not_regular_are_refused_unopened(model, tmp_path, capsys, no_hang):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)   # opening it for reading would block until a writer comes: the test would hang
    code, lines, err = _predict(capsys, model, fifo, "/dev/zero", _speech(tmp_path / "ok.wav"))
    assert "pipe.wav is a FIFO (named pipe), not a regular file" in lines[0]["error"]
    assert "/dev/zero is a character device, not a regular file" in lines[1]["error"]
    assert lines[2]["label"] in ("male", "female")
    assert code == EXIT_USER_ERROR and "Traceback" not in err


def test_bad_samples_and_limits_get_an_error_line_not_a_label(model, tmp_path, capsys):
    nan = np.full(RATE, 0.1, np.float32)
    nan[10] = np.nan
    soundfile.write(tmp_path / "nan.wav", nan, RATE, subtype="FLOAT")
    soundfile.write(tmp_path / "inf.wav", np.full(RATE, np.inf, np.float32), RATE, subtype="FLOAT")
    soundfile.write(tmp_path / "one.wav", np.array([0.1], np.float32), RATE)
    _speech(tmp_path / "long.wav", 4.0)
    code, lines, err = _predict(capsys, model, tmp_path / "nan.wav", tmp_path / "inf.wav", tmp_path / "one.wav",
                                tmp_path / "long.wav", "--set", "serving.max_audio_seconds=3")
    assert all("label" not in line for line in lines), lines
    assert "nan.wav: the audio holds NaN or infinite samples" in lines[0]["error"]
    assert "inf.wav: the audio holds NaN or infinite samples" in lines[1]["error"]
    assert "one.wav: 0.000 s of audio; at least 0.5 s is needed to tell (serving.min_audio_seconds)" in lines[2]["error"]
    assert "long.wav: 4 s of audio; at most 3 s per recording (serving.max_audio_seconds)" in lines[3]["error"]
    code, lines, err = _predict(capsys, model, tmp_path / "long.wav", "--set", "serving.max_file_mb=0.01")
    assert "long.wav is larger than 0.01 MB (serving.max_file_mb)" in lines[0]["error"]
    assert code == EXIT_USER_ERROR


@pytest.mark.parametrize("damage, named, problem", [
    (lambda m: (m / "assets.extra" / "audioclf.json").write_text("{not json"), "assets.extra/audioclf.json",
     "not valid audioclf model metadata (JSONDecodeError"),
    (lambda m: (m / "assets.extra" / "audioclf.json").write_text('{"sample_rate": 8000}'), "assets.extra/audioclf.json",
     "not valid audioclf model metadata (KeyError"),
    (lambda m: ((m / "saved_model.pb").unlink(), os.mkfifo(m / "saved_model.pb")), "saved_model.pb",
     "is a FIFO (named pipe), not a regular file"),
])
def test_a_damaged_model_folder_is_one_line_naming_the_file(model, tmp_path, capsys, damage, named, problem, no_hang):
    _assert_one_line_naming(model, tmp_path, capsys, damage, named, problem)


@pytest.mark.slow
@pytest.mark.parametrize("content", [b"\x00garbage, not a protobuf" * 10, b""], ids=["garbage", "empty"])
def test_a_damaged_saved_model_is_one_line_naming_the_file(real_model, tmp_path, capsys, content):
    _assert_one_line_naming(real_model, tmp_path, capsys, lambda m: (m / "saved_model.pb").write_bytes(content),
                            "saved_model.pb", "cannot load the SavedModel")


def _assert_one_line_naming(model, tmp_path, capsys, damage, named, problem):
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    damage(broken)
    code, lines, err = _predict(capsys, broken, _speech(tmp_path / "ok.wav"))
    errors = [line for line in err.splitlines() if line.startswith("audioclf: ")]
    assert code == EXIT_USER_ERROR and lines == [] and "Traceback" not in err, err[-2000:]
    assert len(errors) == 1 and errors[0].startswith(f"audioclf: error: {broken / named}")
    assert problem in errors[0] and "push the model again" in errors[0]
