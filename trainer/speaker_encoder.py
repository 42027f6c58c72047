"""A pretrained speaker encoder inside the model: raw 16 kHz audio -> a 256-d speaker embedding.

The network is Resemblyzer's GE2E encoder (Wan et al., 2018; weights from PyPI `resemblyzer` 0.1.4,
Apache-2.0, trained to tell speakers apart on LibriSpeech train-other-500 and VoxCeleb 1 and 2; it never
saw a gender label): 40-band mel power frames of 25 ms every 10 ms -> three LSTM layers of 256 -> a
256 x 256 projection with ReLU -> unit length, over windows of 160 frames (1.6 s) that start every 77
frames; the window embeddings are averaged and scaled to unit length again. This module computes what
`VoiceEncoder.embed_utterance` computes on the same samples (no loudness normalization or VAD), with
TensorFlow ops only, so the exported model still takes raw audio and serving needs no extra code. The
weights are frozen; `scripts/convert_ge2e_weights.py` made `assets/ge2e_resemblyzer.npz` from the wheel.

bench/embedding_check.py measured why it is here: a logistic regression on these embeddings scores
0.938-0.940 on the cross-validation folds where the pitch rule scores 0.916-0.919 (README, "Model quality").

The three LSTMs are Keras layers (they hold the weights, under the layer's name in a saved model) but
run as TensorFlow's fused LSTM kernel (`BlockLSTMV2`, one op per layer for all 160 steps): the same
arithmetic, and on one core 30 % less time at the 2-6 windows a short file gives `predict`, where Keras's
loop of about twenty small ops per step is what costs (`python -m bench.encoder_speed`). XLA has no such
kernel, so under a TPUStrategy the Keras layers run instead (`fused_lstm_available`).
"""
import math
import os
from typing import Tuple

import numpy as np
import tensorflow as tf

from trainer.config import SPEAKER_ENCODER_SAMPLE_RATE as SAMPLE_RATE

N_FFT = 400              # 25 ms
HOP = 160                # 10 ms
N_MELS = 40
WINDOW_FRAMES = 160      # 1.6 s per window
WINDOWS_PER_SECOND = 1.3
RESEMBLYZER_STEP = int(round(SAMPLE_RATE / WINDOWS_PER_SECOND / HOP))   # 77 frames between window starts
MIN_COVERAGE = 0.75      # a last window less than 75 % covered by audio is dropped (unless it is the only one)
UNITS = 256
LAYERS = 3
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "ge2e_resemblyzer.npz")


def window_plan(samples: int, step: int = RESEMBLYZER_STEP, length: int = WINDOW_FRAMES) -> Tuple[int, int, int]:
    """(windows, frame step, mel frames needed) for a recording of `samples` samples, as Resemblyzer
    slices an utterance: frames centred every 10 ms over the audio zero-padded to the last window's end.
    A `step` of WINDOW_FRAMES gives windows that do not overlap: half the LSTM work of Resemblyzer's 77.
    A `length` under WINDOW_FRAMES gives shorter windows (fewer LSTM steps; a step over the length skips
    the frames between windows)."""
    frames = math.ceil((samples + 1) / HOP)
    windows = len(range(0, max(1, frames - length + step + 1), step))
    covered = (samples - (windows - 1) * step * HOP) / (length * HOP)
    if covered < MIN_COVERAGE and windows > 1:
        windows -= 1
    return windows, step, (windows - 1) * step + length


