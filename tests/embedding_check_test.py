"""bench/embedding_check.py and the embedding file of bench/speaker_embeddings.py (no PyTorch needed): the
embedding LR of a fold is fitted on the other folds only (left-out corpora: on the other corpora only),
its C is chosen inside those train rows, the vote is the majority of three witnesses, "any right" is the
oracle over them, the label audit's suspects are counted, and missing inputs stop with what to run."""
import json

import numpy as np
import pytest

from bench import embedding_check, speaker_embeddings

DIM = 8


def _row(corpus, fold, i, truth, model_right, pitch_right, speaker):
    return {"path": f"/x/data/{corpus}/{fold}-{i}.flac", "corpus": corpus, "speaker": f"{corpus}/{fold}-{speaker}",
            "truth": truth, "model": truth if model_right else 1 - truth,
            "pitch": truth if pitch_right else 1 - truth, "f0": 150.0}


def _embedding(truth, i, sign=1.0):
    """Dimension 0 carries the class (times `sign`); the others are noise."""
    v = np.random.default_rng(i).normal(0, 0.3, DIM).astype(np.float32)
    v[0] = sign * (1.0 if truth else -1.0)
    return v


def _write_run(results, name, folds=3, per_fold=24, corpora=("c", "d"), pattern="fold-{}.json"):
    """Per fold: the model right on i % 3 != 0, the rule right on i % 3 != 1; so both wrong nowhere, and
    each right on 2/3 of the utterances."""
    (results / name).mkdir(parents=True)
    embeddings, labels = {}, []
    for fold in range(folds):
        n = len(corpora)   # two utterances per speaker, one gender per speaker, genders alternating within a corpus
        rows = [_row(corpora[i % n], fold, i, (i // (2 * n)) % 2, i % 3 != 0, i % 3 != 1, i // (2 * n))
                for i in range(per_fold)]
        for k, r in enumerate(rows):
            embeddings[speaker_embeddings.data_key(r["path"])] = _embedding(r["truth"], fold * 1000 + k)
        labels.append(rows)
        (results / name / pattern.format(fold)).write_text(json.dumps(
            {"pitch_threshold_hz": 160.0, "speakers": {"test": [], "train": []}, "rows": rows}))
    return embeddings, labels


def test_the_embedding_lr_the_vote_and_the_oracle(tmp_path):
    embeddings, _ = _write_run(tmp_path, "x")
    run = embedding_check.check(["x"], embeddings, results=str(tmp_path), audit=str(tmp_path / "none.json"))["runs"]["x"]
    assert run["utterances"] == 72
    assert run["model"]["correct"] == 48 and run["pitch"]["correct"] == 48
    assert run["embedding"]["accuracy"] == 1.0      # dimension 0 tells the class
    assert run["vote"]["accuracy"] == 1.0 and run["any"]["accuracy"] == 1.0
    assert run["vote_minus_pitch"]["points"] == pytest.approx(100 * 24 / 72, abs=0.01)
    assert set(run["per_corpus"]) == {"c", "d"} and run["per_corpus"]["c"]["utterances"] == 36
    assert len(run["c_chosen"]) == 3 and all(c in embedding_check.C_GRID for c in run["c_chosen"])


def test_the_vote_follows_two_of_three_and_the_oracle_any_one(tmp_path):
    embeddings, labels = _write_run(tmp_path, "x", folds=2)
    for r in labels[0]:   # fold 0's class direction reversed: each fold's LR, fitted on the other, is wrong on it
        embeddings[speaker_embeddings.data_key(r["path"])][0] *= -1
    run = embedding_check.check(["x"], embeddings, results=str(tmp_path), audit=str(tmp_path / "none.json"))["runs"]["x"]
    assert run["embedding"]["accuracy"] == 0.0
    # the model and the rule are both right only where i % 3 == 2: the vote is right there alone
    assert run["vote"]["correct"] == 16 and run["any"]["correct"] == 48


def test_each_fold_is_fitted_on_the_other_folds_with_c_chosen_inside_them(tmp_path, monkeypatch):
    embeddings, _ = _write_run(tmp_path, "x", folds=3, per_fold=24)
    chosen_on, fitted_on = [], []
    choose = embedding_check.choose_c
    monkeypatch.setattr(embedding_check, "choose_c", lambda x, y, groups: (chosen_on.append(len(x)), choose(x, y, groups))[1])
    real = embedding_check._classifier
    monkeypatch.setattr(embedding_check, "_classifier", lambda c: _Spy(real(c), fitted_on))
    embedding_check.check(["x"], embeddings, results=str(tmp_path), audit=str(tmp_path / "none.json"))
    assert chosen_on == [48, 48, 48]
    assert fitted_on.count(48) == 3      # the final fit of each fold; the search's own fits are smaller


class _Spy:
    def __init__(self, inner, seen):
        self.inner, self.seen = inner, seen

    def fit(self, x, y):
        self.seen.append(len(x))
        self.inner.fit(x, y)
        return self

    def predict(self, x):
        return self.inner.predict(x)

    def decision_function(self, x):
        return self.inner.decision_function(x)


def test_choose_c_takes_the_smallest_c_among_equals_and_keeps_to_its_grid():
    speakers = np.repeat(np.arange(20), 3)
    y = speakers % 2
    x = np.stack([np.where(y == 1, 1.0, -1.0), np.random.default_rng(0).normal(0, 0.1, 60)], axis=1)
    assert embedding_check.choose_c(x, y, speakers.tolist()) == min(embedding_check.C_GRID)   # every C is right
    assert embedding_check.choose_c(x, y, speakers.tolist(), grid=(0.5,)) == 0.5


def test_loco_fits_each_left_out_corpus_on_the_other_corpora_only(tmp_path, monkeypatch):
    embeddings, _ = _write_run(tmp_path, "labels", folds=2, per_fold=24, corpora=("c", "d", "e"))
    (tmp_path / "x").mkdir()
    for corpus in ("c", "d"):
        rows = [r for f in sorted((tmp_path / "labels").glob("fold-*.json")) for r in json.loads(f.read_text())["rows"]
                if r["corpus"] == corpus]
        (tmp_path / "x" / f"loco-{corpus}.json").write_text(json.dumps({"pitch_threshold_hz": 160.0, "rows": rows}))
    trained_on = []
    decide = embedding_check.decide
    monkeypatch.setattr(embedding_check, "decide", lambda train, test, emb: (
        trained_on.append(({r["corpus"] for r in train}, {r["corpus"] for r in test})), decide(train, test, emb))[1])
    result = embedding_check.check(["x"], embeddings, results=str(tmp_path), loco=True, labels_from="labels",
                                   audit=str(tmp_path / "none.json"))
    assert trained_on == [({"d", "e"}, {"c"}), ({"c", "e"}, {"d"})]
    assert result["runs"]["x"]["utterances"] == 32
    assert "(left-out corpora)" in embedding_check.markdown(result, str(tmp_path / "e.npz"))


def test_the_label_audits_suspects_are_counted(tmp_path):
    embeddings, labels = _write_run(tmp_path, "x")
    suspect = labels[0][0]["speaker"]
    audit = tmp_path / "label_audit.json"
    audit.write_text(json.dumps({"suspects": [{"speaker": suspect}]}))
    result = embedding_check.check(["x"], embeddings, results=str(tmp_path), audit=str(audit))
    s = result["runs"]["x"]["suspects"]
    assert result["suspects"] == [suspect] and s["utterances"] == 2
    assert s["embedding_disagrees"] == 0.0     # this fake's labels are right
    rest = result["runs"]["x"]["without_suspects"]
    theirs = [r for r in labels[0] if r["speaker"] == suspect]
    assert rest["utterances"] == 70 and rest["model"]["correct"] == 48 - sum(r["model"] == r["truth"] for r in theirs)
    assert suspect in embedding_check.markdown(result, str(tmp_path / "e.npz"))


def test_a_missing_embedding_names_the_file_and_the_command(tmp_path):
    embeddings, labels = _write_run(tmp_path, "x")
    del embeddings[speaker_embeddings.data_key(labels[1][3]["path"])]
    with pytest.raises(SystemExit, match=r"1 utterances have no speaker embedding \(e\.g\. /x/data/d/1-3\.flac\).*"
                                         r"bench\.speaker_embeddings"):
        embedding_check.check(["x"], embeddings, results=str(tmp_path), audit=str(tmp_path / "none.json"))


def test_the_embedding_file_round_trips_whole_and_refuses_what_it_cannot_key(tmp_path):
    vectors = {"a/1.flac": np.arange(4, dtype=np.float32), "b/2.flac": np.ones(4, dtype=np.float32)}
    path = str(tmp_path / "sub" / "e.npz")
    speaker_embeddings.save(vectors, path)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["e.npz"]     # no temporary file left
    back = speaker_embeddings.load(path)
    assert set(back) == set(vectors) and np.array_equal(back["a/1.flac"], vectors["a/1.flac"])
    assert speaker_embeddings.data_key("/any/checkout/data/vctk-mini/wav48/p1/x.flac") == "vctk-mini/wav48/p1/x.flac"
    with pytest.raises(SystemExit, match="not a bundled corpus file"):
        speaker_embeddings.data_key("/tmp/x.flac")
    with pytest.raises(SystemExit, match="make embedding-venv"):
        speaker_embeddings.load(str(tmp_path / "missing.npz"))


def test_the_product_of_model_and_lr_weighs_the_models_log_odds(tmp_path):
    embeddings, _ = _write_run(tmp_path, "x")
    run = embedding_check.check(["x"], embeddings, results=str(tmp_path), audit=str(tmp_path / "none.json"))["runs"]["x"]
    # The fixture's rows carry no model probability: log-odds 0, so every weight decides as the LR alone.
    assert all(run["fused"][f"{w:g}"]["accuracy"] == run["embedding"]["accuracy"] for w in embedding_check.FUSION_WEIGHTS)
    assert embedding_check.model_log_odds({"model": 1, "probability": 0.9}) == pytest.approx(np.log(9.0))
    assert embedding_check.model_log_odds({"model": 0, "probability": 0.9}) == pytest.approx(-np.log(9.0))
    assert embedding_check.model_log_odds({"model": -1, "probability": None}) == 0.0
    assert embedding_check.model_log_odds({"model": 1, "probability": 1.0}) == pytest.approx(np.log(1e7), rel=1e-6)
