"""bench/cue_check.py: the extra classifiers are fitted on each fold's train speakers only, read MFCC
statistics from bench.kfold's cache (no audio is decoded here), and a row without F0 counts as wrong."""
import json
import os

import numpy as np
import pytest

from bench import _util, cue_check, kfold_results

BUNDLED = os.path.join(_util.REPO_ROOT, "data", "librispeech-mini")   # a bundled corpus folder: paths move onto it


def _rows(root: str, speakers, rng):
    """Ten utterances per speaker: F0 separates the genders; MFCC statistics carry only the speaker."""
    rows, mfccs, formant = [], {}, {}
    for speaker, truth in speakers:
        voice = rng.normal(size=80) * 3
        tract = 1.0 + 0.1 * rng.normal()   # formants that follow the speaker, not the gender
        for i in range(10):
            path = f"{root}/librispeech-mini/{speaker}/{i}.flac"
            f0 = (210.0 if truth else 115.0) * float(np.exp(rng.normal(scale=0.05)))
            rows.append({"path": path, "corpus": "corpus", "speaker": f"corpus/{speaker}", "truth": truth,
                         "f0": None if (speaker, i) == ("f0", 0) else f0, "pitch": truth, "mfcc": truth, "model": truth})
            mfccs[f"{BUNDLED}/{speaker}/{i}.flac"] = list(voice + rng.normal(scale=0.1, size=80))
            formant[f"{BUNDLED}/{speaker}/{i}.flac"] = None if (speaker, i) == ("m1", 3) else \
                [float(f * tract) for f in (500, 1500, 2500, 3500)]
    return rows, mfccs, formant


@pytest.fixture()
def run(tmp_path):
    rng = np.random.default_rng(0)
    speakers = [(f"m{k}", 0) for k in range(6)] + [(f"f{k}", 1) for k in range(6)]
    rows, mfccs, formant = _rows("/elsewhere/data", speakers, rng)
    work = tmp_path / "work"
    work.mkdir()
    (work / "mfcc_cache.json").write_text(json.dumps(mfccs))
    (work / "f0_cache.json").write_text(json.dumps({p: 1.0 for p in mfccs}))
    (work / "formant_cache.json").write_text(json.dumps(formant))
    results = tmp_path / "results" / "a"
    results.mkdir(parents=True)
    for fold in range(2):
        test = {f"corpus/{s}" for s, _ in speakers[fold::2]}
        fold_rows = [r for r in rows if r["speaker"] in test]
        (results / f"fold-{fold}.json").write_text(json.dumps({
            "settings": {"data_roots": ["/elsewhere/data/librispeech-mini"]}, "rows": fold_rows,
            "speakers": {"train": sorted({r["speaker"] for r in rows} - test), "eval": [], "test": sorted(test)}}))
    return str(work), str(tmp_path / "results")


def test_check_fits_per_fold_and_counts_missing_f0_wrong(run):
    work, results = run
    result = cue_check.check(["a"], work, workers=1, results=results)
    (summary,) = result["per_run"]
    assert summary["utterances"] == 120 and summary["speakers"] == 12
    # F0 separates every speaker; the one utterance without F0 is wrong for both F0 classifiers.
    assert summary["accuracy"]["f0_lr"]["correct"] == 119
    assert summary["accuracy"]["f0_mfcc_lr"]["correct"] <= 119
    assert summary["accuracy"]["model"]["correct"] == 120
    # formants carry the speaker only; the utterance without formants is wrong for both formant classifiers
    assert summary["accuracy"]["formant_lr"]["correct"] <= 119
    assert summary["accuracy"]["f0_formant_lr"]["correct"] <= 118   # no F0 on one, no formants on another
    # paired on the 118 utterances with F0 and formants, where F0 alone is right on every one
    assert summary["missing"]["f0_formant_lr"] == 2
    assert summary["second_cue"]["f0_formant_lr"]["points"] <= 0
    text = cue_check.markdown(result)
    assert "| a | 120 (12) |" in text and "LR on log F0 + MFCC - LR on log F0" in text
    assert "LR on log F0 + log F1-F4 - LR on log F0" in text


def test_bundled_path_moves_only_bundled_corpora():
    assert kfold_results.bundled_path("/snap/data/librispeech-mini/s/1.flac", ["/snap/data/librispeech-mini/"]) == \
        f"{BUNDLED}/s/1.flac"
    assert kfold_results.bundled_path("/mine/other/s/1.flac", ["/mine/other"]) == "/mine/other/s/1.flac"


@pytest.mark.parametrize("runs", ["", ",", " , "])
def test_a_runs_list_naming_no_run_is_refused_before_a_report_is_written(tmp_path, runs):
    out = tmp_path / "cue_check.md"
    with pytest.raises(SystemExit, match="at least one finished k-fold run"):
        cue_check.main(["--runs", runs, "--results", str(tmp_path), "--out", str(out)])
    assert list(tmp_path.iterdir()) == []
