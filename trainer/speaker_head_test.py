"""trainer/speaker_head.py: the logistic regression is sklearn's, it is fitted on the single-speaker train
clips only, and the exported model is softmax(log p_conv + weight * the head's logits) on raw audio."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from components.common.errors import AudioClfError
from components.common.vocabulary import CROP
from sample_artifacts import write_examples  # tests/sample_artifacts.py
from trainer import export, model as model_lib, speaker_head, task
from trainer import input as input_lib
from trainer.config import TrainerConfig

RATE, SECONDS = 16000, 1.0
SAMPLES = int(RATE * SECONDS)
TINY = TrainerConfig(n_fft=256, hop_length=128, n_mels=16, frame_length=8, frame_hop=4, conv_filters=[4, 4, 8, 8],
                     dropout=0.1, batch_size_per_replica=4, epochs=2, patience=1, steps_per_epoch=2,
                     shuffle_buffer=16, speaker_embedding=True, speaker_embedding_head="fitted",
                     speaker_embedding_window_step=160)


@pytest.mark.parametrize("c", [0.001, 0.1, 10.0])
def test_the_fit_is_sklearns_logistic_regression(c):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    x = rng.normal(0, 1, (300, 20)) * rng.uniform(0.1, 5, 20) + y[:, None] * rng.normal(0, 1, 20) + 3.0
    head = speaker_head.fit_logistic(x, y, 2, c)
    scaler = StandardScaler().fit(x)
    reference = LogisticRegression(C=c, max_iter=10000, tol=1e-10).fit(scaler.transform(x), y)
    ours = head.logits(x)
    np.testing.assert_allclose(ours[:, 1] - ours[:, 0], reference.decision_function(scaler.transform(x)),
                               rtol=1e-4, atol=1e-5)


def test_the_folded_layer_gives_weight_times_the_logits():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 2, (50, 6)) + 1.0, np.arange(50) % 3
    head = speaker_head.fit_logistic(x, y, 3, 1.0)
    kernel, bias = head.folded(2.5)
    np.testing.assert_allclose(x @ kernel + bias, 2.5 * head.logits(x), rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    return write_examples(tmp_path_factory.mktemp("head"), RATE, SECONDS, {"train": 16, "eval": 4, "test": 2}).uri


def _train_records(examples):
    return [tf.train.Example.FromString(r.numpy()) for r in
            tf.data.TFRecordDataset(input_lib.list_files(f"{examples}/Split-train/*"), compression_type="GZIP")]


@pytest.mark.slow
def test_only_single_speaker_clips_are_fitted_on(examples):
    records = _train_records(examples)
    speakers = [r.features.feature["num_speakers"].int64_list.value[0] for r in records]
    assert 1 in speakers and any(s > 1 for s in speakers), speakers   # the sample holds both kinds
    labels = [r.features.feature["label"].int64_list.value[0] for r, s in zip(records, speakers) if s == 1]
    got = [int(label) for _, label in speaker_head.single_speaker_clips(f"{examples}/Split-train/*", "pcm16", SAMPLES)]
    assert got == labels
    # speaker_embedding_fit_clips=crops: only the crops of real utterances, not the one-speaker mixtures.
    modes = [r.features.feature["mode"].bytes_list.value[0].decode() for r in records]
    assert CROP in modes and any(m != CROP and s == 1 for m, s in zip(modes, speakers)), list(zip(modes, speakers))
    crop_labels = [r.features.feature["label"].int64_list.value[0] for r, m in zip(records, modes) if m == CROP]
    got = [int(label) for _, label in speaker_head.single_speaker_clips(f"{examples}/Split-train/*", "pcm16", SAMPLES,
                                                                        crops_only=True)]
    assert got == crop_labels


@pytest.mark.slow
def test_trained_model_exports_the_conv_model_plus_the_fitted_head(examples, tmp_path):
    model, result = task.train(task.TrainingSettings(TINY, RATE, SAMPLES, ["male", "female"], "pcm16"),
                               [f"{examples}/Split-train/*"], [f"{examples}/Split-eval/*"],
                               str(tmp_path / "serving"), str(tmp_path / "run"))
    fitted = result["speaker_head"]
    assert fitted["clips"] == sum(fitted["clips_per_class"].values()) > 0 and fitted["weight"] == 2.0
    assert task.read_history(str(tmp_path / "run"))["speaker_head"] == fitted
    conv = model.get_layer("audioclf")
    assert "speaker_embedding" not in {layer.name for layer in conv.layers}   # trained without the encoder
    assert not model.get_layer("speaker_logits").trainable
    audio = tf.random.normal([3, SAMPLES], seed=4) * 0.1
    embedding = model.get_layer("speaker_embedding")(audio).numpy()
    kernel, bias = model.get_layer("speaker_logits").get_weights()
    expected = tf.nn.softmax(np.log(np.maximum(conv(audio).numpy(), 1e-7)) + embedding @ kernel + bias).numpy()
    served = tf.saved_model.load(str(tmp_path / "serving")).signatures[export.CLASSIFY_AUDIO]
    np.testing.assert_allclose(served(audio=audio)[export.OUTPUT_KEY].numpy(), expected, rtol=1e-4, atol=1e-5)
    # The final reports are on the exported model: the eval report counts what it predicts.
    assert result["reports"]["eval"]["examples"] == 4


def test_a_train_split_without_single_speaker_clips_of_a_class_is_refused(monkeypatch):
    clips = tf.data.Dataset.from_tensor_slices((np.zeros((4, SAMPLES), np.float32), np.array([0, 0, 0, 0])))
    monkeypatch.setattr(speaker_head, "single_speaker_clips", lambda *a, **k: clips)
    conv = model_lib.build_model(TINY, RATE, SAMPLES, 2)
    with pytest.raises(AudioClfError, match=r"no single-speaker clip of female \(4 single-speaker clips in all\).*"
                                            r"synthesis.crop_probability.*speaker_embedding_head=trained"):
        speaker_head.with_fitted_head(conv, TINY, SAMPLES, "unused", "pcm16", ["male", "female"])


def test_a_crops_only_head_without_crops_of_a_class_is_refused_naming_the_kind(monkeypatch):
    clips = tf.data.Dataset.from_tensor_slices((np.zeros((3, SAMPLES), np.float32), np.array([1, 1, 1])))
    asked = []
    monkeypatch.setattr(speaker_head, "single_speaker_clips", lambda *a, **k: asked.append(a[-1]) or clips)
    conv = model_lib.build_model(TINY, RATE, SAMPLES, 2)
    with pytest.raises(AudioClfError, match=r"no crop clip of male \(3 crop clips in all\)"):
        speaker_head.with_fitted_head(conv, dataclasses.replace(TINY, speaker_embedding_fit_clips="crops"), SAMPLES,
                                      "unused", "pcm16", ["male", "female"])
    assert asked == [True]


def test_the_settings_are_checked():
    with pytest.raises(AudioClfError, match="speaker_embedding_head='joint'; use trained or fitted"):
        dataclasses.replace(TINY, speaker_embedding_head="joint").validate()
    with pytest.raises(AudioClfError, match="speaker_embedding_fit_clips='real'; use single_speaker or crops"):
        dataclasses.replace(TINY, speaker_embedding_fit_clips="real").validate()
    with pytest.raises(AudioClfError, match="a fitted speaker head is not trained with the conv head"):
        dataclasses.replace(TINY, head_dropout=0.5).validate()
    assert "speaker_embedding" not in {layer.name for layer in model_lib.build_model(TINY, RATE, SAMPLES, 2).layers}


def test_the_encoder_at_another_sample_rate_is_refused_before_training(tmp_path):
    settings = task.TrainingSettings(TINY, 8000, 8000, ["male", "female"], "pcm16")
    with pytest.raises(AudioClfError, match=r"needs synthesis.sample_rate=16000 \(the pretrained speaker encoder's rate\), "
                                            r"not 8000; set synthesis.sample_rate=16000 or trainer.speaker_embedding=false"):
        task.train(settings, [str(tmp_path / "none*")], [str(tmp_path / "none*")], str(tmp_path / "m"), str(tmp_path / "r"))
    assert not (tmp_path / "m").exists() and not (tmp_path / "r").exists()


def test_head_copies_add_perturbed_clips_labelled_as_theirs(monkeypatch):
    audio = tf.random.stateless_normal([4, SAMPLES], seed=[1, 2]).numpy() * 0.1
    clips = tf.data.Dataset.from_tensor_slices((audio, np.array([0, 1, 0, 1])))
    monkeypatch.setattr(speaker_head, "single_speaker_clips", lambda *a, **k: clips)
    conv = model_lib.build_model(TINY, RATE, SAMPLES, 2)
    _, info = speaker_head.with_fitted_head(conv, dataclasses.replace(TINY, speaker_head_copies=2), SAMPLES,
                                            "unused", "pcm16", ["male", "female"])
    assert info["copies"] == 2 and info["clips"] == 12 and info["clips_per_class"] == {"male": 6, "female": 6}
    assert info["seconds"] >= 0


@pytest.mark.parametrize("c", [0.001, 1.0])
def test_sample_weights_are_sklearns_weighted_fit_with_weighted_standardization(c):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    x = rng.normal(0, 1, (200, 8)) + y[:, None] * rng.normal(0, 1, 8)
    weight = rng.uniform(0.1, 3.0, 200)
    weight *= len(weight) / weight.sum()
    head = speaker_head.fit_logistic(x, y, 2, c, weight)
    mean = np.average(x, axis=0, weights=weight)
    z = (x - mean) / np.sqrt(np.average((x - mean) ** 2, axis=0, weights=weight))
    reference = LogisticRegression(C=c, max_iter=10000, tol=1e-10).fit(z, y, sample_weight=weight)
    ours = head.logits(x)
    np.testing.assert_allclose(ours[:, 1] - ours[:, 0], reference.decision_function(z), rtol=1e-4, atol=1e-5)
    # whole-number weights are repeated rows
    repeats = rng.integers(1, 4, 200)
    by_weight = speaker_head.fit_logistic(x, y, 2, c, repeats.astype(float)).logits(x)
    by_rows = speaker_head.fit_logistic(np.repeat(x, repeats, axis=0), np.repeat(y, repeats), 2, c).logits(x)
    np.testing.assert_allclose(by_weight, by_rows, rtol=1e-4, atol=1e-5)


def test_bad_sample_weights_are_refused():
    x, y = np.zeros((3, 2)), np.array([0, 1, 0])
    for weight in ([1.0, 1.0], [1.0, -1.0, 1.0], [0.0, 0.0, 0.0]):
        with pytest.raises(AudioClfError, match="3 rows need as many non-negative sample weights"):
            speaker_head.fit_logistic(x, y, 2, 1.0, np.array(weight))


def test_speaker_weights_give_every_speaker_the_same_total():
    speakers = ["c/a"] * 6 + ["c/b"] * 2 + ["d/a"]
    weight = speaker_head.speaker_weights(speakers)
    totals = [weight[[i for i, s in enumerate(speakers) if s == k]].sum() for k in ("c/a", "c/b", "d/a")]
    assert np.allclose(totals, 3.0) and np.isclose(weight.mean(), 1.0)


def test_the_clip_speakers_come_in_the_order_of_the_fit_clips(examples):
    records = _train_records(examples)
    one = [r for r in records if r.features.feature["num_speakers"].int64_list.value[0] == 1]
    files = f"{examples}/Split-train/*"

    def speakers(**kw):
        return [s.decode() for _, _, s in speaker_head.single_speaker_clips(files, "pcm16", SAMPLES, with_speakers=True,
                                                                            **kw).as_numpy_iterator()]
    assert speakers() == [r.features.feature["speakers"].bytes_list.value[0].decode() for r in one]
    crops = [r for r in one if r.features.feature["mode"].bytes_list.value[0].decode() == CROP]
    assert speakers(crops_only=True) == [r.features.feature["speakers"].bytes_list.value[0].decode() for r in crops]
    assert len(crops) < len(one)


def _named_clips(speakers):
    audio = tf.random.stateless_normal([len(speakers), SAMPLES], seed=[3, 4]).numpy() * 0.1
    return tf.data.Dataset.from_tensor_slices((audio, np.arange(len(speakers)) % 2, np.array(speakers)))


def test_a_balanced_head_weighs_the_speakers_of_its_rows_and_their_copies(monkeypatch):
    asked = []
    clips = _named_clips(["c/a", "c/b", "c/a", "c/c"])
    monkeypatch.setattr(speaker_head, "single_speaker_clips", lambda *a, **k: asked.append(k) or clips)
    conv = model_lib.build_model(TINY, RATE, SAMPLES, 2)
    _, info = speaker_head.with_fitted_head(conv, dataclasses.replace(TINY, speaker_head_balance="speaker"), SAMPLES,
                                            "unused", "pcm16", ["male", "female"])
    assert asked == [{"with_speakers": True}]
    assert info["balance"] == "speaker" and info["speakers"] == 3 and info["clips"] == 12   # 4 clips + 2 copies each


def test_a_balanced_head_refuses_clips_without_one_named_speaker(monkeypatch):
    clips = _named_clips(["c/a", "", "c/a\nc/b", "c/c"])
    monkeypatch.setattr(speaker_head, "single_speaker_clips", lambda *a, **k: clips)
    conv = model_lib.build_model(TINY, RATE, SAMPLES, 2)
    with pytest.raises(AudioClfError, match=r"unused: a one-speaker clip names 0 speakers; "
                                            r"trainer.speaker_head_balance=speaker needs each clip's speaker"):
        speaker_head.with_fitted_head(conv, dataclasses.replace(TINY, speaker_head_balance="speaker"), SAMPLES,
                                      "unused", "pcm16", ["male", "female"])
