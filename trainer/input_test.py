"""tf.data input over real Examples written by the Audio ExampleGen executor."""
import numpy as np
import pytest
import tensorflow as tf
from sample_artifacts import write_examples  # tests/sample_artifacts.py
from components.common.errors import AudioClfError
from trainer import input as input_lib

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["pcm16", "float"])
def examples(request, tmp_path_factory):
    output = write_examples(tmp_path_factory.mktemp("input"), 8000, 1.0, {"train": 6, "eval": 3, "test": 3},
                            encoding=request.param)
    return output.uri, request.param


def test_eval_dataset_reads_every_clip_once(examples):
    uri, encoding = examples
    batches = list(input_lib.make_dataset(f"{uri}/Split-eval/*", encoding, 8000, batch_size=2, training=False))
    audio = np.concatenate([a.numpy() for a, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches])
    assert audio.shape == (3, 8000) and audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
    assert sorted(labels.tolist()) == [0, 0, 1]


def test_training_dataset_repeats_with_full_batches_and_caches(examples, tmp_path):
    uri, encoding = examples
    dataset = input_lib.make_dataset(f"{uri}/Split-train/*", encoding, 8000, batch_size=4, training=True,
                                     cache=str(tmp_path / "cache"), seed=0)
    shapes = [tuple(a.shape) for a, _ in dataset.take(5)]  # 20 examples from 6: it repeats
    assert shapes == [(4, 8000)] * 5
    assert list(tmp_path.glob("cache*"))


def test_wrong_clip_length_fails_and_missing_files_are_named(examples):
    uri, encoding = examples
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        list(input_lib.make_dataset(f"{uri}/Split-eval/*", encoding, 4000, batch_size=1, training=False))
    with pytest.raises(AudioClfError, match="no TFRecord files match"):
        input_lib.make_dataset(f"{uri}/Split-nothing/*", encoding, 8000, batch_size=1, training=False)


def test_count_records_and_batch_parse_match_the_dataset(examples):
    uri, encoding = examples
    assert input_lib.count_records(f"{uri}/Split-train/*") == 6
    records = list(tf.data.TFRecordDataset(tf.io.gfile.glob(f"{uri}/Split-eval/*"), compression_type="GZIP"))
    audio, labels = input_lib.parse_examples(tf.stack(records), encoding, 8000)
    batches = list(input_lib.make_dataset(f"{uri}/Split-eval/*", encoding, 8000, batch_size=8, training=False))
    # Same clips, same labels (the dataset interleaves the shards, so compare them in a fixed order).
    def ordered(a, y):
        order = np.lexsort(a.numpy().T[::-1])
        return a.numpy()[order], y.numpy()[order]
    for got, want in zip(ordered(audio, labels), ordered(*batches[0])):
        np.testing.assert_array_equal(got, want)
