"""bench/window_check.py: settings are read as the trainer allows them, an utterance's embedding is its clips'
weighted by their real audio, and a check over real bundled utterances scores each window setting on the
run's folds with embedding_check's own fit, then reuses the embeddings it kept."""
import numpy as np
import pytest

import sample_kfold_runs  # tests/sample_kfold_runs.py
from bench import embedding_check, speaker_embeddings, window_check


def test_variants_are_read_within_the_trainer_settings():
    assert window_check.parse_variants("160:160, 80:160") == [(160, 160), (80, 160)]
    with pytest.raises(SystemExit, match="write FRAMES:STEP"):
        window_check.parse_variants("80")
    with pytest.raises(SystemExit, match="frames 20-160"):
        window_check.parse_variants("10:160")


def test_an_utterance_is_its_clips_weighted_by_their_real_audio():
    got = window_check.utterance_embedding(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([3, 1]))
    np.testing.assert_allclose(got, np.array([3.0, 1.0]) / np.sqrt(10.0), rtol=1e-6)


@pytest.mark.slow
def test_each_setting_is_scored_on_the_runs_folds_and_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(speaker_embeddings, "CACHE_DIR", str(tmp_path / "cache"))
    run = sample_kfold_runs.real_run(tmp_path / "kfold")
    audit = str(tmp_path / "no-audit.json")
    result = window_check.check(run, [(40, 160), (160, 160)], 1.0, results=str(tmp_path / "kfold"), audit=audit,
                                log=lambda *_: None)
    assert [(r["frames"], r["step"], r["windows_per_clip"]) for r in result["variants"]] == [(40, 160, 1), (160, 160, 1)]
    for r in result["variants"]:
        assert r["utterances"] == 20 and r["embed_seconds"] > 0
        kept = speaker_embeddings.load(window_check.cache_file(r["frames"], r["step"], 1.0))
        same = embedding_check.check([run], kept, str(tmp_path / "kfold"), audit=audit)["runs"][run]["embedding"]
        assert r["embedding"] == same                       # embedding_check's own fit, on the kept embeddings
    assert result["variants"][1]["embedding"]["accuracy"] >= 0.75   # 1 s of clean read speech per speaker
    a, b = (speaker_embeddings.load(window_check.cache_file(f, 160, 1.0)) for f in (40, 160))
    assert set(a) == set(b) and all(float(a[k] @ b[k]) < 0.9999 for k in a)   # each setting embedded anew

    monkeypatch.setattr(window_check, "embed", lambda *a, **k: pytest.fail("the kept embeddings were not reused"))
    again = window_check.check(run, [(40, 160)], 1.0, results=str(tmp_path / "kfold"), audit=audit)
    assert again["variants"][0]["embed_seconds"] is None
    assert again["variants"][0]["embedding"] == result["variants"][0]["embedding"]
    text = window_check.markdown(result)
    assert "| 40 | 160 | 1 |" in text and "| 160 | 160 | 1 |" in text and "cached" not in text
