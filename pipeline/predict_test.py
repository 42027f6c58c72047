"""Windowing and the weighting of windows in `predict` (the model itself is tested end to end in
tests/pipeline_e2e_test.py)."""
import io
import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from pipeline import predict
from components.common.errors import AudioClfError


class _Fake(predict.Classifier):
    """A Classifier whose 'model' says female with probability = the window's mean absolute sample."""

    def __init__(self):  # pylint: disable=super-init-not-called
        self.sample_rate, self.clip_samples, self.label_names = 10, 10, ["male", "female"]

    def _classify(self, audio):
        female = np.abs(audio.numpy()).mean(axis=1)
        return {"probabilities": tf.constant(np.stack([1 - female, female], axis=1))}


def test_the_last_window_ends_with_the_recording_and_weighs_the_audio_it_adds():
    fake = _Fake()
    samples = np.concatenate([np.ones(20), np.full(5, 0.5)]).astype(np.float32)
    windows, real = fake.windows(samples)
    assert windows.shape == (3, 10) and real.tolist() == [10, 10, 5]
    assert windows[2].tolist() == [1] * 5 + [0.5] * 5   # the recording's last 10 samples, no padding
    result = fake.classify_samples(samples)
    # windows say female 1.0, 1.0, 0.75, weighted 10, 10, 5 -> (10 + 10 + 3.75) / 25 = 0.95
    assert result["label"] == "female" and result["probability"] == pytest.approx(0.95)
    assert [w["seconds"] for w in result["windows"]] == [1.0, 1.0, 0.5]
    assert [w["start_s"] for w in result["windows"]] == [0.0, 1.0, 1.5]


def test_a_whole_number_of_clips_is_cut_without_overlap():
    windows, real = _Fake().windows(np.arange(20, dtype=np.float32))
    assert windows.tolist() == [list(range(10)), list(range(10, 20))] and real.tolist() == [10, 10]


def test_short_input_is_one_padded_window():
    windows, real = _Fake().windows(np.full(3, 0.2, dtype=np.float32))
    assert windows.tolist() == [[np.float32(0.2)] * 3 + [0.0] * 7] and real.tolist() == [3]
    result = _Fake().classify_samples(np.full(3, 0.2, dtype=np.float32))
    assert len(result["windows"]) == 1 and result["duration_s"] == 0.3 and result["windows"][0]["start_s"] == 0.0
    assert result["label"] == "male"  # 0.2 * 3 / 10 = 0.06 female


def test_model_dir_errors_say_what_to_pass(tmp_path):
    with pytest.raises(AudioClfError, match="does not exist"):
        predict.resolve_model_dir(str(tmp_path / "nope"))
    (tmp_path / "serving" / "123").mkdir(parents=True)
    with pytest.raises(AudioClfError, match="no SavedModel"):
        predict.resolve_model_dir(str(tmp_path / "serving"))
    (tmp_path / "serving" / "123" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "serving" / "99" ).mkdir()
    (tmp_path / "serving" / "99" / "saved_model.pb").write_bytes(b"")
    assert predict.resolve_model_dir(str(tmp_path / "serving")) == str(tmp_path / "serving" / "123")


class _StubClassifier:
    """Stands in for a loaded model: progress is about the loop over files, not the model."""
    model_dir, sample_rate, clip_samples = "stub", 8000, 16000

    def __init__(self, model_dir, limits=None):
        pass

    def load(self, path):
        if path.endswith(".bad"):
            raise AudioClfError(f"{path}: not audio")
        return np.zeros(8000, np.float32)

    def classify_recordings(self, recordings):
        return [{"label": "female"} for _ in recordings]


def test_many_files_show_progress_and_a_closing_line(monkeypatch, caplog):
    monkeypatch.setattr(predict, "Classifier", _StubClassifier)
    monkeypatch.setattr(predict, "PROGRESS_SECONDS", 0.0)
    out = io.StringIO()
    with caplog.at_level(logging.INFO, logger=predict.__name__):
        failed = predict.predict("stub", ["a.wav", "b.bad", "c.wav"], out)
    assert failed == 1 and len(out.getvalue().splitlines()) == 3
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("predict: 2/3 files (67 %)") and line.endswith("1 failed") for line in lines), lines
    assert lines[-1].startswith("predict: 3 files in ") and lines[-1].endswith("1 failed")


class _LoadingFake(_Fake):
    """_Fake reading 'files' from a dict of samples, counting the model's calls and their batch sizes."""

    def __init__(self, files):
        super().__init__()
        self.files, self.calls = files, []
        self.model_dir = "fake"

    def load(self, path):
        if path not in self.files:
            raise AudioClfError(f"{path}: no such file")
        return self.files[path]

    def _classify(self, audio):
        self.calls.append(int(audio.shape[0]))
        return super()._classify(audio)


def _recordings(count, seed=0):
    """`count` recordings of 3-35 samples (1-4 windows of 10) with levels 0.05-0.95."""
    rng = np.random.default_rng(seed)
    return {f"f{i}.wav": np.full(int(rng.integers(3, 36)), rng.uniform(0.05, 0.95), np.float32) for i in range(count)}


def test_files_share_model_calls_and_get_what_each_alone_gets():
    files = _recordings(40)
    fake = _LoadingFake(files)
    out = io.StringIO()
    assert predict.classify_paths(fake, list(files), out) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["file"] for line in lines] == list(files)
    windows = sum(predict.window_count(len(s), 10) for s in files.values())
    assert sum(fake.calls) == windows and len(fake.calls) < len(files) / 3   # shared, not one call per file
    assert max(fake.calls) <= predict.WINDOW_BATCH
    alone = _LoadingFake(files)
    for line, (path, samples) in zip(lines, files.items()):
        assert line == {"file": path, **alone.classify_samples(samples)}


def test_a_bad_file_among_good_ones_gets_its_error_line_in_its_place():
    files = _recordings(6)
    fake = _LoadingFake(files)
    out = io.StringIO()
    paths = ["f0.wav", "gone.wav", "f1.wav", "f2.wav", "missing.wav", "f3.wav"]
    assert predict.classify_paths(fake, paths, out) == 2
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["file"] for line in lines] == paths
    assert lines[1] == {"file": "gone.wav", "error": "gone.wav: no such file"} and "error" in lines[4]
    assert [line["label"] for i, line in enumerate(lines) if i not in (1, 4)] == [
        _Fake().classify_samples(files[p])["label"] for p in ("f0.wav", "f1.wav", "f2.wav", "f3.wav")]


def test_a_failed_model_call_fails_its_group_only(monkeypatch):
    files = _recordings(30, seed=1)
    fake = _LoadingFake(files)
    real, calls = fake.classify_recordings, []

    def first_call_fails(recordings):
        calls.append(len(recordings))
        if len(calls) == 1:
            raise RuntimeError("model call failed")
        return real(recordings)

    monkeypatch.setattr(fake, "classify_recordings", first_call_fails)
    out = io.StringIO()
    failed = predict.classify_paths(fake, list(files), out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert failed == calls[0] and len(calls) > 1
    assert all(line["error"] == "internal error: RuntimeError: model call failed" for line in lines[:calls[0]])
    assert all("label" in line for line in lines[calls[0]:]) and len(lines) == len(files)


@pytest.mark.parametrize("samples", [0, 1, 9, 10, 11, 20, 25, 100, 101])
def test_window_count_is_what_cut_windows_cuts(samples):
    assert predict.window_count(samples, 10) == len(_Fake().windows(np.zeros(samples, np.float32))[0])
