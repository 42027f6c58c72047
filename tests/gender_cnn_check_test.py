"""bench/gender_cnn_check.py without the network: its features (a 24-band log mel spectrogram, standardized
68-frame patches of the frames with speech energy) and the stacking, which is fitted on the other folds only."""
import json

import numpy as np
import pytest

from bench import gender_cnn_check as check

RATE = check.RATE


def _tone(hz, seconds, amplitude=0.3):
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_mel_bands_are_triangles_over_100_to_8000_hz():
    filters = check.mel_filters()
    assert filters.shape == (check.BANDS, check.N_FFT // 2 + 1) and (filters >= 0).all()
    bins = np.arange(check.N_FFT // 2 + 1) * RATE / check.N_FFT
    peaks = bins[filters.argmax(axis=1)]
    assert (np.diff(peaks) > 0).all() and 100 < peaks[0] < 250 and 6000 < peaks[-1] < 8000
    assert not filters[:, bins <= check.F_LOW].any()


@pytest.mark.parametrize("hz", [200.0, 1000.0, 4000.0])
def test_a_tone_lands_in_its_band_and_frames_follow_the_hop(hz):
    mspec, energy = check.log_mel(_tone(hz, 1.0))
    assert mspec.shape == (1 + (RATE - check.FRAME) // check.HOP, check.BANDS) and energy.shape == (mspec.shape[0],)
    band = int(np.argmax(np.median(mspec, axis=0)))
    assert check.mel_filters()[band, int(round(hz * check.N_FFT / RATE))] > 0


def test_patches_are_standardized_and_skip_silence():
    audio = np.concatenate([_tone(220.0, 2.0), np.zeros(2 * RATE, np.float32)])
    audio[2 * RATE:] += 1e-6 * np.random.default_rng(0).standard_normal(2 * RATE).astype(np.float32)
    mspec, energy = check.log_mel(audio)
    cut = check.patches(mspec, energy)
    assert cut.shape[1:] == (check.PATCH, check.BANDS, 1)
    flat = cut.reshape(len(cut), -1)
    assert np.allclose(flat.mean(axis=1), 0, atol=1e-4) and np.allclose(flat.std(axis=1), 1, atol=1e-3)
    every = 1 + (len(mspec) - check.PATCH) // check.PATCH_STEP
    assert len(cut) < 0.6 * every      # the patches centred in the quiet half are left out


def test_a_recording_shorter_than_a_patch_gives_one_padded_patch():
    mspec, energy = check.log_mel(_tone(220.0, 0.3))
    assert len(mspec) < check.PATCH
    assert check.patches(mspec, energy).shape == (1, check.PATCH, check.BANDS, 1)


def test_digital_silence_leaves_no_patch_and_the_utterance_unscored():
    mspec, energy = check.log_mel(np.zeros(RATE, np.float32))
    assert len(check.patches(mspec, energy)) == 0
    assert np.isnan(check.female_log_odds(None, np.zeros(RATE, np.float32)))   # the network is not asked
    folds = _folds()
    scores = {r["path"]: r["cnn_log_odds"] for f in folds for r in f["rows"]}
    scores[folds[1]["rows"][0]["path"]] = float("nan")
    rows = check.with_cnn(folds, scores)
    assert rows[20]["cnn"] == -1 and all(r["cnn"] in (0, 1) for r in rows[:20] + rows[21:])


def _folds(sizes=(20, 20, 20)):
    """Fold rows where the model is right on even utterances and the CNN on odd ones, each sure when right."""
    folds = []
    for fold, size in enumerate(sizes):
        rows = []
        for i in range(size):
            truth = (i // 2) % 2
            model_right, cnn_right = i % 2 == 0, i % 2 == 1
            rows.append({"path": f"/d/{fold}/{i}.flac", "corpus": "c", "speaker": f"c/{fold}-{i}", "truth": truth,
                         "model": truth if model_right else 1 - truth,
                         "probability": 0.97 if model_right else 0.6,
                         "cnn_log_odds": (3.0 if cnn_right else -0.3) * (1 if truth else -1)})
        folds.append({"rows": rows})
    return folds


def test_cnn_decision_and_stacking_fitted_on_the_other_folds():
    folds = _folds()
    scores = {r["path"]: r["cnn_log_odds"] for f in folds for r in f["rows"]}
    rows = check.with_cnn(folds, scores)
    assert len(rows) == 60
    assert all(r["cnn"] == int(scores[r["path"]] > 0) for r in rows)
    assert sum(r["cnn"] == r["truth"] for r in rows) == 30 and sum(r["model"] == r["truth"] for r in rows) == 30
    assert all(r["stacked"] == r["truth"] for r in rows)   # confidence says which witness is right


def test_a_folds_own_labels_take_no_part_in_its_fusion():
    # Fold 0 is large and its labels flipped: a fusion fitted on it would learn the inverse and flip fold 0's
    # answers; fitted on folds 1-2 only, fold 0's answers stay those of the unflipped data.
    sizes = (200, 20, 20)
    plain = check.with_cnn(_folds(sizes), {r["path"]: r["cnn_log_odds"] for f in _folds(sizes) for r in f["rows"]})
    flipped = _folds(sizes)
    for r in flipped[0]["rows"]:
        r["truth"] = 1 - r["truth"]
    again = check.with_cnn(flipped, {r["path"]: r["cnn_log_odds"] for f in _folds(sizes) for r in f["rows"]})
    assert [r["stacked"] for r in again[:200]] == [r["stacked"] for r in plain[:200]]
    assert [r["stacked"] for r in again[200:]] != [r["stacked"] for r in plain[200:]]


def test_weights_come_from_the_cache_without_pip(tmp_path, monkeypatch):
    (tmp_path / "keras_male_female_cnn.hdf5").write_bytes(b"weights")
    monkeypatch.setattr(check.subprocess, "run", lambda *a, **k: pytest.fail("pip ran"))
    assert check.fetch_weights(str(tmp_path)) == str(tmp_path / "keras_male_female_cnn.hdf5")


def test_contradicted_voices_are_chosen_without_the_model_and_set_the_ceiling():
    def rows(speaker, corpus, n, truth, pitch_wrong, cnn_wrong, model_wrong):
        return [{"speaker": speaker, "corpus": corpus, "truth": truth,
                 "pitch": 1 - truth if i < pitch_wrong else truth, "cnn": 1 - truth if i < cnn_wrong else truth,
                 "model": 1 - truth if i < model_wrong else truth} for i in range(n)]
    table = (rows("a/1", "a", 10, 0, 10, 9, 0) + rows("a/2", "a", 10, 1, 10, 7, 10) + rows("a/3", "a", 20, 1, 2, 0, 0)
             + rows("b/4", "b", 10, 0, 0, 0, 0))
    assert check.contradicted(table) == ["a/1"]      # a/2: the CNN agrees with its label too often; the model no say
    got = check.ceilings(table, ["a/1"])
    assert got["a"] == {"utterances": 40, "contradicted": 10, "ceiling": 0.75, "rule": 0.45, "ceiling_minus_rule": 30.0}
    assert got["pooled"]["ceiling"] == 0.8 and got["pooled"]["rule"] == round(28 / 50, 4)


def test_cached_scores_are_reused_only_under_the_same_feature_settings(tmp_path, monkeypatch):
    settings = {"wheel": check.WHEEL, "patch_step": check.PATCH_STEP, "energy_ratio": check.ENERGY_RATIO,
                "rate": check.RATE}
    (tmp_path / "scores.json").write_text(json.dumps({"settings": settings, "scores": {"/a.flac": 1.5}}))
    assert check.score_paths(["/a.flac"], str(tmp_path)) == {"/a.flac": 1.5}   # no network, no audio read
    monkeypatch.setattr(check, "PATCH_STEP", check.PATCH_STEP + 1)
    def fetch(cache):
        raise RuntimeError("scoring anew")

    monkeypatch.setattr(check, "fetch_weights", fetch)
    with pytest.raises(RuntimeError, match="scoring anew"):
        check.score_paths(["/a.flac"], str(tmp_path))
