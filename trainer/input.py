"""tf.data input from the Examples artifact's gzip TFRecord shards.

Parallel reads and parse (AUTOTUNE), optional cache (in memory or at a path), shuffle, batch,
prefetch, and repeat for training with explicit steps per epoch. Yields (audio [batch, samples], label), or
(audio, (label, speaker targets [batch, buckets])) for a model trained with the speaker adversary.
"""
from typing import Optional, Sequence, Union

import tensorflow as tf

from components.common import example_format
from components.common.errors import AudioClfError


def audio_feature_spec(encoding: str, clip_samples: int):
    return (tf.io.FixedLenFeature([], tf.string) if encoding == "pcm16"
            else tf.io.FixedLenFeature([clip_samples], tf.float32))


def to_float_audio(audio: tf.Tensor, encoding: str, clip_samples: int) -> tf.Tensor:
    """The parsed audio feature (one clip, or a batch of clips) as float32 samples in [-1, 1]."""
    if encoding == "pcm16":
        audio = tf.cast(tf.io.decode_raw(audio, tf.int16, little_endian=True), tf.float32) / 32767.0
    # A clip of another length (or sample rate) fails here, naming the expected size.
    return tf.ensure_shape(audio, [None] * (audio.shape.rank - 1) + [clip_samples])


def parse_examples(serialized: tf.Tensor, encoding: str, clip_samples: int, with_label: bool = True):
    """A batch of serialized tf.Examples -> audio [batch, clip_samples] (and labels [batch])."""
    spec = {example_format.AUDIO: audio_feature_spec(encoding, clip_samples)}
    if with_label:
        spec[example_format.LABEL] = tf.io.FixedLenFeature([], tf.int64)
    features = tf.io.parse_example(serialized, spec)
    audio = to_float_audio(features[example_format.AUDIO], encoding, clip_samples)
    return (audio, features[example_format.LABEL]) if with_label else audio


MISSING_SPEAKERS = ("a training Example has no 'speakers' feature, which trainer.speaker_adversary needs: "
                    "these Examples were written before it existed; run the pipeline again from the ExampleGen, "
                    "or set trainer.speaker_adversary: 0")


def speaker_targets(speakers: tf.Tensor, buckets: int) -> tf.Tensor:
    """A clip's speaker ids (strings) -> [buckets] target distribution: equal weight on each speaker's bucket."""
    hits = tf.one_hot(tf.strings.to_hash_bucket_fast(speakers, buckets), buckets)
    with tf.control_dependencies([tf.debugging.assert_positive(tf.size(speakers), message=MISSING_SPEAKERS)]):
        return tf.reduce_sum(hits, axis=0) / tf.cast(tf.size(speakers), tf.float32)


def _parser(encoding: str, clip_samples: int, speaker_buckets: int = 0):
    """Parses one record to (audio, label), or with speaker_buckets to (audio, (label, speaker targets))."""
    spec = {example_format.LABEL: tf.io.FixedLenFeature([], tf.int64),
            example_format.AUDIO: audio_feature_spec(encoding, clip_samples)}
    if speaker_buckets:
        spec[example_format.SPEAKERS] = tf.io.VarLenFeature(tf.string)

    def parse(record):
        features = tf.io.parse_single_example(record, spec)
        audio = to_float_audio(features[example_format.AUDIO], encoding, clip_samples)
        label = features[example_format.LABEL]
        if not speaker_buckets:
            return audio, label
        return audio, (label, speaker_targets(features[example_format.SPEAKERS].values, speaker_buckets))

    return parse


def count_records(file_patterns: Union[str, Sequence[str]]) -> int:
    """Number of records in the gzip TFRecord files (read once, not parsed)."""
    return int(tf.data.TFRecordDataset(list_files(file_patterns), compression_type="GZIP")
               .reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


def list_files(file_patterns: Union[str, Sequence[str]]):
    patterns = [file_patterns] if isinstance(file_patterns, str) else list(file_patterns)
    files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
    if not files:
        raise AudioClfError(f"no TFRecord files match {', '.join(patterns)}; is this an Examples artifact split?")
    return files


def make_dataset(file_patterns: Union[str, Sequence[str]], encoding: str, clip_samples: int, batch_size: int,
                 training: bool, cache: Optional[str] = None, shuffle_buffer: int = 256,
                 seed: Optional[int] = None, speaker_buckets: int = 0) -> tf.data.Dataset:
    """`cache`: None (no cache), "memory", or a file path prefix for an on-disk cache. With `speaker_buckets`,
    the labels are (label, speaker targets) pairs for the speaker adversary (trainer/adversary.py)."""
    dataset = tf.data.TFRecordDataset(list_files(file_patterns), compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE)
    dataset = dataset.map(_parser(encoding, clip_samples, speaker_buckets), num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=not training)
    if cache == "memory":
        dataset = dataset.cache()
    elif cache:
        dataset = dataset.cache(cache)
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=training)
    # Under MultiWorkerMirroredStrategy each worker takes every n-th batch (the shards are too few
    # and too uneven to split by file).
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
