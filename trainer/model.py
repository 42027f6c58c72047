"""The classifier on raw audio, as in the blog post, with every size taken from TrainerConfig.

raw audio -> kapre mel spectrogram (dB) and its delta, stacked as two channels -> kapre framing into
overlapping segments -> four blocks of Conv3D, batch norm, dropout and 2x2x2 max pooling (the last with
global max pooling instead, or a pool over time only that keeps the frequency axis) -> dense softmax over the classes.
Optionally (trainer.speaker_embedding) a frozen pretrained speaker encoder (trainer/speaker_encoder.py) reads
the same raw audio, and a second linear head on its embedding adds its logits to the conv head's: trained
here with the conv head, or (speaker_embedding_head=fitted) fitted after training by trainer/speaker_head.py.

The spectrogram is computed inside the model, so the exported model takes the same raw audio as
`predict` reads from a file, and serving needs no separate feature code.
"""
import tensorflow as tf
from kapre import Frame
from kapre.composed import get_melspectrogram_layer
from kapre.time_frequency import Delta

from trainer.config import ACCURACY_METRIC, TrainerConfig
from trainer import speaker_encoder

AUDIO_INPUT = "audio"


class MaxNormalization(tf.keras.layers.Layer):
    """Subtracts the clip's loudest dB value: the same voice recorded louder or softer gives the same
    input, and the spectral envelope (formants, a gender cue) is left as it is. Unlike a mean, the
    maximum does not depend on how much of the clip is silence (a short recording padded to a window)."""

    def call(self, inputs):  # (batch, time, mels, channels)
        return inputs - tf.reduce_max(inputs, axis=[1, 2, 3], keepdims=True)


class SpecAugment(tf.keras.layers.Layer):
    """Time and frequency masking while training (Park et al., 2019); the identity at inference.

    Each mask sets a random band of up to `time_width` frames (or `freq_width` mel bands) to the clip's
    mean value, so the model cannot lean on any one moment or band of a voice."""

    def __init__(self, time_masks: int, time_width: int, freq_masks: int, freq_width: int, **kwargs):
        super().__init__(**kwargs)
        self.time_masks, self.time_width = time_masks, time_width
        self.freq_masks, self.freq_width = freq_masks, freq_width

    def get_config(self):
        return dict(super().get_config(), time_masks=self.time_masks, time_width=self.time_width,
                    freq_masks=self.freq_masks, freq_width=self.freq_width)

    @staticmethod
    def _masks(batch, size, count, width):
        """[batch, size] boolean: True inside any of `count` random intervals of up to `width`."""
        positions = tf.range(size)[None, None, :]
        widths = tf.random.uniform([batch, count, 1], 0, width + 1, dtype=tf.int32)
        room = tf.cast(tf.maximum(1, size - widths + 1), tf.float32)
        starts = tf.cast(tf.floor(tf.random.uniform([batch, count, 1]) * room), tf.int32)
        return tf.reduce_any((positions >= starts) & (positions < starts + widths), axis=1)

    def call(self, inputs, training=None):  # (batch, time, mels, channels)
        if not training or (self.time_masks == 0 and self.freq_masks == 0):
            return inputs
        shape = tf.shape(inputs)
        batch, frames, bands = shape[0], shape[1], shape[2]
        mask = tf.zeros([batch, frames, bands], dtype=tf.bool)
        if self.time_masks and self.time_width:
            mask |= self._masks(batch, frames, self.time_masks, self.time_width)[:, :, None]
        if self.freq_masks and self.freq_width:
            mask |= self._masks(batch, bands, self.freq_masks, self.freq_width)[:, None, :]
        fill = tf.reduce_mean(inputs, axis=[1, 2, 3], keepdims=True)
        return tf.where(mask[..., None], fill, inputs)


