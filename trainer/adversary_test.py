"""The speaker adversary: the gradient reversal, the speaker targets, and training with it end to end
(the adversary's head trains, the conv blocks get its reversed gradient, only the classifier is exported)."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from sample_artifacts import write_examples  # tests/sample_artifacts.py
from components.common import example_format
from trainer import adversary, export, task
from trainer import input as input_lib
from trainer import model as model_lib
from trainer.task_test import SAMPLES, TINY, settings


def test_reversal_is_the_identity_forward_and_flips_the_gradient_backward():
    x = tf.constant([1.0, -2.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = adversary.reverse_gradient(x, tf.constant(0.25))
        loss = tf.reduce_sum(y * tf.constant([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(y.numpy(), x.numpy())
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), [-0.25, -0.5, -0.75])


def test_ramp_starts_at_zero_and_approaches_one():
    values = adversary.ramp(tf.constant([0.0, 0.2, 0.5, 1.0])).numpy()
    assert values[0] == 0.0 and 0.7 < values[1] < 0.8 and values[2] > 0.98 and values[3] > 0.999
    assert np.all(np.diff(values) > 0)


def test_speaker_targets_share_the_weight_between_the_clips_speakers():
    target = input_lib.speaker_targets(tf.constant(["librispeech-mini/19", "vctk-mini/p225"]), 1024).numpy()
    assert target.shape == (1024,) and target.sum() == pytest.approx(1.0)
    assert sorted(target[target > 0].tolist()) == [0.5, 0.5]
    alone = input_lib.speaker_targets(tf.constant(["librispeech-mini/19"]), 1024).numpy()
    assert alone.max() == 1.0 and alone.argmax() in np.flatnonzero(target)   # the same bucket in every clip


def test_a_clip_without_speakers_is_a_clear_error():
    with pytest.raises(tf.errors.InvalidArgumentError, match="no 'speakers' feature.*speaker_adversary: 0"):
        input_lib.speaker_targets(tf.constant([], dtype=tf.string), 16)


def test_the_wrapper_is_the_classifier_when_called():
    classifier = model_lib.build_model(TINY, 8000, SAMPLES, 2)
    wrapped = adversary.SpeakerAdversarialModel(classifier, 0.1, 16, 8, total_steps=10)
    audio = tf.random.normal([2, SAMPLES]) * 0.1
    np.testing.assert_allclose(wrapped(audio, training=False).numpy(), classifier(audio, training=False).numpy())


@pytest.mark.slow
def test_training_with_the_adversary_exports_the_classifier_alone(tmp_path):
    examples = write_examples(tmp_path / "examples", 8000, 1.0, {"train": 12, "eval": 6, "test": 4}).uri
    first = next(iter(tf.data.TFRecordDataset(tf.io.gfile.glob(f"{examples}/Split-train/*"), compression_type="GZIP")))
    speakers = tf.train.Example.FromString(first.numpy()).features.feature[example_format.SPEAKERS].bytes_list.value
    assert speakers and all(b"/" in s for s in speakers)   # "corpus/speaker", as the ExampleGen writes them
    config = dataclasses.replace(TINY, speaker_adversary=0.5, speaker_buckets=32, speaker_head_units=8, epochs=2,
                                 patience=5)
    model, result = task.train(settings(config), [f"{examples}/Split-train/*"], [f"{examples}/Split-eval/*"],
                               str(tmp_path / "serving"), str(tmp_path / "run"))
    history = result["history"]
    # The adversary's loss is reported for training only; the eval loss early stopping watches is the classifier's.
    assert len(history[adversary.SPEAKER_LOSS]) == 2 and all(v > 0 for v in history[adversary.SPEAKER_LOSS])
    assert "val_" + adversary.SPEAKER_LOSS not in history and task.EVAL_LOSS in history
    assert not isinstance(model, adversary.SpeakerAdversarialModel)
    saved = [name for name, _ in tf.train.list_variables(str(tmp_path / "serving" / "variables" / "variables"))
             if name.endswith("VARIABLE_VALUE")]
    assert len(saved) == len(model.variables) and not any("speaker" in name for name in saved), saved
    loaded = tf.saved_model.load(str(tmp_path / "serving"))
    audio = tf.random.normal([2, SAMPLES]) * 0.1
    np.testing.assert_allclose(loaded.signatures[export.CLASSIFY_AUDIO](audio=audio)[export.OUTPUT_KEY].numpy(),
                               model(audio, training=False).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_the_conv_blocks_receive_the_reversed_speaker_gradient(tmp_path):
    """One step with the adversary at full scale changes the first conv block differently from a step
    without it: the reversed gradient reaches the features (and the head itself learns)."""
    examples = write_examples(tmp_path / "examples", 8000, 1.0, {"train": 8, "eval": 4, "test": 4}).uri
    files = f"{examples}/Split-train/*"
    batch = next(iter(input_lib.make_dataset(files, "pcm16", SAMPLES, 4, training=True, seed=0, speaker_buckets=16)))
    audio, (labels, _) = batch

    def one_step(scale):
        tf.keras.utils.set_random_seed(3)
        classifier = model_lib.build_model(dataclasses.replace(TINY, dropout=0.0), 8000, SAMPLES, 2)
        wrapped = adversary.SpeakerAdversarialModel(classifier, scale, 16, 8, total_steps=1)
        model_lib.compile_model(wrapped, TINY, num_classes=2)
        wrapped.optimizer.iterations.assign(1)   # past the ramp: the full scale
        wrapped.train_step((audio, (labels, batch[1][1])))
        return classifier.get_layer("conv0").kernel.numpy(), wrapped

    without, _ = one_step(0.0)
    reversed_, wrapped = one_step(1.0)
    assert not np.allclose(without, reversed_)
    assert all(np.isfinite(w.numpy()).all() for w in wrapped.speaker_head.weights)


@pytest.mark.slow
def test_the_adversary_trains_under_a_distribution_strategy():
    """train_step's own loss and metric run in a replica context (MirroredStrategy), as on a multi-GPU
    machine or across TFJob workers (not verified on a GPU: this machine has none)."""
    audio = tf.random.normal([8, SAMPLES]) * 0.1
    targets = tf.one_hot([0, 1, 2, 3] * 2, 16)
    data = tf.data.Dataset.from_tensor_slices((audio, (tf.constant([0, 1] * 4, tf.int64), targets))).batch(4)
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        wrapped = adversary.SpeakerAdversarialModel(model_lib.build_model(TINY, 8000, SAMPLES, 2), 0.5, 16, 8,
                                                    total_steps=2)
        model_lib.compile_model(wrapped, TINY, num_classes=2)
    history = wrapped.fit(data, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0]) and history[adversary.SPEAKER_LOSS][0] > 0
