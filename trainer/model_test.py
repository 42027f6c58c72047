"""The kapre model: layers in the post's order, shapes, and that it learns."""
import numpy as np
import pytest
import tensorflow as tf

from trainer.config import TrainerConfig
from trainer import model as model_lib

TINY = TrainerConfig(n_fft=256, hop_length=128, n_mels=16, frame_length=8, frame_hop=4,
                     conv_filters=[4, 4, 8, 8], dropout=0.0, learning_rate=3e-3)
RATE, SAMPLES = 8000, 8000


def test_the_posts_model_is_still_a_setting():
    """pitch channel and histogram off, global max pooling: the blog post's two channels and pooling."""
    post = TrainerConfig(**{**TINY.__dict__, "pitch_channel": False, "pitch_histogram": False, "pooling": "max"})
    model = model_lib.build_model(post, RATE, SAMPLES, num_classes=2)
    assert model.get_layer("mel_and_delta").output.shape[-1] == 2
    assert not {"cepstrum_at_bins", "cepstral_pitch", "pitch_histogram"} & {layer.name for layer in model.layers}
    assert model.get_layer("global_max_pool").output.shape[-1] == post.conv_filters[-1]


def test_uses_tf_keras_not_keras3():
    """TF_USE_LEGACY_KERAS=1 (set by our packages) makes tf.keras the tf_keras package (Keras 2)."""
    assert tf.keras.Model.__module__.startswith("tf_keras.")


def test_layers_and_shapes():
    """The default recipe: mel, delta and the pitch map as three channels, pooled over time only, and the
    pitch histogram beside the pooled features."""
    model = model_lib.build_model(TINY, RATE, SAMPLES, num_classes=2)
    names = [layer.name for layer in model.layers]
    assert names.index("mel_spectrogram") < names.index("delta") < names.index("segments") < names.index("conv0")
    assert names.index("cepstrum_at_bins") < names.index("cepstral_pitch") < names.index("mel_and_delta")
    assert names.count("cepstrum_at_bins") == 1   # one cepstrum feeds the pitch map and the histogram
    assert model.get_layer("pitch_histogram").input is model.get_layer("cepstral_pitch").input
    assert [n for n in names if n.startswith("conv")] == ["conv0", "conv1", "conv2", "conv3"]
    assert model.get_layer("mel_and_delta").output.shape[-1] == 3  # mel, delta and pitch map
    segments = model.get_layer("segments").output.shape
    assert segments[2:] == (8, 16, 3)  # (segments, frame_length, mels, channels)
    assert "time_pool" in names and "global_max_pool" not in names
    assert model.get_layer("pooled_and_pitch").output.shape[-1] == 2 * TINY.conv_filters[-1] + TINY.n_mels
    assert model.get_layer("conv0").output.shape.rank == 5
    probabilities = model(np.random.default_rng(0).normal(size=(3, SAMPLES)).astype(np.float32))
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities.numpy().sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
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
    model = model_lib.build_model(TrainerConfig(**{**TINY.__dict__, "normalization": "band_mean"}), RATE, SAMPLES, 2)
    names = [layer.name for layer in model.layers]
    assert names.index("mel_spectrogram") < names.index("mean_normalization") < names.index("delta")


def test_max_normalization_is_gain_invariant_and_keeps_the_envelope():
    layer = model_lib.MaxNormalization()
    spectrogram = np.random.default_rng(3).normal(size=(2, 30, 16, 1)).astype(np.float32)
    louder = spectrogram + 12.0   # +12 dB: the same voice, louder
    np.testing.assert_allclose(layer(spectrogram).numpy(), layer(louder).numpy(), atol=1e-4)
    def bands(x):   # each band's mean over time, relative to the clip's mean band: the envelope
        envelope = x.mean(axis=1)
        return envelope - envelope.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(bands(layer(spectrogram).numpy()), bands(spectrogram), atol=1e-4)


def test_spec_augment_masks_only_while_training():
    layer = model_lib.SpecAugment(time_masks=2, time_width=5, freq_masks=2, freq_width=3)
    x = np.random.default_rng(4).normal(size=(4, 40, 16, 2)).astype(np.float32)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    masked = layer(x, training=True).numpy()
    changed = (masked != x).any(axis=-1)
    assert changed.any() and changed.mean() < 0.6
    fill = x.mean(axis=(1, 2, 3))
    for b in range(4):   # masked cells hold the clip's mean
        np.testing.assert_allclose(masked[b][changed[b]], fill[b], atol=1e-5)


