"""bench/fusion_check.py: the stacked fusion of the model's logit and the pitch is fitted on the other
folds only, beats both where their errors differ and their confidence says which is right, and the
either-right oracle counts an utterance right when the model or the rule is."""
import json

import pytest

from bench import fusion_check

THRESHOLD = 160.0


def _row(fold, i, truth, model_right, model_sure, pitch_right, pitch_sure):
    """An utterance: the model chooses a class with probability 0.95 (sure) or 0.55; the F0 lies 50 % (sure)
    or 5 % from the threshold, above it for class 1 when the rule is right."""
    model = truth if model_right else 1 - truth
    says_high = (truth == 1) == pitch_right
    f0 = THRESHOLD * ((1.5 if pitch_sure else 1.05) if says_high else (1 / 1.5 if pitch_sure else 1 / 1.05))
    return {"path": f"/d/{fold}/{i}.flac", "corpus": "c" if i % 2 else "d", "speaker": f"c/{fold}-{i // 2}",
            "truth": truth, "model": model, "probability": 0.95 if model_sure else 0.55, "f0": f0,
            "pitch": int(says_high)}


def _write(results, name, folds=3, per_fold=20):
    """Half the utterances: the model sure and right, the rule unsure and wrong; the other half the reverse."""
    (results / name).mkdir(parents=True)
    for fold in range(folds):
        rows = [_row(fold, i, i % 2, model_right=i % 4 < 2, model_sure=i % 4 < 2, pitch_right=i % 4 >= 2,
                     pitch_sure=i % 4 >= 2) for i in range(per_fold)]
        (results / name / f"fold-{fold}.json").write_text(json.dumps(
            {"pitch_threshold_hz": THRESHOLD, "speakers": {"test": [], "train": []}, "rows": rows}))


def test_fusion_beats_both_where_confidence_tells_who_is_right(tmp_path):
    _write(tmp_path, "x")
    run = fusion_check.check(["x"], results=str(tmp_path))["runs"]["x"]
    assert run["utterances"] == 60
    assert run["model"]["accuracy"] == 0.5 and run["pitch"]["accuracy"] == 0.5
    assert run["either"]["accuracy"] == 1.0 and run["stacked"]["accuracy"] == 1.0
    assert run["stacked_minus_pitch"]["points"] == 50.0
    assert set(run["per_corpus"]) == {"c", "d"} and run["per_corpus"]["c"]["utterances"] == 30


def test_each_fold_is_decided_by_a_fusion_fitted_on_the_other_folds(tmp_path, monkeypatch):
    _write(tmp_path, "x", folds=3, per_fold=20)
    seen = []
    fit = fusion_check.LogisticRegression.fit
    monkeypatch.setattr(fusion_check.LogisticRegression, "fit",
                        lambda self, x, y: (seen.append(len(x)), fit(self, x, y))[1])
    fusion_check.check(["x"], results=str(tmp_path))
    assert seen == [40, 40, 40]


def test_either_right_counts_where_the_model_or_the_rule_is_right(tmp_path):
    _write(tmp_path, "x")
    for fold in range(3):   # both wrong on utterance 0 of every fold
        path = tmp_path / "x" / f"fold-{fold}.json"
        data = json.loads(path.read_text())
        data["rows"][0] = _row(fold, 0, 0, model_right=False, model_sure=False, pitch_right=False, pitch_sure=False)
        path.write_text(json.dumps(data))
    run = fusion_check.check(["x"], results=str(tmp_path))["runs"]["x"]
    assert run["either"]["correct"] == 57 and run["model"]["correct"] == 27 and run["pitch"]["correct"] == 30


def test_a_single_fold_is_refused(tmp_path):
    _write(tmp_path, "x", folds=1)
    with pytest.raises(SystemExit, match="at least two folds"):
        fusion_check.check(["x"], results=str(tmp_path))


def test_loco_runs_stack_each_left_out_corpus_on_the_other(tmp_path):
    _write(tmp_path, "x", folds=2)
    for fold, corpus in enumerate(["ls", "so"]):
        (tmp_path / "x" / f"fold-{fold}.json").rename(tmp_path / "x" / f"loco-{corpus}.json")
    with pytest.raises(SystemExit, match="no fold-"):
        fusion_check.check(["x"], results=str(tmp_path))
    result = fusion_check.check(["x"], results=str(tmp_path), loco=True)
    assert result["loco"] and result["runs"]["x"]["utterances"] == 40
    assert "left-out corpora" in fusion_check.markdown(result)
