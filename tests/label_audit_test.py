"""bench/label_audit.py: suspects are chosen by the two baselines alone, and the tables say what leaving
them out does to each run; fold files are written here, no training."""
import json

import pytest

from bench import label_audit


def _rows(run_seed: int):
    """Six speakers of 6 utterances, truth M (0) or F (1); the baselines' and the model's answers set per speaker."""
    plan = {  # speaker: (truth, pitch answer, mfcc answer, model answer), one answer for all its utterances
        "c/clean-m": (0, 0, 0, 0), "c/clean-f": (1, 1, 1, 1),
        "c/flipped": (0, 1, 1, 1),          # both baselines contradict the label: a suspect
        "c/pitch-only": (1, 0, 1, 1),       # only the rule disagrees: not a suspect
        "c/model-only": (0, 0, 0, 1),       # only the model disagrees: the model never chooses
        "c/short": (0, 1, 1, 1)}            # contradicted, but too few utterances
    rows = []
    for speaker, (truth, pitch, mfcc, model) in plan.items():
        for i in range(2 if speaker == "c/short" else 6):
            rows.append({"path": f"/snap{run_seed}/{speaker}/{i}.flac", "corpus": "c", "speaker": speaker, "truth": truth,
                         "pitch": pitch, "mfcc": mfcc, "model": model, "f0": 220.0 if pitch else 120.0})
    return rows


@pytest.fixture()
def results(tmp_path):
    for run, seed in (("a", 0), ("b", 1)):
        (tmp_path / run).mkdir()
        (tmp_path / run / "fold-0.json").write_text(json.dumps({"rows": _rows(seed)}))
    return tmp_path


def test_suspects_come_from_the_baselines_and_count_utterances_once(results):
    result = label_audit.audit(["a", "b"], 0.8, 5, str(results))
    assert result["runs"] == ["a", "b"]   # the runs, not the suspects' speaker ids
    assert [(s["speaker"], s["utterances"], s["label"], s["median_f0_hz"]) for s in result["suspects"]] == [
        ("c/flipped", 6, "M", 220.0)]
    run = result["per_run"][0]
    assert (run["utterances"], run["without"]) == (32, 26)
    assert run["all"]["model"]["correct"] == 18 and run["kept"]["model"]["correct"] == 18
    assert run["all"]["pitch"]["correct"] == 18 and run["kept"]["pitch"]["correct"] == 18
    assert run["all"]["model"]["n"] == 32 and run["kept"]["model"]["n"] == 26
    assert run["ceiling"] == round(26 / 32, 4)
    assert result["suspects"][0]["formant_lr_disagrees"] is None   # no work folder: no formant witness
    text = label_audit.markdown(result)
    assert "| flipped | c | M | 6 | 220.0 | 100% | 100% | - | 100% |" in text


def test_formants_are_a_third_witness_fitted_per_fold_that_does_not_choose(tmp_path):
    """Formants that follow the envelope (MFCC) answer: on the four train speakers they follow the label, so
    the fold's regression hears the flipped test speaker as F, against its label, on every utterance that
    has formants (one has none and is not counted). They take no part in choosing."""
    rows = _rows(0)
    formant = {r["path"]: None if r["path"].endswith("flipped/0.flac") else
               [f * (1.2 if r["mfcc"] == 1 else 1.0) * (1 + 0.01 * i) for i, f in enumerate((500, 1500, 2500, 3500))]
               for r in rows}
    work = tmp_path / "work"
    work.mkdir()
    (work / "formant_cache.json").write_text(json.dumps(formant))
    (tmp_path / "a").mkdir()
    speakers = {r["speaker"] for r in rows}
    # three folds, each with both genders among its train speakers; the flipped one is judged in fold 0
    for fold, test in enumerate((["c/flipped", "c/short"], ["c/clean-m", "c/pitch-only"], ["c/clean-f", "c/model-only"])):
        (tmp_path / "a" / f"fold-{fold}.json").write_text(json.dumps({
            "settings": {"data_roots": ["/snap0"]}, "rows": [r for r in rows if r["speaker"] in test],
            "speakers": {"train": sorted(speakers - set(test)), "test": test}}))
    result = label_audit.audit(["a"], 0.8, 5, str(tmp_path), work=str(work), workers=1)
    (flipped,) = result["suspects"]
    assert flipped["speaker"] == "c/flipped" and flipped["formant_lr_disagrees"] == 1.0
    assert "| flipped | c | M | 6 | 220.0 | 100% | 100% | 100% | 100% |" in label_audit.markdown(result)