@pytest.mark.slow
def test_label_smoothing_and_average_pooling_train():
    config = TrainerConfig(**{**TINY.__dict__, "label_smoothing": 0.1, "pooling": "avg", "normalization": "max",
                              "time_masks": 1, "freq_masks": 1})
    model = model_lib.compile_model(model_lib.build_model(config, RATE, SAMPLES, num_classes=2), config)
    names = [layer.name for layer in model.layers]
    assert "global_avg_pool" in names and "max_normalization" in names and "spec_augment" in names
    x = np.random.default_rng(5).normal(size=(8, SAMPLES)).astype(np.float32) * 0.1
    history = model.fit(x, np.array([0, 1] * 4), epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_cosine_schedule_decays_over_the_planned_steps():
    config = TrainerConfig(**{**TINY.__dict__, "lr_schedule": "cosine", "learning_rate": 0.01})
    model = model_lib.compile_model(model_lib.build_model(config, RATE, SAMPLES, num_classes=2), config, total_steps=100)
    schedule = model.optimizer._learning_rate   # pylint: disable=protected-access  (the schedule itself)
    assert float(schedule(0)) == pytest.approx(0.01) and float(schedule(100)) == pytest.approx(0.0001)
    constant = model_lib.compile_model(model_lib.build_model(TINY, RATE, SAMPLES, num_classes=2), TINY, total_steps=100)
    assert float(constant.optimizer.learning_rate) == pytest.approx(TINY.learning_rate)


@pytest.mark.parametrize("f0, rate, n_fft, hop", [(110.0, 16000, 512, 256), (220.0, 16000, 512, 256),
                                                  (120.0, 8000, 256, 128), (200.0, 8000, 256, 128)])
def test_cepstral_pitch_peaks_at_the_voice_f0(f0, rate, n_fft, hop):
    t = np.arange(rate) / rate
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12) if k * f0 < rate / 2).astype(np.float32)
    cepstrum = model_lib.CepstrumAtBins(n_fft, hop, rate, bins=64)
    pitch = model_lib.CepstralPitch()(cepstrum(tone[None, :] * 0.1)).numpy()[0, :, :, 0]
    assert pitch.shape == (1 + (rate - n_fft) // hop, 64)
    grid = cepstrum.frequencies().numpy()
    found = grid[np.bincount(pitch.argmax(axis=1)).argmax()]
    assert abs(found - f0) / f0 < 0.06, found


def _voice(f0: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12) if k * f0 < rate / 2).astype(np.float32)