class CepstrumAtBins(tf.keras.layers.Layer):
    """Each frame's real cepstrum read at `bins` log-spaced fundamental frequencies from f0_min to f0_max
    (low F0 first, like the mel bands): the pitch evidence of CepstralPitch and PitchHistogram.

    One layer feeds both, so the cepstrum is computed and read at the bins once per clip: with one copy
    per pitch layer, Grappler merged the two FFTs but not the reads, ~5 % of a forward pass (2-core VM).
    A voiced frame's cepstrum peaks at the quefrency of its period (sample_rate / F0), so the strongest
    bin is the speaker's pitch at 5-7 Hz resolution around 100 Hz, where the mel bands are 30-40 Hz wide.
    Framing is kapre's (frame n_fft, hop, no padding), so frames line up with the mel spectrogram's."""

    def __init__(self, n_fft: int, hop_length: int, sample_rate: int, bins: int, f0_min: float = 60.0,
                 f0_max: float = 400.0, **kwargs):
        super().__init__(**kwargs)
        self.n_fft, self.hop_length, self.sample_rate, self.bins = n_fft, hop_length, sample_rate, bins
        self.f0_min, self.f0_max = f0_min, f0_max
        lowest = max(f0_min, sample_rate / (n_fft // 2 - 2))     # the period must fit in half a frame
        f0 = tf.exp(tf.linspace(tf.math.log(float(lowest)), tf.math.log(float(f0_max)), bins))
        self._quefrency = float(sample_rate) / f0                  # in samples, fractional

    def get_config(self):
        return dict(super().get_config(), n_fft=self.n_fft, hop_length=self.hop_length, sample_rate=self.sample_rate,
                    bins=self.bins, f0_min=self.f0_min, f0_max=self.f0_max)

    def call(self, audio):  # (batch, samples) -> (batch, frames, bins), unscaled
        spectrum = tf.abs(tf.signal.stft(audio, frame_length=self.n_fft, frame_step=self.hop_length,
                                         fft_length=self.n_fft, pad_end=False))
        cepstrum = tf.signal.irfft(tf.complex(tf.math.log(spectrum + 1e-6), 0.0), fft_length=[self.n_fft])
        low = tf.cast(tf.floor(self._quefrency), tf.int32)
        frac = self._quefrency - tf.cast(low, tf.float32)
        return tf.gather(cepstrum, low, axis=-1) * (1.0 - frac) + tf.gather(cepstrum, low + 1, axis=-1) * frac

    def frequencies(self):
        """The F0 of each bin in Hz (diagnostics and tests)."""
        return float(self.sample_rate) / self._quefrency


class CepstralPitch(tf.keras.layers.Layer):
    """The pitch map, a third channel beside mel and delta: the cepstrum at bins (CepstrumAtBins)
    standardised per clip. Only the scale needs fixing: the cepstrum of a log spectrum is gain invariant."""

    def call(self, cepstrum):  # (batch, frames, bins) -> (batch, frames, bins, 1)
        mean, variance = tf.nn.moments(cepstrum, axes=[1, 2], keepdims=True)
        return ((cepstrum - mean) / tf.sqrt(variance + 1e-6))[..., None]


class PitchHistogram(tf.keras.layers.Layer):
    """The clip's pitch distribution as a vector for the classifier head: each frame votes for its
    strongest cepstral pitch bin (CepstrumAtBins), weighted by how far that peak stands above the frame's
    mean (voiced frames stand out, silence and noise barely vote), then the votes are smoothed over
    neighbouring bins.

    The conv blocks see pitch only as a local pattern to be pooled; this hands the dense layer the same
    evidence the median-F0 rule uses, the whole clip's F0 distribution, on which a threshold is linear.
    Scaled so that a flat histogram is about 1 in every bin (smoothing loses a little at the edges)."""

    def __init__(self, smoothing_bins: float = 1.5, **kwargs):
        super().__init__(**kwargs)
        self.smoothing_bins = smoothing_bins
        offsets = tf.range(-4, 5, dtype=tf.float32)
        kernel = tf.exp(-0.5 * tf.square(offsets / smoothing_bins))
        self._kernel = tf.reshape(kernel / tf.reduce_sum(kernel), [-1, 1, 1])

    def get_config(self):
        return dict(super().get_config(), smoothing_bins=self.smoothing_bins)

    def call(self, cepstrum):  # (batch, frames, bins) -> (batch, bins)
        bins = cepstrum.shape[-1]
        prominence = tf.nn.relu(tf.reduce_max(cepstrum, axis=-1) - tf.reduce_mean(cepstrum, axis=-1))
        weight = tf.square(prominence)                                           # (batch, frames)
        votes = tf.one_hot(tf.argmax(cepstrum, axis=-1), bins) * weight[..., None]
        histogram = tf.reduce_sum(votes, axis=1) / (tf.reduce_sum(weight, axis=1, keepdims=True) + 1e-9)
        smoothed = tf.nn.conv1d(histogram[..., None], self._kernel, stride=1, padding="SAME")[..., 0]
        return smoothed * float(bins)


TIME_POOLING = ("time_max", "time_avg")


class HeadDropout(tf.keras.layers.Layer):
    """[logits of head A, logits of head B] -> their sum. While training, A's logits are dropped (zeroed,
    not rescaled) on a `rate` share of the examples and B's on a `rate` share of the others (never both),
    so on those examples the other head decides alone. At inference, the plain sum."""

    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}

    def call(self, inputs, training=None):
        a, b = inputs
        if not training or not self.rate:
            return a + b
        batch = tf.shape(a)[0]
        drop_a = tf.random.uniform([batch, 1]) < self.rate
        drop_b = tf.logical_and(tf.random.uniform([batch, 1]) < self.rate, tf.logical_not(drop_a))
        return a * (1.0 - tf.cast(drop_a, a.dtype)) + b * (1.0 - tf.cast(drop_b, b.dtype))


class TimePooling(tf.keras.layers.Layer):
    """Pools over time only (segments and frames) and keeps the frequency axis, flattened with the filters.

    Convolutions are shift-equivariant, so a global pool over frequency too hands the dense layer the
    same numbers for a voice at 100 Hz and one at 200 Hz shifted up the mel (or pitch) axis: where in
    frequency a pattern sits, the main gender cue, is lost. Here each filter keeps one value per band."""

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode

    def get_config(self):
        return dict(super().get_config(), mode=self.mode)

    def call(self, inputs):  # (batch, segments, frames, bands, filters) -> (batch, bands * filters)
        pooled = (tf.reduce_max if self.mode == "time_max" else tf.reduce_mean)(inputs, axis=[1, 2])
        return tf.reshape(pooled, [-1, pooled.shape[1] * pooled.shape[2]])


class MeanNormalization(tf.keras.layers.Layer):
    """Subtracts each mel band's mean over the clip's time axis from the dB spectrogram.

    In dB, a fixed microphone/room response is an additive offset per band; LibriSpeech records each
    speaker in one setting, so without this a model can tell speakers apart by their recordings.
    """

    def call(self, inputs):  # (batch, time, mels, channels)
        return inputs - tf.reduce_mean(inputs, axis=1, keepdims=True)


def build_model(config: TrainerConfig, sample_rate: int, clip_samples: int, num_classes: int) -> tf.keras.Model:
    audio = tf.keras.Input(shape=(clip_samples,), name=AUDIO_INPUT, dtype=tf.float32)
    x = tf.keras.layers.Reshape((clip_samples, 1), name="channel")(audio)
    mel = get_melspectrogram_layer(input_shape=(clip_samples, 1), n_fft=config.n_fft, hop_length=config.hop_length,
                                   sample_rate=sample_rate, n_mels=config.n_mels, return_decibel=True,
                                   mel_f_min=config.mel_f_min, mel_f_max=config.mel_f_max or None,
                                   input_data_format="channels_last", output_data_format="channels_last",
                                   name="mel_spectrogram")(x)  # (batch, time, mels, 1)
    if config.normalization == "band_mean":
        mel = MeanNormalization(name="mean_normalization")(mel)
    elif config.normalization == "max":
        mel = MaxNormalization(name="max_normalization")(mel)
    mel = SpecAugment(config.time_masks, config.time_mask_frames, config.freq_masks, config.freq_mask_bins,
                      name="spec_augment")(mel)
    delta = Delta(win_length=config.delta_win_length, data_format="channels_last", name="delta")(mel)
    channels = [mel, delta]
    if config.pitch_channel or config.pitch_histogram:   # one cepstrum for both pitch layers
        cepstrum = CepstrumAtBins(config.n_fft, config.hop_length, sample_rate, config.n_mels,
                                  name="cepstrum_at_bins")(audio)  # (batch, frames, mels)
    if config.pitch_channel:
        channels.append(CepstralPitch(name="cepstral_pitch")(cepstrum))
    x = tf.keras.layers.Concatenate(axis=-1, name="mel_and_delta")(channels)  # (batch, time, mels, 2 or 3)
    x = Frame(frame_length=config.frame_length, hop_length=config.frame_hop, pad_end=True,
              data_format="channels_last", name="segments")(x)  # (batch, segments, frame, mels, 2)
    last = len(config.conv_filters) - 1
    for block, filters in enumerate(config.conv_filters):
        x = tf.keras.layers.Conv3D(filters, tuple(config.kernel_size), padding="same", activation="relu",
                                   name=f"conv{block}")(x)
        if config.conv_norm == "group":
            x = tf.keras.layers.GroupNormalization(groups=config.conv_norm_groups, name=f"gn{block}")(x)
        else:
            x = tf.keras.layers.BatchNormalization(momentum=config.batch_norm_momentum, name=f"bn{block}")(x)
        x = tf.keras.layers.Dropout(config.dropout, name=f"dropout{block}")(x)
        if block < last:
            x = tf.keras.layers.MaxPool3D(pool_size=(2, 2, 2), padding="same", name=f"pool{block}")(x)
        elif config.pooling == "avg":
            x = tf.keras.layers.GlobalAveragePooling3D(name="global_avg_pool")(x)
        elif config.pooling in TIME_POOLING:
            x = TimePooling(config.pooling, name="time_pool")(x)
        else:
            x = tf.keras.layers.GlobalMaxPooling3D(name="global_max_pool")(x)
    if config.pitch_histogram:
        histogram = PitchHistogram(name="pitch_histogram")(cepstrum)
        x = tf.keras.layers.Concatenate(name="pooled_and_pitch")([x, histogram])
    if not config.speaker_embedding or config.fitted_speaker_head:   # fitted: trainer/speaker_head.py
        probabilities = tf.keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
        return tf.keras.Model(audio, probabilities, name="audioclf")
    # Two linear heads whose logits add up: the conv features' and the frozen speaker embedding's, the
    # latter standardized (its moving statistics come from the train clips) and held small by weight decay.
    embedding = speaker_encoder.for_trainer(config, clip_samples)(audio)
    embedding = tf.keras.layers.BatchNormalization(center=False, scale=False, name="embedding_standardized")(embedding)
    speaker_logits = tf.keras.layers.Dense(
        num_classes, kernel_regularizer=tf.keras.regularizers.L2(config.speaker_embedding_l2),
        name="speaker_logits")(embedding)
    conv_logits = tf.keras.layers.Dense(num_classes, name="conv_logits")(x)
    logits = HeadDropout(config.head_dropout, name="logits")([conv_logits, speaker_logits])
    probabilities = tf.keras.layers.Softmax(name="probabilities")(logits)
    return tf.keras.Model(audio, probabilities, name="audioclf")


def _loss(label_smoothing: float, num_classes: int):
    """Sparse cross-entropy; with label smoothing, on one-hot labels (the sparse loss has no smoothing).

    A per-example function, not a Loss object called inside it: Keras wraps it with the reduction a
    distribution strategy needs (a Loss object with AUTO reduction called by hand fails under
    MirroredStrategy and MultiWorkerMirroredStrategy)."""
    if not label_smoothing:
        return "sparse_categorical_crossentropy"

    def smoothed_crossentropy(labels, probabilities):
        one_hot = tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), num_classes)
        return tf.keras.losses.categorical_crossentropy(one_hot, probabilities, label_smoothing=label_smoothing)

    return smoothed_crossentropy