def test_a_run_without_folds_is_named(results):
    with pytest.raises(SystemExit, match=r"missing.*no fold-\*\.json"):
        label_audit.audit(["a", "missing"], 0.8, 5, str(results))


def test_the_listening_page_links_each_suspect_and_a_reference_per_label(tmp_path):
    """Audio files on disk for the flipped suspect and both clean speakers; the page links them relative to
    itself, picks the clean speakers as references (every classifier agrees with them), and names a file
    that is not on this machine instead of linking it."""
    rows = _rows(0)
    corpus = tmp_path / "snap0"
    for r in rows:
        if r["speaker"] in ("c/flipped", "c/clean-m", "c/clean-f") and not r["path"].endswith("/5.flac"):
            path = corpus / r["path"][len("/snap0/"):]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"fLaC")
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "fold-0.json").write_text(json.dumps(
        {"settings": {"data_roots": [str(corpus)]}, "rows": [dict(r, path=str(corpus) + r["path"][len("/snap0"):])
                                                            for r in rows]}))
    page = tmp_path / "pages" / "listen.html"
    page.parent.mkdir()
    result = label_audit.audit(["a"], 0.8, 5, str(tmp_path / "runs"), listen=str(page))
    assert [s["speaker"] for s in result["suspects"]] == ["c/flipped"]
    text = page.read_text()
    assert "Reference F: clean-f" in text and "Reference M: clean-m" in text and "Suspect flipped: labelled M" in text
    assert 'src="../snap0/c/flipped/0.flac"' in text and 'src="../snap0/c/clean-f/0.flac"' in text
    assert "5.flac: <em>not on this machine</em>" in text
    assert text.count("<audio") == 5 + 2 * 3   # the suspect's five files here; three per reference
    assert not list(page.parent.glob("*.tmp"))


def test_the_listening_page_adds_named_speakers_after_the_suspects(results, tmp_path):
    page = tmp_path / "listen.html"
    label_audit.audit(["a", "b"], 0.8, 5, str(results), listen=str(page), listen_also=["pitch-only", "flipped"])
    text = page.read_text()
    assert text.count("Suspect flipped: labelled M") == 1 and "Also flipped" not in text   # a suspect stays one
    assert "Also pitch-only: labelled F" in text and "pitch rule 100%, MFCC + LR 0%, model 0%" in text
    assert text.index("Suspect flipped") < text.index("Also pitch-only")
    assert "Reference F: clean-f" in text
    label_audit.audit(["a", "b"], 0.8, 5, str(results), listen=str(page), listen_also=["clean-f"])
    text = page.read_text()   # a speaker listed as "Also" is never a reference (clean-f was the only F one)
    assert "Also clean-f: labelled F" in text and "Reference F" not in text and "Reference M: clean-m" in text
    with pytest.raises(SystemExit, match="--listen-also nobody: no such speaker"):
        label_audit.audit(["a"], 0.8, 5, str(results), listen=str(page), listen_also=["nobody"])


@pytest.mark.parametrize("runs", ["", ",", " , "])
def test_a_runs_list_naming_no_run_is_refused_before_a_report_is_written(tmp_path, runs):
    out = tmp_path / "label_audit.md"
    with pytest.raises(SystemExit, match="at least one finished k-fold run"):
        label_audit.main(["--runs", runs, "--results", str(tmp_path), "--out", str(out),
                          "--listen", str(tmp_path / "listen.html")])
    assert list(tmp_path.iterdir()) == []


def test_the_models_other_errors_are_listed_by_speaker_outside_the_suspects(results):
    result = label_audit.audit(["a", "b"], 0.8, 5, str(results), top_errors=2)
    errors = result["error_speakers"]
    # outside the suspect c/flipped the model errs on c/model-only (6 per run) and c/short (2 utterances)
    assert [(s["speaker"], s["model_errors_per_run"]) for s in errors["speakers"]] == [("c/model-only", 6.0),
                                                                                       ("c/short", 2.0)]
    assert (errors["errors_per_run"], errors["listed_errors_per_run"], errors["speakers_with_errors"],
            errors["speakers_in_all"]) == (8.0, 8.0, 2, 5)
    assert errors["speakers"][0]["pitch_disagrees"] == 0.0 and errors["speakers"][0]["model_disagrees"] == 1.0
    text = label_audit.markdown(result)
    assert "8 per run outside the suspects, on 2 of 5 speakers" in text
    assert "| model-only | c | M | 6 | 120.0 | 6 | 0% | 0% | - |" in text
    assert label_audit.audit(["a", "b"], 0.8, 5, str(results), top_errors=0)["error_speakers"]["speakers"] == []
