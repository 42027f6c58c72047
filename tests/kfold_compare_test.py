"""bench/kfold_compare.py: two runs are compared on the utterances both scored, pooled and per corpus, the
difference paired utterance by utterance."""
import json

import pytest

from bench import kfold_compare


def _run(results, name, decisions, fold="fold-0.json"):
    """One fold; utterance i of speaker s<i//2> in corpus a (i < 4) or b, truth 1, the run's decision given."""
    rows = [{"path": f"/data/x/{i}.flac", "corpus": "a" if i < 4 else "b", "speaker": f"s{i // 2}", "truth": 1,
             "model": d, "pitch": 1} for i, d in enumerate(decisions)]
    (results / name).mkdir(parents=True)
    (results / name / fold).write_text(json.dumps({"rows": rows}))


def test_runs_are_compared_on_the_same_utterances(tmp_path):
    _run(tmp_path, "new", [1, 1, 1, 1, 0, 1])
    _run(tmp_path, "old", [1, 0, 0, 1, 1, 1])
    result = kfold_compare.compare([("new", "old")], str(tmp_path))["pairs"][0]
    assert result["utterances"] == 6
    assert result["parts"]["pooled"]["difference"]["points"] == pytest.approx(100 * (5 - 4) / 6, abs=0.01)
    assert result["parts"]["a"]["difference"]["points"] == 50.0 and result["parts"]["b"]["difference"]["points"] == -50.0
    assert result["parts"]["a"]["run"]["accuracy"] == 1.0 and result["parts"]["a"]["against"]["accuracy"] == 0.5
    assert "| new | old | pooled | 6 |" in kfold_compare.markdown({"pairs": [result]})


def test_runs_without_shared_utterances_or_baselines_are_refused(tmp_path):
    _run(tmp_path, "new", [1])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "fold-0.json").write_text(json.dumps({"rows": [
        {"path": "/data/y.flac", "corpus": "a", "speaker": "s", "truth": 1, "model": 1, "pitch": 1}]}))
    with pytest.raises(SystemExit, match="share no utterance"):
        kfold_compare.compare([("new", "other")], str(tmp_path))
    with pytest.raises(SystemExit, match="name one baseline per run"):
        kfold_compare.main(["--runs", "new,other", "--against", "new", "--results", str(tmp_path)])


def test_left_out_runs_are_compared_from_their_loco_files(tmp_path):
    _run(tmp_path, "new-loco", [1, 1, 0, 0], fold="loco-a.json")
    _run(tmp_path, "old-loco", [1, 1, 1, 1], fold="loco-a.json")
    with pytest.raises(SystemExit, match="no fold-"):           # a left-out run has no folds: --loco reads it
        kfold_compare.compare([("new-loco", "old-loco")], str(tmp_path))
    out = tmp_path / "cmp.md"
    assert kfold_compare.main(["--loco", "--runs", "new-loco", "--against", "old-loco", "--results", str(tmp_path),
                               "--out", str(out)]) == 0
    assert "# left-out corpora compared" in out.read_text() and "| new-loco | old-loco | pooled | 4 |" in out.read_text()
    pooled = json.loads(out.with_suffix(".json").read_text())["pairs"][0]["parts"]["pooled"]
    assert pooled["difference"]["points"] == -50.0