def _dft_matrices() -> Tuple[np.ndarray, np.ndarray]:
    """Real and imaginary parts of a 400-point real DFT with a periodic Hann window, [400, 201] each."""
    n = np.arange(N_FFT)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / N_FFT)
    angle = 2.0 * np.pi * np.outer(n, np.arange(N_FFT // 2 + 1)) / N_FFT
    return (window[:, None] * np.cos(angle)).astype(np.float32), (-window[:, None] * np.sin(angle)).astype(np.float32)


def fused_lstm_available() -> bool:
    """Whether the LSTMs may run as the fused kernel: everywhere but under a TPUStrategy (XLA, which TPUs
    compile every step with, has no BlockLSTMV2)."""
    tpu = (tf.distribute.TPUStrategy, tf.distribute.experimental.TPUStrategy)
    return not isinstance(tf.distribute.get_strategy(), tpu)


def keras_lstms(lstms, frames):
    """The stacked Keras `lstms` called one after the other, as Keras runs them: what run_lstms computes
    where the fused kernel cannot run (and what SpeakerEmbedding ran everywhere until 2026-12-05)."""
    for lstm in lstms:
        frames = lstm(frames)
    return frames


def run_lstms(lstms, frames):
    """(n, steps, features) -> (n, units): the stacked Keras `lstms`' last output, the last layer returning
    its last step only. Computed by BlockLSTMV2 (gate order i, f, c, o, no forget bias, no peepholes, no
    cell clip: the Keras LSTM's default sigmoid/tanh cell) where fused_lstm_available(), else by the layers."""
    if not fused_lstm_available():
        return keras_lstms(lstms, frames)
    x = tf.transpose(frames, [1, 0, 2])                                   # time-major, as the kernel reads it
    steps, batch = tf.cast(tf.shape(x)[0], tf.int64), tf.shape(x)[1]
    for layer, lstm in enumerate(lstms):
        cell = lstm.cell
        if (cell.activation is not tf.keras.activations.tanh or cell.recurrent_activation is not
                tf.keras.activations.sigmoid or not cell.use_bias or lstm.go_backwards
                or lstm.return_sequences != (layer < len(lstms) - 1)):
            raise ValueError(f"{lstm.name}: the fused kernel computes forward sigmoid/tanh LSTMs with biases, "
                             "all but the last returning sequences")
        zeros = tf.zeros([batch, cell.units], x.dtype)
        no_peephole = tf.zeros([cell.units], x.dtype)
        x = tf.raw_ops.BlockLSTMV2(seq_len_max=steps, x=x, cs_prev=zeros, h_prev=zeros,
                                   w=tf.concat([cell.kernel, cell.recurrent_kernel], axis=0), wci=no_peephole,
                                   wcf=no_peephole, wco=no_peephole, b=cell.bias, cell_clip=0.0,
                                   use_peephole=False)[6]                # h: [steps, n, units]
    return x[-1]


def _unit(x):
    return x / tf.maximum(tf.norm(x, axis=-1, keepdims=True), 1e-12)


def pool(window_embeddings, windows: int):
    """(batch x windows, 256) unit window embeddings -> (batch, 256): averaged per clip, unit length again."""
    return _unit(tf.reduce_mean(tf.reshape(window_embeddings, [-1, windows, UNITS]), axis=1))


class SpeakerEmbedding(tf.keras.layers.Layer):
    """(batch, clip_samples) raw audio at 16 kHz -> (batch, 256) unit-length GE2E speaker embedding; frozen.
    `window_frames` mel frames per window (Resemblyzer's 160), a window every `window_step` frames."""

    def __init__(self, clip_samples: int, weights_path: str = WEIGHTS, window_step: int = RESEMBLYZER_STEP,
                 window_frames: int = WINDOW_FRAMES, **kwargs):
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        self.clip_samples, self.weights_path, self.window_step = clip_samples, weights_path, window_step
        self.window_length = window_frames
        self.windows, self.step, self.frames = window_plan(clip_samples, window_step, window_frames)
        self._make_window_encoder()
        real, imag = _dft_matrices()
        self._dft = tf.constant(np.concatenate([real, imag], axis=1))     # [400, 402]
        self._mel = None

    def _make_window_encoder(self) -> None:
        """The layers that read a window's mel frames: GE2E's three LSTMs and its projection, frozen (no weight
        of them is trained, none gets a gradient)."""
        self.lstms = [tf.keras.layers.LSTM(UNITS, return_sequences=layer < LAYERS - 1, name=f"lstm{layer}")
                      for layer in range(LAYERS)]
        self.projection = tf.keras.layers.Dense(UNITS, activation="relu", name="projection")
        for sublayer in (*self.lstms, self.projection):
            sublayer.trainable = False

    def build(self, input_shape):
        if not os.path.isfile(self.weights_path):
            from components.common.errors import AudioClfError  # pylint: disable=import-outside-toplevel
            raise AudioClfError(f"{self.weights_path}: the speaker encoder's weights are missing; restore "
                                "trainer/assets/ from the repository (or set trainer.speaker_embedding=false).")
        with np.load(self.weights_path) as w:
            self.load_weights_from(w)
        super().build(input_shape)

    def load_weights_from(self, w) -> None:
        """Sets the LSTMs', the projection's and the mel filters' values from the weights file's arrays."""
        width = N_MELS
        for layer, lstm in enumerate(self.lstms):
            lstm.build((None, self.window_length, width))
            lstm.set_weights([w[f"lstm{layer}_kernel"], w[f"lstm{layer}_recurrent_kernel"], w[f"lstm{layer}_bias"]])
            width = UNITS
        self.projection.build((None, UNITS))
        self.projection.set_weights([w["projection_kernel"], w["projection_bias"]])
        self._mel = tf.constant(w["mel_filters"].T)                     # [201, 40]

    def mel_frames(self, audio):
        """(batch, samples) -> (batch, frames, 40) mel power frames centred every 10 ms (zero padding)."""
        total = (self.frames - 1) * HOP + N_FFT
        right = max(0, total - N_FFT // 2 - self.clip_samples)
        padded = tf.pad(audio, [[0, 0], [N_FFT // 2, right]])[:, :total]
        spectrum = tf.tensordot(tf.signal.frame(padded, N_FFT, HOP, axis=-1), self._dft, axes=[[2], [0]])
        real, imag = spectrum[..., :N_FFT // 2 + 1], spectrum[..., N_FFT // 2 + 1:]
        return tf.tensordot(tf.square(real) + tf.square(imag), self._mel, axes=[[2], [0]])

    def window_frames(self, audio):
        """(batch, samples) -> (batch x windows, window_frames, 40): each window's mel frames, the LSTMs' input."""
        mel = self.mel_frames(tf.cast(audio, tf.float32))
        starts = np.arange(self.windows) * self.step
        index = starts[:, None] + np.arange(self.window_length)[None, :]     # [windows, window_frames]
        return tf.reshape(tf.gather(mel, index, axis=1), [-1, self.window_length, N_MELS])

    def pool_windows(self, last_hidden):
        """(batch x windows, 256) last LSTM outputs -> (batch, 256): each window projected to unit length,
        averaged over the clip's windows, unit length again."""
        return pool(_unit(self.projection(last_hidden)), self.windows)

    def window_embeddings(self, audio):
        """(batch, samples) -> (batch x windows, 256): each window's unit-length embedding."""
        return _unit(self.projection(run_lstms(self.lstms, self.window_frames(audio))))

    def call(self, audio):
        return pool(self.window_embeddings(audio), self.windows)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], UNITS)

    def get_config(self):
        return {**super().get_config(), "clip_samples": self.clip_samples, "weights_path": self.weights_path,
                "window_step": self.window_step, "window_frames": self.window_length}


def for_trainer(config, clip_samples: int, name: str = "speaker_embedding") -> SpeakerEmbedding:
    """The encoder a TrainerConfig asks for (trainer.speaker_embedding_window_step and _window_frames)."""
    return SpeakerEmbedding(clip_samples, window_step=config.speaker_embedding_window_step,
                            window_frames=config.speaker_embedding_window_frames, name=name)
