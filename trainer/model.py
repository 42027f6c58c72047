"""The classifier on raw audio, as in the blog post, with every size taken from TrainerConfig.

raw audio -> kapre mel spectrogram (dB) and its delta, stacked as two channels -> kapre framing into
overlapping segments -> four blocks of Conv3D, batch norm, dropout and 2x2x2 max pooling (the last with
global max pooling instead) -> dense softmax over the classes.

The spectrogram is computed inside the model, so the exported model takes the same raw audio as
`predict` reads from a file, and serving needs no separate feature code.
"""
import tensorflow as tf
from kapre import Frame
from kapre.composed import get_melspectrogram_layer
from kapre.time_frequency import Delta

from pipeline.config import TrainerConfig

AUDIO_INPUT = "audio"


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
                                   mel_f_max=config.mel_f_max or None,
                                   input_data_format="channels_last", output_data_format="channels_last",
                                   name="mel_spectrogram")(x)  # (batch, time, mels, 1)
    if config.mean_normalization:
        mel = MeanNormalization(name="mean_normalization")(mel)
    delta = Delta(win_length=config.delta_win_length, data_format="channels_last", name="delta")(mel)
    x = tf.keras.layers.Concatenate(axis=-1, name="mel_and_delta")([mel, delta])  # (batch, time, mels, 2)
    x = Frame(frame_length=config.frame_length, hop_length=config.frame_hop, pad_end=True,
              data_format="channels_last", name="segments")(x)  # (batch, segments, frame, mels, 2)
    last = len(config.conv_filters) - 1
    for block, filters in enumerate(config.conv_filters):
        x = tf.keras.layers.Conv3D(filters, tuple(config.kernel_size), padding="same", activation="relu",
                                   name=f"conv{block}")(x)
        x = tf.keras.layers.BatchNormalization(momentum=config.batch_norm_momentum, name=f"bn{block}")(x)
        x = tf.keras.layers.Dropout(config.dropout, name=f"dropout{block}")(x)
        if block < last:
            x = tf.keras.layers.MaxPool3D(pool_size=(2, 2, 2), padding="same", name=f"pool{block}")(x)
        else:
            x = tf.keras.layers.GlobalMaxPooling3D(name="global_max_pool")(x)
    probabilities = tf.keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return tf.keras.Model(audio, probabilities, name="audioclf")


def compile_model(model: tf.keras.Model, config: TrainerConfig) -> tf.keras.Model:
    optimizers = {"adam": tf.keras.optimizers.Adam, "sgd": tf.keras.optimizers.SGD,
                  "rmsprop": tf.keras.optimizers.RMSprop}
    if config.optimizer not in optimizers:
        from pipeline.errors import AudioClfError  # pylint: disable=import-outside-toplevel
        raise AudioClfError(f"config: trainer.optimizer={config.optimizer!r}; use one of {', '.join(optimizers)}.")
    model.compile(optimizer=optimizers[config.optimizer](learning_rate=config.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    return model
