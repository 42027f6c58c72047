"""bench/expert_weights.py: the weights recombine the conv model's log-probabilities and the head's logits as
the exported model does, windows weighted by their real audio; a kept model that does not reproduce its
run's answers at its own weight, and a missing or ambiguous kept model, are refused by name."""
import json

import numpy as np
import pytest

from bench import expert_weights
from components.common import audio as audio_lib


def test_decisions_weigh_the_head_against_the_conv_model():
    # one window: the conv model says class 0 (p 0.8), the head's logits say class 1 by 1.0
    log_p = np.log(np.array([[0.8, 0.2]]))
    head = np.array([[0.0, 1.0]])
    chosen = expert_weights.decisions(log_p, head, np.array([10]), [0.0, 1.0, 2.0, None])
    # log-odds for class 1: log(0.2/0.8) = -1.386 + w x 1.0 -> 0 at w=0 and 1, class 1 at w=2; the head alone 1
    assert chosen == {0.0: 0, 1.0: 0, 2.0: 1, None: 1}


def test_decisions_weight_windows_by_their_real_audio():
    # two windows disagree: the full one says 0, the one with a tenth of real audio says 1 more confidently
    log_p = np.log(np.array([[0.7, 0.3], [0.05, 0.95]]))
    head = np.zeros((2, 2))
    assert expert_weights.decisions(log_p, head, np.array([10, 1]), [0.0]) == {0.0: 0}
    assert expert_weights.decisions(log_p, head, np.array([10, 10]), [0.0]) == {0.0: 1}


def test_kept_model_needs_exactly_one_folder(tmp_path):
    with pytest.raises(SystemExit, match=r"no kept model for fold-0; run the k-fold with --keep"):
        expert_weights.kept_model(str(tmp_path), "fold-0")
    for name in ("fold-0-abc", "fold-0-def"):
        (tmp_path / name / "model").mkdir(parents=True)
        (tmp_path / name / "model" / "saved_model.pb").write_bytes(b"x")
    with pytest.raises(SystemExit, match=r"2 kept models .*fold-0-abc/model.*one run per folder"):
        expert_weights.kept_model(str(tmp_path), "fold-0")
    (tmp_path / "fold-1-xyz" / "model").mkdir(parents=True)
    (tmp_path / "fold-1-xyz" / "model" / "saved_model.pb").write_bytes(b"x")
    assert expert_weights.kept_model(str(tmp_path), "fold-1") == str(tmp_path / "fold-1-xyz" / "model")


def test_runs_name_their_own_model_folders():
    assert expert_weights.parse_runs("a, b=/k/b", "/default") == [("a", "/default"), ("b", "/k/b")]


class _Part:
    """A layer inside the SavedModel: returns fixed outputs per call, as call_and_return_all_conditional_losses does."""

    def __init__(self, outputs):
        self.outputs = list(outputs)

    def call_and_return_all_conditional_losses(self, audio, training):
        assert training is False
        return self.outputs.pop(0), []


def _fold(tmp_path, model_answers):
    rows = [{"path": f"/d/{name}.flac", "speaker": f"c/{name}", "corpus": "c", "truth": truth, "model": answer,
             "pitch": 0} for (name, truth), answer in zip([("long", 1), ("short", 0)], model_answers)]
    path = tmp_path / "fold-0.json"
    path.write_text(json.dumps({"rows": rows}))
    return str(path)


def _parts(monkeypatch):
    # utterance "long": 2 windows (4 + 2 real samples), "short": 1. Embeddings are 1-d; the head's logits = e x [0, 1].
    conv = _Part([np.array([[0.6, 0.4], [0.6, 0.4]]), np.array([[0.9, 0.1]])])
    encoder = _Part([np.array([[1.0], [1.0]]), np.array([[-1.0]])])
    kernel, bias = np.array([[0.0, 1.0]]), np.zeros(2)
    monkeypatch.setattr(expert_weights, "model_parts", lambda d: (conv, encoder, kernel, bias, 2.0, 10, 4))
    monkeypatch.setattr(audio_lib, "decode_audio",
                        lambda path, rate, hint: np.zeros(6 if "long" in path else 3, np.float32))


def test_replay_reproduces_the_run_and_scores_every_weight(tmp_path, monkeypatch):
    _parts(monkeypatch)
    # long: log-odds log(0.4/0.6) = -0.405 + w -> class 1 from w = 0.5; short: log(0.1/0.9) - w -> 0 always
    rows, shipped = expert_weights.replay_fold(_fold(tmp_path, [1, 0]), "/kept/model", [0.25, 1.0])
    assert shipped == 2.0
    assert [(r[expert_weights.CONV], r["w=0.25"], r["w=1"], r["w=2"], r[expert_weights.HEAD]) for r in rows] == [
        (0, 0, 1, 1, 1), (0, 0, 0, 0, 0)]
    summary = expert_weights.summarize(rows, [0.25, 1.0], shipped)
    assert summary["shipped"] == "w=2"
    assert summary["accuracy"][expert_weights.CONV]["overall"]["correct"] == 1
    assert summary["accuracy"]["w=1"]["overall"]["correct"] == 2
    assert summary["minus_shipped"][expert_weights.CONV]["points"] == -50.0


def test_a_model_that_does_not_reproduce_its_run_is_refused(tmp_path, monkeypatch):
    _parts(monkeypatch)
    with pytest.raises(SystemExit, match=r"/d/long.flac: replayed at the model's own weight 2 it is class 1, the run "
                                         r"said 0: /kept/model is not the model of"):
        expert_weights.replay_fold(_fold(tmp_path, [0, 0]), "/kept/model", [1.0])


def test_weights_must_be_positive_numbers(capsys):
    for bad in ("0,2", "two", ","):
        with pytest.raises(SystemExit):
            expert_weights.main(["--runs", "x", "--weights", bad])
        assert "--weights" in capsys.readouterr().err
