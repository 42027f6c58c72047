"""bench/distill_check.py: predict's windows are picked out of the training windows, the teacher's utterance
embeddings from them are the shipped encoder's (what bench/window_check.py embeds), a student is trained on
the train folds only and scored paired with the teacher, and the teacher's work is kept and reused."""
import numpy as np
import pytest

import sample_kfold_runs  # tests/sample_kfold_runs.py
from bench import distill_check, speaker_embeddings, window_check


def test_predict_reads_every_fourth_training_window_of_a_4s_clip():
    feats = {"step": np.array(40), "clip_samples": np.array(64000)}
    assert distill_check.predict_windows(feats).tolist() == [0, 4]       # 160 : 160 -> starts 0 and 160
    assert distill_check.predict_windows({**feats, "clip_samples": np.array(16000)}).tolist() == [0]


def test_students_are_named():
    with pytest.raises(SystemExit, match="use one of"):
        distill_check.main(["--run", "r26", "--students", "conv7"])


@pytest.mark.slow
def test_a_student_is_trained_on_the_train_folds_and_scored_beside_the_teacher(tmp_path, monkeypatch):
    monkeypatch.setattr(distill_check, "CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(speaker_embeddings, "CACHE_DIR", str(tmp_path / "embeddings"))
    results = str(tmp_path / "kfold")
    run = sample_kfold_runs.real_run(tmp_path / "kfold")
    lines = []
    result = distill_check.check(run, ["conv64"], epochs=2, seed=0, clip_seconds=1.0, results=results,
                                 log=lines.append)
    teacher = result["teacher"]
    assert teacher["embedding"]["n"] == 20 and teacher["embedding"]["accuracy"] >= 0.75   # as window_check's
    student = result["students"]["conv64"]
    assert student["embedding"]["n"] == 20 and len(student["test_cosine"]) == 2
    assert all(0.0 < c < 0.999 for c in student["test_cosine"])          # unseen speakers' windows: close, not equal
    assert student["minus_teacher"]["points"] == pytest.approx(
        100 * (student["embedding"]["accuracy"] - teacher["embedding"]["accuracy"]), abs=0.01)
    assert sum("conv64: speaker student: epoch" in line for line in lines) == 4   # 2 epochs x 2 folds

    # The teacher's utterance embeddings are the shipped encoder's at 160 : 160, as window_check embeds them.
    feats = distill_check.features(speaker_embeddings.utterance_paths(run, results), 1.0)
    ours = distill_check.utterance_embeddings(feats["teacher"], feats)
    shipped, _ = window_check.embed(speaker_embeddings.utterance_paths(run, results),
                                    160, 160, 16000, log=lambda *_: None)
    assert set(ours) == set(shipped)
    assert min(float(ours[k] @ shipped[k]) for k in ours) > 0.9999

    from components.common import audio  # the kept teacher work is reused: no file is decoded again
    monkeypatch.setattr(audio, "decode_audio", lambda *a, **k: pytest.fail("the teacher's work was not reused"))
    again = distill_check.features(speaker_embeddings.utterance_paths(run, results), 1.0)
    assert np.array_equal(again["teacher"], feats["teacher"])
    text = distill_check.markdown(result)
    assert "| conv64 |" in text and "teacher (GE2E" in text
