"""The fitted speaker head (trainer.speaker_embedding_head=fitted): a logistic regression on the frozen
pretrained speaker embedding (trainer/speaker_encoder.py), fitted once the conv model is trained and frozen
into the exported model beside it.

bench/embedding_check.py found a strongly regularized logistic regression (C = 0.001) on the embeddings of
real utterances 2.0-2.4 points above the pitch rule on unseen speakers, while a head on the same embedding
trained by model.fit together with the conv head (recipes r23, r24) did no better than the conv model
alone. So the head is fitted here the way the check fitted it:

1. the train clips with one speaker (crops of real utterances and one-speaker sequences; a mixture's
   embedding is no one's voice; with trainer.speaker_embedding_fit_clips=crops only the crops) are
   embedded by the encoder, with the window step the model will use;
2. the embeddings are standardized and an L2-regularized logistic regression is fitted by L-BFGS, with the
   objective C * sum of cross-entropies + |W|^2, whose optimum for two classes is sklearn's
   LogisticRegression(C=C)'s;
3. the exported model outputs softmax(log p_conv + weight * LR logits); standardization and weight are
   folded into one frozen dense layer, so serving still takes raw audio and nothing else.
"""
import dataclasses
import logging
import time
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf
from scipy import optimize

from components.common import example_format
from components.common.errors import AudioClfError
from components.common.vocabulary import CROP
from trainer import distill_augment
from trainer import input as input_lib
from trainer import speaker_student
from trainer.config import TrainerConfig
from trainer.speaker_encoder import SpeakerEmbedding, for_trainer

log = logging.getLogger(__name__)

EMBED_BATCH = 32
SPEAKER_SEPARATOR = "\n"   # between a clip's speakers in single_speaker_clips(with_speakers=True)
LOG_FLOOR = 1e-7        # log of a probability the conv model rounds to 0
PROGRESS_EVERY = 10     # batches between progress lines while embedding


@dataclasses.dataclass
class LinearHead:
    """A fitted logistic regression: logits = ((x - mean) / scale) @ kernel + bias."""
    mean: np.ndarray
    scale: np.ndarray
    kernel: np.ndarray   # [features, classes]
    bias: np.ndarray     # [classes]

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.kernel + self.bias

    def folded(self, weight: float) -> Tuple[np.ndarray, np.ndarray]:
        """(kernel, bias) of one dense layer on the raw embedding giving weight * logits."""
        kernel = self.kernel / self.scale[:, None]
        return (weight * kernel).astype(np.float32), (weight * (self.bias - self.mean @ kernel)).astype(np.float32)


def fit_logistic(x: np.ndarray, y: np.ndarray, num_classes: int, c: float,
                 sample_weight: Optional[np.ndarray] = None) -> LinearHead:
    """L2-regularized (multinomial) logistic regression on standardized `x`; see the module docstring.
    `sample_weight` (mean 1 keeps C's meaning) weighs each row's cross-entropy and its share of the
    standardization statistics."""
    x = np.asarray(x, np.float64)
    weight = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    if weight.shape != (len(x),) or np.any(weight < 0) or not weight.sum() > 0:
        raise AudioClfError(f"speaker head: {len(x)} rows need as many non-negative sample weights, not all 0.")
    mean = np.average(x, axis=0, weights=weight)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=weight))
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    features = z.shape[1]
    onehot = np.eye(num_classes)[np.asarray(y, np.int64)] * weight[:, None]

    def objective(theta):
        kernel, bias = theta[:features * num_classes].reshape(features, num_classes), theta[features * num_classes:]
        logits = z @ kernel + bias
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        residual = c * (np.exp(log_p) * weight[:, None] - onehot)
        loss = -c * float((onehot * log_p).sum()) + float((kernel ** 2).sum())
        return loss, np.concatenate([(z.T @ residual + 2.0 * kernel).ravel(), residual.sum(axis=0)])

    found = optimize.minimize(objective, np.zeros(features * num_classes + num_classes), jac=True,
                              method="L-BFGS-B", options={"maxiter": 10000, "ftol": 1e-14, "gtol": 1e-9})
    gradient = float(np.abs(found.jac).max())
    if gradient > 1e-4 * max(1.0, c * len(z)):
        raise AudioClfError(f"the speaker head's logistic regression did not converge ({found.message}; largest "
                            f"gradient {gradient:.3g}); try a smaller trainer.speaker_embedding_c.")
    theta = found.x
    return LinearHead(mean, scale, theta[:features * num_classes].reshape(features, num_classes),
                      theta[features * num_classes:])


