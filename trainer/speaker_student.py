"""A smaller speaker encoder distilled from the GE2E one while training (trainer.speaker_embedding_encoder:
distilled), for `predict` speed.

The GE2E encoder (trainer/speaker_encoder.py) reads each 1.6 s window with three LSTM layers of 256, 480
sequential steps, and costs `predict` about three times what the conv model does. The student reads the
same window's 40 mel bands (log10) with two 1-D convolutions (the second with stride 4) and one GRU of 256
over the 40 steps left, then a dense layer and unit length: 7-12x faster at predict's 1-3 clips per call
(bench/encoder_speed.py). It is trained here, after the conv model, on the *train split's* clips only: each
window (160 frames, one every 40) gets the frozen teacher's unit embedding as its target (cosine loss; no
label is used), so no eval or test speaker's audio reaches it. bench/distill_check.py measured the idea
on the k-fold folds before it was built (README, "A distilled encoder").

`distill` returns a frozen `StudentEmbedding`: the teacher's framing (the same mel frames and windows) with
the student network in place of the LSTMs, which the fitted head (trainer/speaker_head.py) then uses as its
encoder, and which the exported model carries instead of the teacher.
"""
import logging
import math
import time
from typing import Dict, Tuple

import numpy as np
import tensorflow as tf

from trainer.speaker_encoder import N_MELS, UNITS, WINDOW_FRAMES, SpeakerEmbedding

log = logging.getLogger(__name__)

TRAIN_STEP = 40          # frames between the training windows' starts (8 windows per 4 s clip)
CHANNELS, KERNELS, STRIDES = 128, (5, 4), (1, 4)
BATCH = 64
EMBED_BATCH = 32
LEARNING_RATE = 1e-3
LOW_RATE_FROM = 0.75     # share of the epochs after which the learning rate drops to 30 %
LOG_FLOOR = 1e-6         # mel power floor before log10
LAYER_NAME = "speaker_student_embedding"   # the student layer in the model the Trainer exports


def network(mean: float, std: float, channels: int = CHANNELS, kernels=KERNELS, strides=STRIDES,
            units: int = UNITS, recurrent: bool = True) -> tf.keras.Model:
    """(windows, 160, 40) log10 mel power -> (windows, 256) unit embeddings; `mean`, `std` standardize the input
    (the train windows' own). Without `recurrent`, mean and standard deviation over time replace the GRU."""
    inputs = tf.keras.Input((WINDOW_FRAMES, N_MELS))
    x = (inputs - mean) / std
    for kernel, stride in zip(kernels, strides):
        x = tf.keras.layers.Conv1D(channels, kernel, strides=stride, padding="same", activation="relu")(x)
        x = tf.keras.layers.LayerNormalization()(x)
    if recurrent:
        x = tf.keras.layers.GRU(units)(x)
    else:
        mu, var = tf.nn.moments(x, axes=[1])
        x = tf.keras.layers.Concatenate()([mu, tf.sqrt(var + 1e-6)])
    x = tf.keras.layers.Dense(UNITS, activation="relu")(x)
    x = tf.keras.layers.Dense(UNITS)(x)
    return tf.keras.Model(inputs, tf.math.l2_normalize(x, axis=-1), name="speaker_student")


def log_mel(window_frames):
    return tf.math.log(window_frames + LOG_FLOOR) / math.log(10.0)


class StudentEmbedding(SpeakerEmbedding):
    """(batch, clip_samples) raw 16 kHz audio -> (batch, 256) unit embedding: the teacher's windows, the
    distilled student network on each, pooled as the teacher pools; frozen."""

    def __init__(self, clip_samples: int, window_step: int, mean: float = 0.0, std: float = 1.0, **kwargs):
        super().__init__(clip_samples, window_step=window_step, window_frames=WINDOW_FRAMES, **kwargs)
        self.mean, self.std = float(mean), float(std)
        self.student = network(self.mean, self.std)
        self.student.trainable = False

    def _make_window_encoder(self) -> None:   # the student (built next, once mean and std are set) replaces GE2E's
        self.lstms, self.projection = [], None

    def load_weights_from(self, w) -> None:
        self._mel = tf.constant(w["mel_filters"].T)       # the teacher's mel filters; the LSTMs are not used

    def window_embeddings(self, audio):   # the teacher's `call` pools these as it pools its own
        return self.student(log_mel(self.window_frames(audio)))

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


