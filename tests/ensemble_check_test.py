"""bench/ensemble_check.py: the average of runs decides by the mean P(class 1), a run that could not score
an utterance is left out of its average, and runs made on different folds are refused."""
import json

import pytest

from bench import ensemble_check

SPEAKERS = {0: ["s/a", "s/b"], 1: ["s/c", "s/d"]}


def _row(speaker, i, truth, p1, pitch=None):
    """A k-fold row: `model` is the class chosen and `probability` that class's probability; p1 None = unscored."""
    if p1 is None:
        model, probability = -1, None
    else:
        model = int(p1 > 0.5)
        probability = p1 if model else 1 - p1
    return {"path": f"/d/{speaker}/{i}.flac", "corpus": speaker.split("/")[0], "speaker": speaker, "truth": truth,
            "model": model, "probability": probability, "pitch": truth if pitch is None else pitch}


def _write(results, name, p1_by_speaker, folds=SPEAKERS):
    """A finished run: two folds, one utterance per speaker; speakers a and c are class 1."""
    (results / name).mkdir(parents=True)
    truth = {"s/a": 1, "s/b": 0, "s/c": 1, "s/d": 0}
    for fold, test in folds.items():
        rows = [_row(s, 0, truth[s], p1_by_speaker[s], pitch=0) for s in test]   # the rule says 0 everywhere
        (results / name / f"fold-{fold}.json").write_text(json.dumps(
            {"speakers": {"test": test, "train": []}, "rows": rows}))


def test_average_decides_by_mean_probability_and_skips_unscored(tmp_path):
    # Run x is right on a (0.9), wrong on b (0.6) and c (0.4); y is wrong on a (0.45), right on b and c;
    # z could not score a or c. Means: a 0.675 -> 1 (right), b 0.4 -> 0 (right), c 0.6 -> 1 (right).
    _write(tmp_path, "x", {"s/a": 0.9, "s/b": 0.6, "s/c": 0.4, "s/d": 0.1})
    _write(tmp_path, "y", {"s/a": 0.45, "s/b": 0.1, "s/c": 0.8, "s/d": 0.2})
    _write(tmp_path, "z", {"s/a": None, "s/b": 0.5, "s/c": None, "s/d": 0.3})
    result = ensemble_check.check(["x", "y", "z"], results=str(tmp_path))
    assert result["utterances"] == 4 and result["speakers"] == 4
    assert [result["singles"][n]["correct"] for n in "xyz"] == [2, 3, 2]   # an unscored row is wrong
    assert result["average"]["correct"] == 4
    assert result["pitch"]["correct"] == 2
    assert result["average_minus_pitch"]["points"] == 50.0
    sizes = {s["k"]: s for s in result["by_size"]}
    assert sizes[1]["subsets"] == 3 and sizes[1]["min"] == 0.5 and sizes[1]["max"] == 0.75
    assert sizes[3] == {"k": 3, "subsets": 1, "mean": 1.0, "min": 1.0, "max": 1.0}
    # the runs' mean accuracy is 7/12; the average gets 4/4
    assert result["average_minus_runs_mean_points"] == pytest.approx(100 * (1 - 7 / 12), abs=0.01)
    assert result["average_wrong"] == 0 and result["mostly_wrong_speakers"] == []
    text = ensemble_check.markdown(result)
    assert "| **average of all 3** | 1.000" in text and "| 3 | 1 | 1.000 | 1.000 | 1.000 |" in text


def test_speakers_the_average_gets_mostly_wrong_are_listed(tmp_path):
    """Speaker a (class 1, F) has three utterances, two of them wrong for both runs; b only one utterance."""
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    for name, ps in (("x", [0.2, 0.3, 0.9]), ("y", [0.4, 0.1, 0.8])):
        rows = [dict(_row("s/a", i, 1, p), f0=f0) for i, (p, f0) in enumerate(zip(ps, (110.0, 120.0, 210.0)))]
        rows.append(dict(_row("s/b", 0, 0, 0.9), f0=None))
        (tmp_path / name / "fold-0.json").write_text(json.dumps({"speakers": {"test": ["s/a", "s/b"]}, "rows": rows}))
    result = ensemble_check.check(["x", "y"], results=str(tmp_path))
    assert result["average_wrong"] == 3
    assert result["mostly_wrong_speakers"] == [
        {"speaker": "s/a", "truth": 1, "utterances": 3, "average_wrong": 2, "rule_wrong": 0, "median_f0": 120.0}]
    assert "| s/a | F | 3 | 2 | 0 | 120 |" in ensemble_check.markdown(result)


def test_runs_on_other_folds_are_refused(tmp_path):
    p = {"s/a": 0.9, "s/b": 0.1, "s/c": 0.9, "s/d": 0.1}
    _write(tmp_path, "x", p)
    _write(tmp_path, "other", p, folds={0: ["s/a", "s/c"], 1: ["s/b", "s/d"]})
    with pytest.raises(SystemExit, match="other.*not those of x"):
        ensemble_check.check(["x", "other"], results=str(tmp_path))


def test_one_run_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="at least two"):
        ensemble_check.check(["x"], results=str(tmp_path))


def test_a_runs_list_naming_no_run_is_refused_before_a_report_is_written(tmp_path):
    out = tmp_path / "ensemble_check.md"
    with pytest.raises(SystemExit, match="at least one finished k-fold run"):
        ensemble_check.main(["--runs", ",", "--results", str(tmp_path), "--out", str(out)])
    assert list(tmp_path.iterdir()) == []