def compile_model(model: tf.keras.Model, config: TrainerConfig, total_steps: int = 0,
                  num_classes: int = 0) -> tf.keras.Model:
    """`total_steps` (epochs x steps per epoch) is what a "cosine" learning-rate schedule decays over;
    `num_classes` defaults to the model's output width (a training wrapper has no output shape before it runs)."""
    optimizers = {"adam": tf.keras.optimizers.Adam, "sgd": tf.keras.optimizers.SGD,
                  "rmsprop": tf.keras.optimizers.RMSprop}
    if config.optimizer not in optimizers:
        from components.common.errors import AudioClfError  # pylint: disable=import-outside-toplevel
        raise AudioClfError(f"config: trainer.optimizer={config.optimizer!r}; use one of {', '.join(optimizers)}.")
    rate = config.learning_rate
    if config.lr_schedule == "cosine" and total_steps > 0:
        # From the configured rate down to 1 % of it by the last planned step: late epochs refine
        # rather than jump, so early stopping's best epoch is less a matter of luck.
        rate = tf.keras.optimizers.schedules.CosineDecay(config.learning_rate, total_steps, alpha=0.01)
    ema = {"use_ema": True, "ema_momentum": config.weight_ema} if config.weight_ema else {}
    model.compile(optimizer=optimizers[config.optimizer](learning_rate=rate, **ema),
                  loss=_loss(config.label_smoothing, num_classes or model.output_shape[-1]), metrics=[ACCURACY_METRIC])
    return model
