"""trainer/speaker_student.py: the student reads the teacher's own windows and pools as it does, distillation
moves it towards the teacher on the train clips, and the exported model carries the student, not the LSTMs."""
import dataclasses
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from components.common import audio as audio_lib
from components.common.errors import AudioClfError
from trainer import export, model as model_lib, speaker_head, speaker_student
from trainer.config import TrainerConfig
from trainer.speaker_encoder import SpeakerEmbedding

RATE, SAMPLES = 16000, 16000
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = TrainerConfig(n_fft=256, hop_length=128, n_mels=16, frame_length=8, frame_hop=4, conv_filters=[4, 4, 8, 8],
                     dropout=0.1, batch_size_per_replica=4, epochs=2, patience=1, steps_per_epoch=2,
                     shuffle_buffer=16, speaker_embedding=True, speaker_embedding_head="fitted",
                     speaker_embedding_window_step=160, speaker_embedding_encoder="distilled", speaker_student_epochs=3)


def _real_clips(count):
    """`count` 1 s clips of bundled LibriSpeech speech (women and men), labels 0/1 alternating by file."""
    files = sorted(glob.glob(os.path.join(REPO, "data", "librispeech-mini", "*", "*", "*", "*.flac")))
    clips, labels = [], []
    for i, path in enumerate(files[::7]):
        samples = audio_lib.decode_audio(path, RATE, "restore the bundled corpus")
        for start in range(0, len(samples) - SAMPLES, SAMPLES):
            clips.append(samples[start:start + SAMPLES])
            labels.append(i % 2)
        if len(clips) >= count:
            return np.stack(clips[:count]).astype(np.float32), np.array(labels[:count])
    raise AssertionError("not enough bundled speech")


def test_the_student_reads_the_teachers_windows_and_pools_as_it_does():
    teacher = SpeakerEmbedding(4 * SAMPLES, window_step=160)
    student = speaker_student.StudentEmbedding(4 * SAMPLES, window_step=160, mean=-3.0, std=2.0)
    for layer in (teacher, student):
        layer.build((None, 4 * SAMPLES))
    audio = tf.random.stateless_normal([2, 4 * SAMPLES], [1, 2]) * 0.1
    np.testing.assert_array_equal(student.window_frames(audio).numpy(), teacher.window_frames(audio).numpy())
    per_window = student.student(speaker_student.log_mel(teacher.window_frames(audio))).numpy().reshape(2, 2, 256)
    expected = per_window.mean(axis=1)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(student(audio).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert not student.trainable_weights and not [w for w in student.weights if "lstm" in w.name]
    assert student.get_config()["mean"] == -3.0 and student.get_config()["std"] == 2.0


def test_the_settings_are_checked():
    TINY.validate()
    with pytest.raises(AudioClfError, match="speaker_embedding_encoder='small'; use ge2e or distilled"):
        dataclasses.replace(TINY, speaker_embedding_encoder="small").validate()
    with pytest.raises(AudioClfError, match="distills the student after the conv model is trained, for the fitted head"):
        dataclasses.replace(TINY, speaker_embedding_head="trained").validate()
    with pytest.raises(AudioClfError, match="reads 160-frame windows, not speaker_embedding_window_frames=40"):
        dataclasses.replace(TINY, speaker_embedding_window_frames=40).validate()
    dataclasses.replace(TINY, speaker_student_copies=2).validate()
    with pytest.raises(AudioClfError, match="speaker_student_copies=2 adds copies.*encoder='ge2e' distills none"):
        dataclasses.replace(TINY, speaker_embedding_encoder="ge2e", speaker_student_copies=2).validate()


def test_too_few_train_windows_are_refused_naming_the_setting():
    teacher = SpeakerEmbedding(SAMPLES, window_step=160)
    teacher.build((None, SAMPLES))
    clips = tf.data.Dataset.from_tensor_slices(np.zeros((10, SAMPLES), np.float32))
    with pytest.raises(AudioClfError, match=r"gave 10 speaker encoder windows, under one batch of 64.*synthesis.clips.train"):
        speaker_student.distill(teacher, clips, 1, 0)


@pytest.mark.slow
def test_the_fitted_head_reads_a_student_distilled_on_the_train_clips_and_the_export_carries_it(monkeypatch, tmp_path):
    clips, labels = _real_clips(96)
    asked = []

    def train_clips(files, encoding, samples, crops_only=False, every_clip=False, with_speakers=False):
        asked.append(every_clip)
        return tf.data.Dataset.from_tensor_slices((clips, labels))

    monkeypatch.setattr(speaker_head, "single_speaker_clips", train_clips)
    conv = model_lib.build_model(TINY, RATE, SAMPLES, 2)
    model, info = speaker_head.with_fitted_head(conv, TINY, SAMPLES, "unused", "pcm16", ["male", "female"])
    assert asked == [True, False]                       # distilled on every train clip, fitted on single-speaker ones
    student = info["student"]
    assert info["encoder"] == "distilled" and student["windows"] == 96 and student["epochs"] == 3
    assert student["copies"] == 0
    assert 0.0 < student["train_cosine"] < 1.0
    layer = model.get_layer(speaker_student.LAYER_NAME)
    assert not [w for w in model.weights if "lstm" in w.name]     # the teacher is not in the exported model

    teacher = SpeakerEmbedding(SAMPLES, window_step=160)
    teacher.build((None, SAMPLES))
    untrained = speaker_student.StudentEmbedding(SAMPLES, window_step=160, mean=layer.mean, std=layer.std)
    untrained.build((None, SAMPLES))
    x = tf.constant(clips[:32])
    cosine = lambda a, b: float(np.mean(np.sum(a(x).numpy() * b(x).numpy(), axis=1)))  # noqa: E731
    assert cosine(layer, teacher) > cosine(untrained, teacher) + 0.1   # distillation moved it towards the teacher

    export.save(model, str(tmp_path / "serving"), "pcm16", RATE, SAMPLES, ["male", "female"], dataclasses.asdict(TINY))
    served = tf.saved_model.load(str(tmp_path / "serving")).signatures[export.CLASSIFY_AUDIO]
    np.testing.assert_allclose(served(audio=x)[export.OUTPUT_KEY].numpy(), model(x).numpy(), rtol=1e-4, atol=1e-5)
