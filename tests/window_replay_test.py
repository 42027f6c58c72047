"""bench/window_replay.py: each cut gives the windows and weights it promises, `end` is predict's own cut and
`pad` the one before it, and a kept model that does not reproduce its run's answers with the cut the run was
scored with is refused by name."""
import json

import numpy as np
import pytest

from bench import window_replay
from components.common import audio as audio_lib
from bench.kfold_results import pad_from_start
from trainer.classifier import WINDOW_CUT, cut_windows

SIX = np.arange(1, 7, dtype=np.float32)   # 6 samples; the clip is 4


def _cut(name, samples, clip=4):
    windows, weights = window_replay.cuts()[name](samples, clip)
    return windows.tolist(), list(weights)


def test_end_is_predicts_own_cut_and_pad_the_one_before():
    assert window_replay.cuts()["end"] is cut_windows and window_replay.cuts()["pad"] is pad_from_start
    assert _cut("pad", SIX) == ([[1, 2, 3, 4], [5, 6, 0, 0]], [4, 2])


def test_a_long_recordings_last_window_is_end_aligned_and_weighted_by_what_it_adds():
    for name in ("end", "centre", "loop"):
        assert _cut(name, SIX) == ([[1, 2, 3, 4], [3, 4, 5, 6]], [4, 2]), name
        assert _cut(name, np.arange(1, 9, dtype=np.float32)) == ([[1, 2, 3, 4], [5, 6, 7, 8]], [4, 4]), name


def test_a_short_recording_is_padded_centred_or_repeated():
    two = np.array([1, 2], dtype=np.float32)
    assert _cut("end", two) == ([[1, 2, 0, 0]], [2])
    assert _cut("centre", two) == ([[0, 1, 2, 0]], [2])
    assert _cut("loop", two) == ([[1, 2, 1, 2]], [2])
    assert _cut("loop", np.array([1, 2, 3], dtype=np.float32)) == ([[1, 2, 3, 1]], [3])


class _Part:
    """A layer inside the SavedModel, computed from its input as call_and_return_all_conditional_losses returns it."""

    def __init__(self, fn):
        self.fn = fn

    def call_and_return_all_conditional_losses(self, audio, training):
        assert training is False
        return self.fn(np.asarray(audio)), []


def _parts(monkeypatch):
    # The conv model says class 1 for a window whose first sample is 0 (starts in silence), else class 0;
    # the head's logit for class 1 is the share of the window's samples that are silence.
    conv = _Part(lambda a: np.where(a[:, :1] == 0, [[0.2, 0.8]], [[0.8, 0.2]]))
    encoder = _Part(lambda a: (a == 0).mean(axis=1, keepdims=True))
    monkeypatch.setattr(window_replay, "model_parts",
                        lambda d: (conv, encoder, np.array([[0.0, 1.0]]), np.zeros(2), 2.0, 10, 4))
    monkeypatch.setattr(audio_lib, "decode_audio", lambda path, rate, hint: np.ones(2, np.float32))


def _fold(tmp_path, answer, settings=None):
    path = tmp_path / "fold-0.json"
    path.write_text(json.dumps({"run": "fold-0", "rows": [{"path": "/d/short.flac", "speaker": "c/s", "corpus": "c",
                                                           "truth": 0, "model": answer, "pitch": 1}],
                                **({"settings": settings} if settings is not None else {})}))
    return str(path)


def test_replay_scores_every_cut_and_part(tmp_path, monkeypatch):
    _parts(monkeypatch)
    # 2 samples of audio in a 4-sample clip: pad [1,1,0,0] -> conv 0, head logit 0.5 -> model: log(0.2/0.8)+2x0.5
    # = -0.39 -> 0; centre [0,1,1,0] -> conv 1 (starts in silence); loop [1,1,1,1] -> head logit 0 -> head 0 ... 0
    rows = window_replay.replay_fold(_fold(tmp_path, 0), "/kept/model")
    assert len(rows) == 1
    row = rows[0]
    assert (row["pad/model"], row["pad/conv"], row["pad/head"]) == (0, 0, 1)
    assert (row["centre/model"], row["centre/conv"], row["centre/head"]) == (1, 1, 1)
    assert (row["loop/model"], row["loop/conv"], row["loop/head"]) == (0, 0, 0)
    assert row["seconds"] == 0.2
    summary = window_replay.summarize(rows)
    assert summary["shorter_than_clip"] == 1
    assert summary["accuracy"]["centre/model"]["overall"]["correct"] == 0
    assert summary["minus_pad"]["centre/model"]["points"] == -100.0
    assert summary["minus_pad"]["loop/head"]["points"] == 100.0
    assert "| centre/model |" in window_replay.markdown({"runs": {"r": summary}})


def test_a_model_that_does_not_reproduce_its_run_is_refused(tmp_path, monkeypatch):
    _parts(monkeypatch)
    # a run without a recorded cut was scored with `pad`
    with pytest.raises(SystemExit, match=r"/d/short.flac: replayed as predict cut it \(pad\), it is class 0, the run "
                                         r"said 1: /kept/model is not the model of"):
        window_replay.replay_fold(_fold(tmp_path, 1), "/kept/model")


def test_a_run_is_replayed_with_the_cut_it_recorded(tmp_path, monkeypatch):
    _parts(monkeypatch)
    # a 2-sample utterance: `end` pads it as `pad` does, so both say class 0; the run says 1 -> refused naming `end`
    with pytest.raises(SystemExit, match=r"replayed as predict cut it \(end\), it is class 0, the run said 1"):
        window_replay.replay_fold(_fold(tmp_path, 1, {"predict_cut": WINDOW_CUT}), "/kept/model")
    assert len(window_replay.replay_fold(_fold(tmp_path, 0, {"predict_cut": WINDOW_CUT}), "/kept/model")) == 1
    with pytest.raises(SystemExit, match=r"fold-0 was scored with predict's cut 'centred'; this checkout cuts"):
        window_replay.replay_fold(_fold(tmp_path, 0, {"predict_cut": "centred"}), "/kept/model")


def test_a_long_recording_is_scored_once_for_the_cuts_that_make_the_same_windows(tmp_path, monkeypatch):
    _parts(monkeypatch)
    calls = []
    original = window_replay.window_scores
    monkeypatch.setattr(window_replay, "window_scores", lambda *a: calls.append(a[-1].shape) or original(*a))
    monkeypatch.setattr(audio_lib, "decode_audio", lambda path, rate, hint: np.arange(1, 7, dtype=np.float32))
    row = window_replay.replay_fold(_fold(tmp_path, 0), "/kept/model")[0]
    # 6 samples, 4-sample clip: pad [1..4],[5,6,0,0]; end = centre = loop [1..4],[3..6] -> two scorings, not four
    assert calls == [(2, 4), (2, 4)]
    assert row["end/model"] == row["centre/model"] == row["loop/model"]
    assert row["end/head"] == row["centre/head"] == row["loop/head"]