def _training_windows(teacher: SpeakerEmbedding, clips: tf.data.Dataset) -> Tuple[np.ndarray, np.ndarray]:
    """(log10 mel windows [n, 160, 40], the teacher's unit embeddings [n, 256]) of every window, one every
    TRAIN_STEP frames, of every clip of `clips` (a dataset of audio)."""
    dense = SpeakerEmbedding(teacher.clip_samples, weights_path=teacher.weights_path, window_step=TRAIN_STEP)
    dense.build((None, teacher.clip_samples))

    @tf.function(reduce_retracing=True)
    def windows_and_targets(audio):
        return log_mel(dense.window_frames(audio)), dense.window_embeddings(audio)

    mels, targets = [], []
    for step, audio in enumerate(clips.batch(EMBED_BATCH).prefetch(tf.data.AUTOTUNE)):
        mel, target = windows_and_targets(audio)
        mels.append(mel.numpy().astype(np.float16))
        targets.append(target.numpy())
        if (step + 1) % 10 == 0:
            log.info("speaker student: the teacher embedded %d windows", sum(len(t) for t in targets))
    if not targets:
        return np.zeros((0, WINDOW_FRAMES, N_MELS), np.float16), np.zeros((0, UNITS), np.float32)
    return np.concatenate(mels), np.concatenate(targets)


def train(net: tf.keras.Model, x, y=None, epochs: int = 1, say=log.info) -> float:
    """Fits `net` to give the teacher's unit embeddings: cosine loss, Adam at LEARNING_RATE, 30 % of it after
    LOW_RATE_FROM of the epochs. `x`, `y` are arrays (batches of BATCH, shuffled) or `x` a dataset of
    (windows, targets) batches. Returns the last epoch's cosine to the teacher."""
    net.compile(optimizer=tf.keras.optimizers.Adam(LEARNING_RATE), loss=tf.keras.losses.CosineSimilarity())
    low_from = int(epochs * LOW_RATE_FROM)
    started = time.monotonic()
    callbacks = [
        tf.keras.callbacks.LearningRateScheduler(lambda epoch, rate: LEARNING_RATE * (0.3 if epoch >= low_from else 1.0)),
        tf.keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: say(
            f"speaker student: epoch {epoch + 1}/{epochs}, cosine to the teacher {-logs['loss']:.3f}, "
            f"{time.monotonic() - started:.0f} s"))]
    arrays = dict(batch_size=BATCH, shuffle=True) if y is not None else {}
    history = net.fit(x, y, epochs=epochs, callbacks=callbacks, verbose=0, **arrays)
    return -float(history.history["loss"][-1])


def distill(teacher: SpeakerEmbedding, clips: tf.data.Dataset, epochs: int, seed: int) -> Tuple[StudentEmbedding, Dict]:
    """The student trained to give each window of `clips` the teacher's embedding, as a frozen layer with the
    teacher's clip length and window step; and what the distillation saw and reached."""
    from components.common.errors import AudioClfError  # pylint: disable=import-outside-toplevel
    started = time.monotonic()
    x, y = _training_windows(teacher, clips)
    if len(x) < BATCH:
        raise AudioClfError(f"trainer.speaker_embedding_encoder=distilled: the train split gave {len(x)} speaker "
                            f"encoder windows, under one batch of {BATCH}, to distill a student from; make more "
                            "train clips (synthesis.clips.train) or set speaker_embedding_encoder=ge2e.")
    x = x.astype(np.float32)
    mean, std = float(x.mean()), float(x.std()) or 1.0
    tf.keras.utils.set_random_seed(seed)
    net = network(mean, std)
    log.info("speaker student: distilling from %d windows of the train clips, %d epochs", len(x), epochs)
    cosine = train(net, x, y, epochs)
    student = StudentEmbedding(teacher.clip_samples, window_step=teacher.window_step, mean=mean, std=std,
                               weights_path=teacher.weights_path, name=LAYER_NAME)
    student.build((None, teacher.clip_samples))
    student.student.set_weights(net.get_weights())
    info = {"windows": int(len(x)), "epochs": epochs, "train_cosine": round(cosine, 4),
            "seconds": round(time.monotonic() - started, 1)}
    log.info("speaker student: distilled in %.0f s; cosine to the teacher on its train windows %.3f",
             info["seconds"], info["train_cosine"])
    return student, info
