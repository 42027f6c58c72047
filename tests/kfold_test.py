"""bench/kfold.py --quick: speaker-grouped folds, three classifiers on the same utterances, resume, LOCO.

One run of 2 folds on the quick subset (6 speakers per corpus and gender of librispeech-mini and
vctk-mini, a tiny model), run again to check that nothing is re-trained, then one leave-one-corpus-out
run. Called in-process (bench.kfold.main) so that TensorFlow is imported once.
"""
import collections
import json
import logging
from pathlib import Path

import pytest
from bench import kfold
from components.speaker_index import corpus
from pipeline.config import load_config
from components.common.errors import EXIT_USER_ERROR

pytestmark = pytest.mark.bench

CLASSIFIERS = ("model", "pitch", "mfcc")


def included_index():
    """The speakers --quick keeps, read independently of the run."""
    return kfold.limit_speakers(corpus.build_index(kfold.QUICK_ROOTS, load_config().corpus), kfold.QUICK_SPEAKERS)


def run_files(out: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json")) if p.stem != "summary"}


def check_run(result: dict, index: dict) -> set:
    """Every test utterance has all three answers; no test speaker was heard in training. Returns the test speakers."""
    speakers = {split: set(ids) for split, ids in result["speakers"].items()}
    test = speakers["test"]
    assert test and not test & (speakers["train"] | speakers["eval"])
    assert speakers["train"] and speakers["eval"]
    assert test | speakers["train"] | speakers["eval"] == set(index["speakers"])
    expected = {f["path"] for s in test for f in index["speakers"][s]["files"]}
    rows = result["rows"]
    assert len(rows) == len(expected) and {r["path"] for r in rows} == expected
    for r in rows:
        assert r["speaker"] in test and r["truth"] in (0, 1)
        assert r["model"] in (0, 1) and r["model_error"] is None and 0.5 <= r["probability"] <= 1
        assert r["mfcc"] in (0, 1) and r["pitch"] in (-1, 0, 1)
        assert (r["pitch"] == -1) == (r["f0"] is None)
    training = result["training"]
    assert training["epochs_run"] == 1 and training["seconds"] > 0 and training["examples_per_s"] > 0
    assert training["cores_used"] > 0 and training["trained_at"]
    return test


def test_quick_kfold_resume_and_loco(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="kfold")
    out, work = tmp_path / "out", tmp_path / "work"
    index = included_index()
    assert {e["corpus"] for e in index["speakers"].values()} == {"librispeech-mini", "vctk-mini"}

    assert kfold.main(["--quick", "--out", str(out), "--work", str(work)]) == 0
    runs = run_files(out)
    assert sorted(runs) == ["fold-0", "fold-1"]
    tested = collections.Counter(s for name in runs for s in check_run(runs[name], index))
    assert set(tested) == set(index["speakers"]) and set(tested.values()) == {1}  # every speaker tested once
    assert all(r["settings"]["seed"] == 0 and r["settings"]["folds"] == 2 for r in runs.values())

    summary = json.loads((out / "summary.json").read_text())
    overall = summary["per_corpus"]["overall"]
    assert overall["utterances"] == sum(len(e["files"]) for e in index["speakers"].values())
    assert overall["speakers"] == len(index["speakers"])
    assert set(summary["per_corpus"]) == {"librispeech-mini", "vctk-mini", "overall"}
    for name in CLASSIFIERS:
        low, high = overall[name]["ci95"]
        assert overall[name]["n"] == overall["utterances"] and low <= overall[name]["accuracy"] <= high
    assert [r["reused"] for r in summary["runs"]] == [False, False]
    markdown = (out / "summary.md").read_text()
    assert "| corpus | utterances | speakers | model | pitch rule | MFCC + LR |" in markdown
    assert "| overall |" in markdown and "--quick" in markdown
    assert not [p for p in work.iterdir() if p.is_dir()]  # fold scratch folders removed
    assert (work / "f0_cache.json").exists() and (work / "mfcc_cache.json").exists()

    # Same arguments again: every fold is reused, nothing re-trained or rewritten.
    before = {p.name: p.read_text() for p in out.glob("fold-*.json")}
    caplog.clear()
    assert kfold.main(["--quick", "--out", str(out), "--work", str(work)]) == 0
    assert {p.name: p.read_text() for p in out.glob("fold-*.json")} == before
    assert "fold-0: done before, reused" in caplog.text and "fold-1: done before, reused" in caplog.text
    assert "training:" not in caplog.text
    assert [r["reused"] for r in json.loads((out / "summary.json").read_text())["runs"]] == [True, True]

    # Leave one corpus out: only it is tested, none of its speakers trains.
    loco_out = tmp_path / "loco"
    assert kfold.main(["--quick", "--loco", "librispeech-mini", "--out", str(loco_out), "--work", str(work)]) == 0
    loco = run_files(loco_out)
    assert list(loco) == ["loco-librispeech-mini"]
    result = loco["loco-librispeech-mini"]
    test = check_run(result, index)
    assert test == {s for s, e in index["speakers"].items() if e["corpus"] == "librispeech-mini"}
    assert all(s.startswith("vctk-mini/") for split in ("train", "eval") for s in result["speakers"][split])
    assert {r["corpus"] for r in result["rows"]} == {"librispeech-mini"}
    assert set(json.loads((loco_out / "summary.json").read_text())["per_corpus"]) == {"librispeech-mini", "overall"}


def test_bad_arguments_exit_2(tmp_path, capsys):
    work = str(tmp_path / "work")
    assert kfold.main(["--quick", "--loco", "nope", "--out", str(tmp_path / "a"), "--work", work]) == EXIT_USER_ERROR
    assert "--loco nope: no such corpus" in capsys.readouterr().err
    assert kfold.main(["--folds", "1", "--out", str(tmp_path / "b"), "--work", work]) == EXIT_USER_ERROR
    assert "need at least 2 folds" in capsys.readouterr().err


def test_train_fraction_thins_only_the_train_speakers():
    """--train-fraction keeps a seeded share of each (corpus, gender)'s train speakers, at least one; test and
    eval speakers are the same as without it."""
    index = included_index()
    folds = kfold.assign_folds(index, 2, 0)
    test = {s for s, f in folds.items() if f == 0}
    split = kfold.split_speakers(index, test, 0, "fold-0")
    assert kfold.thin_train(index, split, 1.0, 0, "fold-0") == split
    thinned = kfold.thin_train(index, split, 0.5, 0, "fold-0")
    assert thinned == kfold.thin_train(index, split, 0.5, 0, "fold-0")   # seeded
    assert thinned != kfold.thin_train(index, split, 0.5, 0, "fold-1")   # per run
    assert {s for s, v in thinned.items() if v in ("test", "eval")} == {s for s, v in split.items() if v in ("test", "eval")}
    for ids in kfold.groups(index).values():
        train = [s for s in ids if split[s] == "train"]
        kept = [s for s in train if thinned[s] == "train"]
        assert len(kept) == max(1, round(0.5 * len(train))) and set(kept) <= set(train)
        assert all(thinned[s] == "unused" for s in set(train) - set(kept))


def test_a_thinned_fold_trains_and_fits_the_baselines_on_the_kept_speakers_only(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    assert kfold.main(["--quick", "--runs", "fold-0", "--train-fraction", "0.5", "--out", str(out),
                       "--work", str(work)]) == 0
    result = run_files(out)["fold-0"]
    speakers = {split: set(ids) for split, ids in result["speakers"].items()}
    assert speakers["unused"] and not speakers["unused"] & (speakers["train"] | speakers["eval"] | speakers["test"])
    assert len(speakers["unused"]) >= len(speakers["train"]) - 4   # about half (rounding, per corpus and gender)
    assert result["settings"]["train_fraction"] == 0.5
    assert "train speakers: 50% of each fold's" in (out / "summary-fold-0.md").read_text()


def test_train_fraction_out_of_range_exits_2(tmp_path, capsys):
    assert kfold.main(["--quick", "--train-fraction", "0", "--out", str(tmp_path / "a"),
                       "--work", str(tmp_path / "w")]) == EXIT_USER_ERROR
    assert "--train-fraction 0: use a share in (0, 1]" in capsys.readouterr().err


def test_training_facts_carry_the_fitted_heads_facts(tmp_path, monkeypatch):
    """A fold's training facts keep what the fitted speaker head saw (clips with their copies, seconds), and
    a model without a head has no such entry."""
    from trainer import task
    head = {"clips": 3759, "copies": 2, "seconds": 44.5, "fit_accuracy": 0.9375}
    history = {"epochs_run": 1, "best_epoch": 1, "train_clips": 8, "best_eval_accuracy": 0.5,
               "history": {task.EVAL_ACCURACY: [0.5]}}
    config = load_config(None)
    for with_head in (True, False):
        monkeypatch.setattr(task, "train", lambda *a, **k: (None, dict(history, **({"speaker_head": head}
                                                                                    if with_head else {}))))
        facts = kfold.train_model(config, {"train": [], "eval": []}, str(tmp_path))
        assert facts.get("speaker_head") == (head if with_head else None)


def test_sigterm_ends_a_run_as_systemexit_143():
    import os  # pylint: disable=import-outside-toplevel
    import signal  # pylint: disable=import-outside-toplevel
    old = signal.getsignal(signal.SIGTERM)
    try:
        kfold.stop_on_sigterm()
        with pytest.raises(SystemExit) as stopped:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0.5) if hasattr(signal, "sigtimedwait") else None
        assert stopped.value.code == 143
    finally:
        signal.signal(signal.SIGTERM, old)
