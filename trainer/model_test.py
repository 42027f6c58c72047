"""The kapre model: layers in the post's order, shapes, and that it learns."""
import numpy as np
import tensorflow as tf

from pipeline.config import TrainerConfig
from trainer import model as model_lib

TINY = TrainerConfig(n_fft=256, hop_length=128, n_mels=16, frame_length=8, frame_hop=4,
                     conv_filters=[4, 4, 8, 8], dropout=0.0, learning_rate=3e-3)
RATE, SAMPLES = 8000, 8000


def test_uses_tf_keras_not_keras3():
    """TF_USE_LEGACY_KERAS=1 (set by our packages) makes tf.keras the tf_keras package (Keras 2)."""
    assert tf.keras.Model.__module__.startswith("tf_keras.")


def test_layers_and_shapes():
    model = model_lib.build_model(TINY, RATE, SAMPLES, num_classes=2)
    names = [layer.name for layer in model.layers]
    assert names.index("mel_spectrogram") < names.index("delta") < names.index("segments") < names.index("conv0")
    assert [n for n in names if n.startswith("conv")] == ["conv0", "conv1", "conv2", "conv3"]
    assert model.get_layer("mel_and_delta").output.shape[-1] == 2  # mel and delta as two channels
    segments = model.get_layer("segments").output.shape
    assert segments[2:] == (8, 16, 2)  # (segments, frame_length, mels, channels)
    assert model.get_layer("conv0").output.shape.rank == 5
    probabilities = model(np.random.default_rng(0).normal(size=(3, SAMPLES)).astype(np.float32))
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities.numpy().sum(axis=1), 1.0, rtol=1e-5)


def test_learns_low_versus_high_pitch():
    """Two tones an octave and a half apart: a few epochs must separate them (the task in miniature)."""
    rng = np.random.default_rng(1)
    t = np.arange(SAMPLES) / RATE
    x, y = [], []
    for i in range(64):
        label = i % 2
        f0 = rng.uniform(100, 140) if label == 0 else rng.uniform(200, 260)
        wave = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 6))
        x.append((0.2 * wave + 0.01 * rng.normal(size=SAMPLES)).astype(np.float32))
        y.append(label)
    model = model_lib.compile_model(model_lib.build_model(TINY, RATE, SAMPLES, num_classes=2), TINY)
    history = model.fit(np.stack(x), np.array(y), epochs=8, batch_size=16, verbose=0)
    assert history.history["sparse_categorical_accuracy"][-1] >= 0.9


def test_mean_normalization_removes_a_fixed_band_offset():
    """A recording-channel response (a fixed dB offset per mel band) does not reach the convolutions."""
    layer = model_lib.MeanNormalization()
    spectrogram = np.random.default_rng(2).normal(size=(2, 30, 16, 1)).astype(np.float32)
    offset = np.linspace(-20, 20, 16, dtype=np.float32)[None, None, :, None]
    out, shifted = layer(spectrogram).numpy(), layer(spectrogram + offset).numpy()
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out, shifted, atol=1e-4)
    model = model_lib.build_model(TrainerConfig(**{**TINY.__dict__, "mean_normalization": True}), RATE, SAMPLES, 2)
    names = [layer.name for layer in model.layers]
    assert names.index("mel_spectrogram") < names.index("mean_normalization") < names.index("delta")