def single_speaker_clips(file_patterns: Union[str, Sequence[str]], encoding: str, clip_samples: int,
                         crops_only: bool = False, every_clip: bool = False,
                         with_speakers: bool = False) -> tf.data.Dataset:
    """(audio, label) of the clips whose Example says they hold one speaker (with `crops_only`, only those
    that are crops of real utterances; with `every_clip`, all), in file order. With `with_speakers`,
    (audio, label, speakers): the clip's speakers ("corpus/speaker") joined by SPEAKER_SEPARATOR."""
    spec = {example_format.LABEL: tf.io.FixedLenFeature([], tf.int64),
            example_format.NUM_SPEAKERS: tf.io.FixedLenFeature([], tf.int64, default_value=0),
            example_format.MODE: tf.io.FixedLenFeature([], tf.string, default_value=""),
            example_format.AUDIO: input_lib.audio_feature_spec(encoding, clip_samples)}
    if with_speakers:
        spec[example_format.SPEAKERS] = tf.io.VarLenFeature(tf.string)

    def parse(record):
        features = tf.io.parse_single_example(record, spec)
        kept = tf.logical_or(tf.equal(features[example_format.NUM_SPEAKERS], 1), every_clip)
        if crops_only:
            kept = tf.logical_and(kept, tf.equal(features[example_format.MODE], CROP))
        clip = (input_lib.to_float_audio(features[example_format.AUDIO], encoding, clip_samples),
                features[example_format.LABEL])
        if with_speakers:
            clip += (tf.strings.reduce_join(tf.sparse.to_dense(features[example_format.SPEAKERS]),
                                            separator=SPEAKER_SEPARATOR),)
        return clip, kept

    records = tf.data.TFRecordDataset(input_lib.list_files(file_patterns), compression_type="GZIP")
    return (records.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
            .filter(lambda clip, kept: kept)
            .map(lambda clip, kept: clip))


def speaker_weights(speakers: Sequence[str]) -> np.ndarray:
    """Row weights (mean 1) that give every speaker the same total, however many rows each has."""
    _, inverse, counts = np.unique(np.asarray(speakers), return_inverse=True, return_counts=True)
    weight = 1.0 / counts[inverse]
    return weight * len(weight) / weight.sum()


def embed_clips(dataset: tf.data.Dataset, encoder: SpeakerEmbedding
                ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """(embeddings [n, 256], labels [n], speakers [n] or None) of an (audio, label) or (audio, label,
    speakers) dataset, with a progress line now and then."""
    call = tf.function(lambda audio: encoder(audio), reduce_retracing=True)
    embeddings: List[np.ndarray] = []
    labels: List[np.ndarray] = []
    speakers: List[np.ndarray] = []
    for step, (audio, label, *names) in enumerate(dataset.batch(EMBED_BATCH).prefetch(tf.data.AUTOTUNE)):
        embeddings.append(call(audio).numpy())
        labels.append(label.numpy())
        speakers += [n.numpy() for n in names]
        if (step + 1) % PROGRESS_EVERY == 0:
            log.info("speaker head: embedded %d clips", sum(len(b) for b in labels))
    if not labels:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), None
    named = np.array([n.decode() for n in np.concatenate(speakers)]) if speakers else None
    return np.concatenate(embeddings), np.concatenate(labels), named


class LogProbabilities(tf.keras.layers.Layer):
    """log of probabilities, floored at LOG_FLOOR: the conv model's output as logits to add to."""

    def call(self, probabilities):
        return tf.math.log(tf.maximum(probabilities, LOG_FLOOR))