def test_pitch_histogram_peaks_at_the_voice_f0_and_ignores_silence():
    rate, n_fft, hop = 16000, 512, 256
    cepstrum, layer = model_lib.CepstrumAtBins(n_fft, hop, rate, bins=64), model_lib.PitchHistogram()
    grid = cepstrum.frequencies().numpy()
    for f0 in (105.0, 210.0):
        voiced = 0.1 * _voice(f0, rate)
        # Half a second of faint noise around the voice: its frames barely vote.
        noise = np.random.default_rng(8).normal(size=rate // 2).astype(np.float32) * 1e-3
        histogram = layer(cepstrum(np.concatenate([noise, voiced, noise])[None, :])).numpy()[0]
        assert histogram.shape == (64,)
        assert histogram.sum() == pytest.approx(64.0, rel=0.02)  # smoothing loses a little at the edges
        assert abs(grid[histogram.argmax()] - f0) / f0 < 0.06, grid[histogram.argmax()]



def _unshared_pitch_layers(config: TrainerConfig, rate: int):
    """The pitch map and histogram as the two layers computed them from the audio before they shared
    CepstrumAtBins (each with its own STFT and cepstrum), written out as they were."""
    lowest = max(60.0, rate / (config.n_fft // 2 - 2))
    quefrency = float(rate) / tf.exp(tf.linspace(tf.math.log(lowest), tf.math.log(400.0), config.n_mels))

    def cepstrum_at_bins(audio):
        spectrum = tf.abs(tf.signal.stft(audio, frame_length=config.n_fft, frame_step=config.hop_length,
                                         fft_length=config.n_fft, pad_end=False))
        cepstrum = tf.signal.irfft(tf.complex(tf.math.log(spectrum + 1e-6), 0.0), fft_length=[config.n_fft])
        low = tf.cast(tf.floor(quefrency), tf.int32)
        frac = quefrency - tf.cast(low, tf.float32)
        return tf.gather(cepstrum, low, axis=-1) * (1.0 - frac) + tf.gather(cepstrum, low + 1, axis=-1) * frac

    def pitch_map(audio):
        pitch = cepstrum_at_bins(audio)
        mean, variance = tf.nn.moments(pitch, axes=[1, 2], keepdims=True)
        return ((pitch - mean) / tf.sqrt(variance + 1e-6))[..., None]

    def histogram(audio):
        cepstrum = cepstrum_at_bins(audio)
        prominence = tf.nn.relu(tf.reduce_max(cepstrum, axis=-1) - tf.reduce_mean(cepstrum, axis=-1))
        weight = tf.square(prominence)
        votes = tf.one_hot(tf.argmax(cepstrum, axis=-1), config.n_mels) * weight[..., None]
        summed = tf.reduce_sum(votes, axis=1) / (tf.reduce_sum(weight, axis=1, keepdims=True) + 1e-9)
        kernel = tf.exp(-0.5 * tf.square(tf.range(-4, 5, dtype=tf.float32) / 1.5))
        kernel = tf.reshape(kernel / tf.reduce_sum(kernel), [-1, 1, 1])
        return tf.nn.conv1d(summed[..., None], kernel, stride=1, padding="SAME")[..., 0] * float(config.n_mels)

    return pitch_map, histogram


def test_the_shared_cepstrum_gives_what_the_two_pitch_layers_gave():
    """Same weights, same audio: the model with one CepstrumAtBins matches the two separate computations."""
    model = model_lib.build_model(TINY, RATE, SAMPLES, num_classes=2)
    noise = np.random.default_rng(9).normal(size=(2, SAMPLES)).astype(np.float32) * 0.05
    x = np.concatenate([np.stack([0.1 * _voice(f0, RATE) for f0 in (100.0, 210.0)]), noise])
    parts = tf.keras.Model(model.input, [model.get_layer("cepstral_pitch").output,
                                         model.get_layer("pitch_histogram").output, model.output])
    pitch, histogram, probabilities = [t.numpy() for t in parts(x)]
    old_pitch_map, old_histogram = _unshared_pitch_layers(TINY, RATE)
    np.testing.assert_allclose(pitch, old_pitch_map(x).numpy(), atol=1e-5)
    np.testing.assert_allclose(histogram, old_histogram(x).numpy(), atol=1e-5)
    # The whole model with the old computations in place of the three pitch layers, on the same weights.
    model.get_layer("cepstrum_at_bins").call = lambda audio: audio
    model.get_layer("cepstral_pitch").call = old_pitch_map
    model.get_layer("pitch_histogram").call = old_histogram
    np.testing.assert_allclose(model(x, training=False).numpy(), probabilities, atol=1e-5)

@pytest.mark.slow
def test_pitch_histogram_reaches_the_softmax_and_reloads(tmp_path):
    config = TrainerConfig(**{**TINY.__dict__, "pitch_histogram": True, "pooling": "time_avg"})
    model = model_lib.compile_model(model_lib.build_model(config, RATE, SAMPLES, num_classes=2), config)
    assert model.get_layer("pooled_and_pitch").output_shape == (None, 2 * TINY.conv_filters[-1] + TINY.n_mels)
    x = np.stack([0.1 * _voice(f0, RATE) for f0 in (100.0, 210.0, 120.0, 190.0)])
    model.fit(x, np.array([1, 0, 1, 0]), epochs=1, batch_size=2, verbose=0)
    model.save(str(tmp_path / "m"))
    again = tf.keras.models.load_model(str(tmp_path / "m"), compile=False)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_pitch_channel_lines_up_with_the_mel_frames():
    config = TrainerConfig(**{**TINY.__dict__, "pitch_channel": True})
    model = model_lib.build_model(config, RATE, SAMPLES, num_classes=2)
    assert model.get_layer("mel_and_delta").output_shape[-1] == 3


def test_time_pooling_keeps_where_in_frequency_a_pattern_sits():
    """The same pattern one band higher: a global max pool cannot tell the two apart, a pool over time can."""
    low = np.zeros((1, 3, 4, 8, 2), np.float32)
    low[0, 1, 2, 3, 0] = 1.0
    high = np.roll(low, 1, axis=3)
    for mode in model_lib.TIME_POOLING:
        layer = model_lib.TimePooling(mode)
        a, b = layer(low).numpy(), layer(high).numpy()
        assert a.shape == (1, 8 * 2) and not np.allclose(a, b)
    pool = tf.keras.layers.GlobalMaxPooling3D()
    np.testing.assert_allclose(pool(low).numpy(), pool(high).numpy())


@pytest.mark.slow
@pytest.mark.parametrize("pooling", ["time_max", "time_avg"])
def test_time_pooled_model_trains_and_reloads(pooling, tmp_path):
    config = TrainerConfig(**{**TINY.__dict__, "pooling": pooling, "pitch_channel": True})
    model = model_lib.compile_model(model_lib.build_model(config, RATE, SAMPLES, num_classes=2), config)
    assert model.get_layer("time_pool").output_shape == (None, 2 * TINY.conv_filters[-1])  # 16 mels -> 2 bands
    x = np.random.default_rng(6).normal(size=(8, SAMPLES)).astype(np.float32) * 0.1
    model.fit(x, np.array([0, 1] * 4), epochs=1, batch_size=4, verbose=0)
    model.save(str(tmp_path / "m"))
    again = tf.keras.models.load_model(str(tmp_path / "m"), compile=False)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_group_norm_normalizes_each_clip_alone_and_the_same_at_predict_time(tmp_path):
    """conv_norm=group: no batch statistics anywhere, so a clip's output does not depend on the other clips
    of its batch, training=True and False give the same output (dropout 0, no SpecAugment), and the model
    trains and reloads."""
    config = TrainerConfig(**{**TINY.__dict__, "conv_norm": "group", "conv_norm_groups": 2,
                              "time_masks": 0, "freq_masks": 0})
    model = model_lib.compile_model(model_lib.build_model(config, RATE, SAMPLES, num_classes=2), config)
    names = [layer.name for layer in model.layers]
    assert ["gn0", "gn1", "gn2", "gn3"] == [n for n in names if n.startswith("gn")]
    assert not any(isinstance(layer, tf.keras.layers.BatchNormalization) for layer in model.layers)
    x = np.random.default_rng(8).normal(size=(4, SAMPLES)).astype(np.float32) * 0.1
    model.fit(x, np.array([0, 1] * 2), epochs=1, batch_size=4, verbose=0)
    alone = model(x[:1], training=True).numpy()
    np.testing.assert_allclose(model(x, training=True).numpy()[:1], alone, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model(x[:1], training=False).numpy(), alone, rtol=1e-4, atol=1e-6)
    model.save(str(tmp_path / "m"))
    again = tf.keras.models.load_model(str(tmp_path / "m"), compile=False)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_batch_norm_uses_the_batch_while_training():
    """The contrast that makes the test above mean something: with the default conv_norm=batch, a clip's
    training-mode output depends on the rest of its batch."""
    config = TrainerConfig(**{**TINY.__dict__, "time_masks": 0, "freq_masks": 0})
    model = model_lib.build_model(config, RATE, SAMPLES, num_classes=2)
    assert model.get_layer("bn0") is not None
    x = np.random.default_rng(8).normal(size=(4, SAMPLES)).astype(np.float32) * 0.1
    assert not np.allclose(model(x, training=True).numpy()[:1], model(x[:1], training=True).numpy(), atol=1e-6)


@pytest.mark.slow
def test_label_smoothing_trains_under_a_distribution_strategy():
    """The smoothed loss must leave the reduction to Keras: a hand-called Loss object fails under a strategy
    (found by the two-worker test)."""
    config = TrainerConfig(**{**TINY.__dict__, "label_smoothing": 0.1})
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        model = model_lib.compile_model(model_lib.build_model(config, RATE, SAMPLES, num_classes=2), config)
    x = np.random.default_rng(7).normal(size=(8, SAMPLES)).astype(np.float32) * 0.1
    history = model.fit(x, np.array([0, 1] * 4), epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
