"""Perturbed copies of the train clips for distilling the speaker student (trainer.speaker_student_copies),
and, without the change of speed, for fitting the speaker head (trainer.speaker_head_copies).

The student (trainer/speaker_student.py) learns to give each window the GE2E teacher's embedding. Trained on
the train clips alone it sees only the train corpora's voices and channels, while the teacher was trained on
thousands of speakers and recordings; left out of training, speechocean762's phone-quality channel is where
recipe r32's student fell behind the teacher (README, "A distilled encoder"). Each copy here changes a clip as
a new speaker and a new microphone would, and the teacher embeds the changed audio, so no label is involved:

- speed: resampled by a factor in SPEED (linear interpolation), which moves F0 and formants together, a
  voice the corpora do not have; the tail left by a faster copy is silence;
- channel: the spectrum times a random smooth gain curve (EQ_DB at EQ_POINTS log-spaced frequencies), and on
  TELEPHONE_PROBABILITY of the copies only TELEPHONE_BAND passes;
- noise: white noise at an SNR in NOISE_SNR_DB on NOISE_PROBABILITY of the copies.

All of it is TensorFlow ops with stateless random numbers: `perturb(audio, seed)` gives the same copy for the
same seed.
"""
import math

import tensorflow as tf

from trainer.config import SPEAKER_ENCODER_SAMPLE_RATE as SAMPLE_RATE   # the teacher's and the student's rate

SPEED = (0.88, 1.12)
EQ_DB = 8.0
EQ_POINTS = 6
EQ_RANGE_HZ = (100.0, 8000.0)
TELEPHONE_PROBABILITY = 0.25
TELEPHONE_BAND = (300.0, 3400.0)
NOISE_PROBABILITY = 0.5
NOISE_SNR_DB = (15.0, 35.0)


def _uniform(seed, salt: int, low: float, high: float, shape=()):
    return tf.random.stateless_uniform(shape, seed=seed + tf.constant([0, salt], tf.int64), minval=low, maxval=high)


def _interpolate(values, position):
    """values [n] read at fractional `position`s (0 .. n - 1), linearly between neighbours."""
    left = tf.minimum(tf.cast(tf.floor(position), tf.int32), tf.shape(values)[0] - 2)
    fraction = position - tf.cast(left, tf.float32)
    return tf.gather(values, left) * (1.0 - fraction) + tf.gather(values, left + 1) * fraction


def change_speed(audio, factor):
    """audio [samples] played `factor` times as fast, same length: output sample i is input at i * factor."""
    n = tf.shape(audio)[0]
    where = tf.range(n, dtype=tf.float32) * factor
    inside = where < tf.cast(n - 1, tf.float32)
    return tf.where(inside, _interpolate(audio, tf.minimum(where, tf.cast(n - 1, tf.float32))), 0.0)


def gain_curve(seed, bins: int, telephone):
    """[bins] linear gains for an rfft of `bins` bins: a random curve in dB, linear in log frequency between
    EQ_POINTS anchors (flat beyond them), times the telephone band where `telephone`."""
    hz = tf.linspace(0.0, SAMPLE_RATE / 2.0, bins)
    log_hz = tf.math.log(tf.maximum(hz, EQ_RANGE_HZ[0]))
    anchors = tf.linspace(math.log(EQ_RANGE_HZ[0]), math.log(EQ_RANGE_HZ[1]), EQ_POINTS)
    db_at = _uniform(seed, 2, -EQ_DB, EQ_DB, (EQ_POINTS,))
    position = (log_hz - anchors[0]) / (anchors[1] - anchors[0])
    db = _interpolate(db_at, tf.clip_by_value(position, 0.0, EQ_POINTS - 1.0))
    gain = tf.pow(10.0, db / 20.0)
    band = tf.cast(tf.logical_and(hz >= TELEPHONE_BAND[0], hz <= TELEPHONE_BAND[1]), tf.float32)
    return tf.where(telephone, gain * band, gain)


def perturb(audio, seed, speed: bool = True):
    """audio [samples] float32 at 16 kHz -> a perturbed copy of the same length; `seed`: int64 [2]. Without
    `speed`, only the channel changes (the voice, F0 and formants, stays)."""
    seed = tf.cast(seed, tf.int64)
    if speed:
        audio = change_speed(audio, _uniform(seed, 1, *SPEED))
    spectrum = tf.signal.rfft(audio)
    telephone = _uniform(seed, 3, 0.0, 1.0) < TELEPHONE_PROBABILITY
    gains = gain_curve(seed, tf.shape(spectrum)[0], telephone)
    audio = tf.signal.irfft(spectrum * tf.cast(gains, tf.complex64), fft_length=tf.shape(audio)[:1])
    rms = tf.sqrt(tf.reduce_mean(tf.square(audio)) + 1e-12)
    snr_db = _uniform(seed, 4, *NOISE_SNR_DB)
    noise = tf.random.stateless_normal(tf.shape(audio), seed=seed + tf.constant([0, 5], tf.int64))
    noisy = _uniform(seed, 6, 0.0, 1.0) < NOISE_PROBABILITY
    audio = audio + tf.where(noisy, rms * tf.pow(10.0, -snr_db / 20.0), 0.0) * noise
    peak = tf.reduce_max(tf.abs(audio))
    return tf.where(peak > 1.0, audio / peak, audio)


def with_copies(clips: tf.data.Dataset, copies: int, seed: int, speed: bool = True) -> tf.data.Dataset:
    """`clips` (a dataset of audio, or of (audio, label): the label is kept) followed by `copies` perturbed
    passes over it, each clip of each pass with its own seed (the run's `seed`, the pass, the clip's index)."""
    joined = clips
    for copy in range(1, copies + 1):
        def changed(index, item, copy=copy):
            audio, rest = (item[0], item[1:]) if isinstance(item, tuple) else (item, ())
            changed_audio = perturb(audio, tf.stack([tf.constant(seed * 1000 + copy, tf.int64), index]), speed)
            return (changed_audio, *rest) if rest else changed_audio
        joined = joined.concatenate(clips.enumerate().map(changed, num_parallel_calls=tf.data.AUTOTUNE))
    return joined
