"""tf.data input from the Examples artifact's gzip TFRecord shards.

Parallel reads and parse (AUTOTUNE), optional cache (in memory or at a path), shuffle, batch,
prefetch, and repeat for training with explicit steps per epoch. Yields (audio [batch, samples], label).
"""
from typing import Optional, Sequence, Union

import tensorflow as tf

from components.common import example_format
from pipeline.errors import AudioClfError


def _parser(encoding: str, clip_samples: int):
    spec = {example_format.LABEL: tf.io.FixedLenFeature([], tf.int64),
            example_format.AUDIO: (tf.io.FixedLenFeature([], tf.string) if encoding == "pcm16"
                                   else tf.io.FixedLenFeature([clip_samples], tf.float32))}

    def parse(record):
        features = tf.io.parse_single_example(record, spec)
        audio = features[example_format.AUDIO]
        if encoding == "pcm16":
            audio = tf.cast(tf.io.decode_raw(audio, tf.int16, little_endian=True), tf.float32) / 32767.0
        # A clip of another length (or sample rate) fails here, naming the expected size.
        audio = tf.ensure_shape(audio, [clip_samples])
        return audio, features[example_format.LABEL]

    return parse


def make_dataset(file_patterns: Union[str, Sequence[str]], encoding: str, clip_samples: int, batch_size: int,
                 training: bool, cache: Optional[str] = None, shuffle_buffer: int = 256,
                 seed: Optional[int] = None) -> tf.data.Dataset:
    """`cache`: None (no cache), "memory", or a file path prefix for an on-disk cache."""
    patterns = [file_patterns] if isinstance(file_patterns, str) else list(file_patterns)
    files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
    if not files:
        raise AudioClfError(f"no TFRecord files match {', '.join(patterns)}; is this an Examples artifact split?")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE)
    dataset = dataset.map(_parser(encoding, clip_samples), num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=not training)
    if cache == "memory":
        dataset = dataset.cache()
    elif cache:
        dataset = dataset.cache(cache)
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    return dataset.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)
