"""The tf.train.Example layout of a clip, shared by the ExampleGen (writer) and the trainer (reader)."""
import numpy as np
import tensorflow as tf

from components.common import audio

AUDIO = "audio"              # pcm16: little-endian int16 bytes; float: float_list in [-1, 1]
SAMPLE_RATE = "sample_rate"
LABEL = "label"
NUM_SAMPLES = "num_samples"
MODE = "mode"                # vocabulary.CROP, SIMULTANEOUS or SEQUENTIAL
NUM_SPEAKERS = "num_speakers"
# The clip's speakers ("corpus/speaker"), for the trainer's speaker adversary (trainer/adversary.py); the
# splits hold different speakers by design, so the schema gives it no domain (schema_curation).
SPEAKERS = "speakers"

ENCODINGS = ("pcm16", "float")


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def make_example(pcm: np.ndarray, sample_rate: int, meta: dict, encoding: str) -> tf.train.Example:
    """`pcm`: int16 samples of one clip; `meta`: its manifest line."""
    if encoding == "pcm16":
        audio_feature = _bytes(pcm.astype("<i2").tobytes())
    else:
        audio_feature = tf.train.Feature(float_list=tf.train.FloatList(value=audio.from_pcm16(pcm)))
    return tf.train.Example(features=tf.train.Features(feature={
        AUDIO: audio_feature,
        SAMPLE_RATE: _int(sample_rate),
        LABEL: _int(meta["label"]),
        NUM_SAMPLES: _int(len(pcm)),
        MODE: _bytes(meta["mode"].encode()),
        NUM_SPEAKERS: _int(meta["num_speakers"]),
        SPEAKERS: tf.train.Feature(bytes_list=tf.train.BytesList(value=[s.encode() for s in meta["speakers"]])),
    }))


def decode_audio_feature(example: tf.train.Example) -> np.ndarray:
    """float32 samples of a parsed Example, whichever encoding it uses."""
    feature = example.features.feature[AUDIO]
    if feature.HasField("bytes_list"):
        return audio.from_pcm16(np.frombuffer(feature.bytes_list.value[0], dtype="<i2"))
    return np.asarray(feature.float_list.value, dtype=np.float32)
