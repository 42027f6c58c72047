"""bench/head_refit.py: variants parse strictly, balancing gives every speaker (or corpus and gender) the same
total weight, and a variant fits on exactly the rows it names."""
import numpy as np
import pytest

from bench import head_refit


def test_variants_parse_their_data_balance_and_options():
    v = head_refit.parse_variant("balanced:c=0.01:w=4")
    assert (v.data, v.balance, v.c, v.weight) == ("clips", "speaker", 0.01, 4.0)
    assert head_refit.parse_variant("shipped").data == "shipped"
    assert head_refit.parse_variant("clips+utterances-balanced").data == "both"
    for bad, message in (("nonsense", "unknown 'nonsense'"), ("balanced:k=1", "options are c=NUMBER"),
                         ("balanced:c=x", "options are c=NUMBER"), ("shipped:c=1", "not refitted")):
        with pytest.raises(SystemExit, match=message):
            head_refit.parse_variant(bad)


def test_group_weights_share_each_group_equally_among_its_speakers():
    keys = [("g1", "a")] * 4 + [("g1", "b")] + [("g2", "c")] * 5
    weight = head_refit.group_weights(keys)
    assert np.isclose(weight[:5].sum(), weight[5:].sum())               # each group the same
    assert np.isclose(weight[:4].sum(), weight[4])                       # speakers equal within g1
    assert np.isclose(weight.mean(), 1.0)


def _rows(speakers, label):
    return {"x": np.arange(len(speakers), dtype=float)[:, None], "y": np.full(len(speakers), label),
            "speakers": np.array(speakers)}


def test_a_variant_fits_on_the_rows_it_names():
    clips, utterances = _rows(["x/a", "x/a", "x/b", "y/c"], 0), _rows(["y/c", "y/d", "y/d", "y/d"], 1)
    x, y, w = head_refit.fit_rows(head_refit.parse_variant("refit"), clips, utterances)
    assert len(x) == 4 and np.all(w == 1.0)                                   # the run's own: unweighted
    _, _, own = head_refit.fit_rows(head_refit.parse_variant("refit"), clips, utterances, own_balance="speaker")
    _, _, balanced = head_refit.fit_rows(head_refit.parse_variant("balanced"), clips, utterances)
    np.testing.assert_allclose(own, balanced)                                 # the run's own: balanced
    assert np.all(head_refit.fit_rows(head_refit.parse_variant("unweighted"), clips, utterances, "speaker")[2] == 1.0)
    # corpus x and corpus y (each with its gender) weigh the same; within x, speakers a and b the same
    x, y, w = head_refit.fit_rows(head_refit.parse_variant("corpus-balanced"), clips, utterances)
    assert np.isclose(w[:3].sum(), w[3]) and np.isclose(w[:2].sum(), w[2])
    x, y, w = head_refit.fit_rows(head_refit.parse_variant("utterances-balanced"), clips, utterances)
    assert list(y) == [1, 1, 1, 1] and np.isclose(w[0], 3 * w[1])
    x, y, w = head_refit.fit_rows(head_refit.parse_variant("clips+utterances-balanced"), clips, utterances)
    assert len(x) == 8 and np.isclose(w.mean(), 1.0)
    assert np.isclose(w[:2].sum(), w[2]) and np.isclose(w[2], w[3])            # speakers equal within the clips
    assert np.isclose(w[4], w[5:].sum())                                      # and within the utterances


def test_probe_heads_parse_and_refuse_the_regressions_c():
    assert head_refit.parse_variant("mlp").nonlinear == "mlp"
    assert head_refit.parse_variant("svm:w=4").weight == 4.0
    with pytest.raises(SystemExit, match="c is the logistic regression's"):
        head_refit.parse_variant("svm:c=1")


@pytest.mark.parametrize("kind", ["mlp", "svm"])
def test_probe_heads_give_log_odds_of_class_one(kind):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = rng.normal(0, 1, (200, 4)) + 3.0 * y[:, None]
    logits, fit_accuracy = head_refit.nonlinear_head(kind, x, y)
    out = logits(np.array([[0.0] * 4, [3.0] * 4]))
    assert out.shape == (2, 2) and np.all(out[:, 0] == 0) and out[0, 1] < 0 < out[1, 1] and fit_accuracy > 0.9


def test_fold_outputs_are_cached_beside_the_model_and_recomputed_for_another(tmp_path, monkeypatch):
    model = tmp_path / "fold-0-x" / "model"
    model.mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"one")
    fold = {"rows": [{"model": 1, "name": "a"}, {"model": -1, "name": "unscored"}, {"model": 0, "name": "b"}]}
    calls = []

    def fake_tests(path, fold_, conv, encoder, rate, clip_samples):
        calls.append("tests")
        return [{"row": fold_["rows"][0], "real": np.array([5.0, 2.0]), "log_p": np.zeros((2, 2)),
                 "embeddings": np.ones((2, 3))},
                {"row": fold_["rows"][2], "real": np.array([4.0]), "log_p": np.ones((1, 2)),
                 "embeddings": np.full((1, 3), 2.0)}]

    def fake_clips(model_dir, fold_, encoder, clip_samples):
        calls.append("clips")
        return {"x": np.eye(3), "y": np.array([0, 1, 0]), "speakers": np.array(["s1", "s2", "s1"])}

    monkeypatch.setattr(head_refit, "utterance_outputs", fake_tests)
    monkeypatch.setattr(head_refit, "train_clip_embeddings", fake_clips)
    first = head_refit.fold_outputs("fold-0.json", fold, str(model), None, None, 16000, 10)
    second = head_refit.fold_outputs("fold-0.json", fold, str(model), None, None, 16000, 10)
    assert calls == ["tests", "clips"]                                       # the second came from the cache
    assert [t["row"]["name"] for t in second[0]] == ["a", "b"]
    for a, b in zip(first[0], second[0]):
        for k in ("real", "log_p", "embeddings"):
            np.testing.assert_array_equal(a[k], b[k])
    assert list(second[1]["speakers"]) == ["s1", "s2", "s1"]
    assert not list((model.parent).glob("*.partial*"))
    (model / "saved_model.pb").write_bytes(b"another model")
    head_refit.fold_outputs("fold-0.json", fold, str(model), None, None, 16000, 10)
    assert calls == ["tests", "clips", "tests", "clips"]
