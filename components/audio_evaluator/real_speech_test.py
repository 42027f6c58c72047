"""The real-speech gate on a fake speaker index and a stand-in model: every figure is known in advance."""
import pytest

from components.audio_evaluator import pitch_rule, real_speech
from components.audio_evaluator.config import EvaluatorConfig
from components.common.errors import AudioClfError

# path -> median F0 the stand-in pitch tracker returns (None: no voiced frame)
F0 = {"a/f1.flac": 210.0, "a/f2.flac": 190.0, "a/m1.flac": 110.0, "a/m2.flac": 170.0,   # m2: a high male voice
      "b/f1.flac": 220.0, "b/m1.flac": None,
      "tr/f1.flac": 200.0, "tr/f2.flac": 230.0, "tr/m1.flac": 100.0, "tr/m2.flac": 120.0, "tr/m3.flac": 125.0}


def _speaker(corpus, gender, split, *paths):
    return {"corpus": corpus, "gender": gender, "split": split,
            "files": [{"path": p, "seconds": 3.0, "sample_rate": 16000} for p in paths]}


INDEX = {"speakers": {
    "a/F1": _speaker("a", "F", "test", "a/f1.flac", "a/f2.flac"), "a/M1": _speaker("a", "M", "test", "a/m1.flac"),
    "a/M2": _speaker("a", "M", "test", "a/m2.flac"), "b/F1": _speaker("b", "F", "test", "b/f1.flac"),
    "b/M1": _speaker("b", "M", "test", "b/m1.flac"),
    "tr/F1": _speaker("tr", "F", "train", "tr/f1.flac", "tr/f2.flac"), "tr/M1": _speaker("tr", "M", "train", "tr/m1.flac"),
    "tr/M2": _speaker("tr", "M", "train", "tr/m2.flac", "tr/m3.flac")}}
INDEX["splits"] = {split: {g: sorted(s for s, e in INDEX["speakers"].items() if e["split"] == split and e["gender"] == g)
                           for g in "MF"} for split in ("train", "eval", "test")}


class Model:
    """Answers by file name: a fixed label per file, or an undecodable file."""
    def __init__(self, answers):
        self.answers = answers

    def classify_file(self, path):
        if self.answers[path] == "corrupt":
            raise AudioClfError(f"{path}: cannot decode audio (truncated).")
        return {"label": self.answers[path], "probability": 0.9}


RIGHT = {"a/f1.flac": "female", "a/f2.flac": "female", "a/m1.flac": "male", "a/m2.flac": "male",
         "b/f1.flac": "female", "b/m1.flac": "male"}


@pytest.fixture(autouse=True)
def _fake_pitch_tracker(monkeypatch):
    monkeypatch.setattr(pitch_rule, "files_f0", lambda paths, workers=1, cache_dir="": [F0[p] for p in paths])


def test_model_rule_and_baseline_scored_per_corpus_with_intervals():
    wrong_once = dict(RIGHT, **{"b/f1.flac": "male"})
    result = real_speech.evaluate(INDEX, Model(RIGHT), Model(wrong_once), EvaluatorConfig(pitch_fit_utterances=10))
    assert result.utterances == 6 and result.speakers == 5
    assert result.speakers_per_corpus == {"a": 3, "b": 2}
    assert result.model["overall"].accuracy == 1.0 and result.model["a"].n == 4
    # The rule: threshold fitted on the train speakers only (100, 120, 125 male; 200, 230 female) -> 162.5 Hz;
    # it gets a/m2 (170 Hz) wrong, and b/m1 (no F0) counts as wrong.
    assert result.pitch_rule.threshold_hz == 162.5 and result.pitch_rule.fit_utterances == 5
    assert result.pitch_rule.by_corpus["overall"].correct == 4 and result.pitch_rule.no_f0 == 1
    assert result.pitch_rule.by_corpus["a"].accuracy == 0.75 and result.pitch_rule.by_corpus["b"].accuracy == 0.5
    assert result.baseline_model["b"].accuracy == 0.5
    low, high = result.model["overall"].ci95
    assert 0.5 < low < 1.0 and high == 1.0      # Wilson: 6 of 6 is not certainty
    assert result.model["overall"].per_class["female"].model_dump() == {"precision": 1.0, "recall": 1.0, "support": 3}
    assert result.gate.passed and len(result.gate.conditions) == 3


def test_gate_fails_below_the_pitch_rule_and_names_the_numbers():
    bad = dict(RIGHT, **{"a/f1.flac": "male", "a/f2.flac": "male", "a/m1.flac": "female"})   # 3 of 6 right
    result = real_speech.evaluate(INDEX, Model(bad), None, EvaluatorConfig(real_accuracy_floor=0.4))
    gate = result.gate
    assert not gate.passed and [c.name for c in gate.conditions] == ["real_accuracy_floor", "vs_pitch_rule"]
    assert [c.passed for c in gate.conditions] == [True, False]
    assert gate.failures == ["real-utterance accuracy 0.5000 >= pitch rule 0.6667 - 0 "
                                "(evaluator.max_deficit_vs_pitch_rule): failed (6 test utterances)"]
    assert result.wrong_count == 3 and {w.path for w in result.wrong} == {"a/f1.flac", "a/f2.flac", "a/m1.flac"}
    # An allowed deficit opens it.
    assert real_speech.evaluate(INDEX, Model(bad), None,
                                EvaluatorConfig(real_accuracy_floor=0.4, max_deficit_vs_pitch_rule=0.2)).gate.passed


def test_gate_fails_on_regression_against_the_latest_blessed_model():
    one_wrong = dict(RIGHT, **{"a/m2.flac": "female"})
    result = real_speech.evaluate(INDEX, Model(one_wrong), Model(RIGHT), EvaluatorConfig(real_accuracy_floor=0.5))
    assert [c.name for c in result.gate.conditions if not c.passed] == ["vs_latest_blessed"]


def test_undecodable_utterances_are_listed_not_scored():
    answers = dict(RIGHT, **{"b/m1.flac": "corrupt"})
    result = real_speech.evaluate(INDEX, Model(answers), None, EvaluatorConfig())
    assert result.utterances == 5 and result.unreadable[0].path == "b/m1.flac"
    with pytest.raises(AudioClfError, match="none of the 6 test utterances could be decoded"):
        real_speech.evaluate(INDEX, Model({p: "corrupt" for p in RIGHT}), None, EvaluatorConfig())


def test_fit_sample_takes_every_speaker_before_a_second_utterance():
    rows = real_speech.fit_sample(INDEX, 3)
    assert len({r["speaker"] for r in rows}) == 3
    assert [r["path"] for r in real_speech.fit_sample(INDEX, 10)][3:] == ["tr/f2.flac", "tr/m3.flac"]