def attach(classifier: tf.keras.Model, encoder: SpeakerEmbedding, head: LinearHead, weight: float) -> tf.keras.Model:
    """raw audio -> softmax(log classifier(audio) + weight * head.logits(encoder(audio))), nothing trainable added."""
    clip_samples = classifier.inputs[0].shape[-1]
    audio = tf.keras.Input(shape=(clip_samples,), name=classifier.inputs[0].name.split(":")[0], dtype=tf.float32)
    conv_log_p = LogProbabilities(name="conv_log_probabilities")(classifier(audio))
    dense = tf.keras.layers.Dense(head.kernel.shape[1], trainable=False, name="speaker_logits")
    speaker_logits = dense(encoder(audio))
    dense.set_weights(list(head.folded(weight)))
    logits = tf.keras.layers.Add(name="logits")([conv_log_p, speaker_logits])
    return tf.keras.Model(audio, tf.keras.layers.Softmax(name="probabilities")(logits), name="audioclf_speaker_head")


def with_fitted_head(classifier: tf.keras.Model, config: TrainerConfig, clip_samples: int,
                     train_files: Union[str, Sequence[str]], encoding: str,
                     label_names: Sequence[str]) -> Tuple[tf.keras.Model, Dict[str, object]]:
    """The exported model: the trained conv `classifier` plus the speaker head fitted on the single-speaker
    train clips; and what the fit saw (clips per class, the head's own accuracy on them)."""
    encoder, student = for_trainer(config, clip_samples), None
    if config.speaker_embedding_encoder == "distilled":
        every = single_speaker_clips(train_files, encoding, clip_samples, every_clip=True).map(lambda audio, label: audio)
        every = distill_augment.with_copies(every, config.speaker_student_copies, config.seed)
        encoder, student = speaker_student.distill(encoder, every, config.speaker_student_epochs, config.seed)
        student["copies"] = config.speaker_student_copies
    started = time.monotonic()
    crops_only = config.speaker_embedding_fit_clips == "crops"
    kind = "crop" if crops_only else "single-speaker"
    balanced = config.speaker_head_balance == "speaker"
    fit_clips = distill_augment.with_copies(
        single_speaker_clips(train_files, encoding, clip_samples, crops_only, with_speakers=balanced),
        config.speaker_head_copies, config.seed, speed=False)
    x, y, speakers = embed_clips(fit_clips, encoder)
    counts = {name: int(np.sum(y == i)) for i, name in enumerate(label_names)}
    missing = [name for name, n in counts.items() if n == 0]
    if missing:
        raise AudioClfError(f"trainer.speaker_embedding_head=fitted: the train split has no {kind} clip of "
                            f"{', '.join(missing)} ({len(y) // (1 + config.speaker_head_copies)} {kind} clips in all) "
                            "to fit the speaker head on; "
                            "raise synthesis.crop_probability (crops of real utterances have one speaker), or set "
                            "trainer.speaker_embedding_head=trained.")
    weight = None
    if balanced:
        unnamed = sorted({s.count(SPEAKER_SEPARATOR) + 1 if s else 0 for s in speakers} - {1})
        if unnamed:
            raise AudioClfError(f"{train_files}: a one-speaker clip names {unnamed[0]} speakers; "
                                "trainer.speaker_head_balance=speaker needs each clip's speaker (rebuild the examples).")
        weight = speaker_weights(speakers)
    log.info("speaker head: fitting a logistic regression (C=%g) on %d %s train clips (%s; %d perturbed copies of "
             "each; weighted: %s)", config.speaker_embedding_c, len(y), kind,
             ", ".join(f"{k} {v}" for k, v in counts.items()), config.speaker_head_copies, config.speaker_head_balance)
    head = fit_logistic(x, y, len(label_names), config.speaker_embedding_c, weight)
    fit_accuracy = float(np.mean(head.logits(x).argmax(axis=1) == y))

    model = attach(classifier, encoder, head, config.speaker_embedding_weight)
    info = {"clips": int(len(y)), "clip_kind": config.speaker_embedding_fit_clips, "clips_per_class": counts,
            "copies": config.speaker_head_copies, "c": config.speaker_embedding_c,
            "balance": config.speaker_head_balance,
            "speakers": None if speakers is None else len(set(speakers)),
            "weight": config.speaker_embedding_weight, "window_step": config.speaker_embedding_window_step,
            "window_frames": config.speaker_embedding_window_frames,
            "fit_accuracy": round(fit_accuracy, 4), "encoder": config.speaker_embedding_encoder, "student": student,
            "seconds": round(time.monotonic() - started, 1)}
    log.info("speaker head: fitted in %.1f s; its accuracy on the clips it was fitted on %.4f", info["seconds"],
             fit_accuracy)
    return model, info
