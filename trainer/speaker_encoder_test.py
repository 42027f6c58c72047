"""trainer/speaker_encoder.py: the TensorFlow port gives Resemblyzer's own embeddings of real utterances
(reference figures written by scripts/convert_ge2e_weights.py with Resemblyzer itself), slices a clip as
Resemblyzer slices an utterance, stays frozen in training, and travels inside the exported model."""
import os

import numpy as np
import pytest
import tensorflow as tf

from components.common import audio
from components.common.errors import AudioClfError
from trainer import export, model as model_lib, speaker_encoder
from trainer.config import TrainerConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(REPO, "trainer", "assets", "ge2e_reference.npz")
TINY = TrainerConfig(n_fft=256, hop_length=128, n_mels=16, frame_length=8, frame_hop=4, conv_filters=[4, 4, 8, 8],
                     dropout=0.0, speaker_embedding=True, speaker_embedding_head="trained")
SAMPLES = 16000


def test_the_port_gives_resemblyzers_embeddings_of_real_utterances():
    with np.load(REFERENCE) as ref:
        cases = list(zip(ref["paths"], ref["seconds"], ref["embeddings"]))
    assert {str(p).split("/")[1] for p, _, _ in cases} == {"librispeech-mini", "speechocean762-adults", "vctk-mini"}
    for path, seconds, expected in cases:
        samples = int(seconds * speaker_encoder.SAMPLE_RATE)
        wav = audio.decode_audio(os.path.join(REPO, str(path)), speaker_encoder.SAMPLE_RATE)[:samples]
        got = speaker_encoder.SpeakerEmbedding(samples)(wav[None, :]).numpy()[0]
        assert float(got @ expected) > 0.99999, (path, seconds)
        assert np.abs(got - expected).max() < 1e-5, (path, seconds)
        assert abs(np.linalg.norm(got) - 1.0) < 1e-5


@pytest.mark.parametrize("samples, plan", [
    (64000, (4, 77, 391)),   # 4 s: a fifth window would be 57 % audio, under the 75 % Resemblyzer asks
    (32000, (2, 77, 237)),   # 2 s: the second window is 77 % audio, kept
    (8000, (1, 77, 160)),    # 0.5 s: one window, however little of it is audio
])
def test_a_clip_is_sliced_as_resemblyzer_slices_an_utterance(samples, plan):
    assert speaker_encoder.window_plan(samples) == plan


def test_shorter_windows_read_the_same_mel_frames_at_their_starts():
    config = TrainerConfig(**{**TINY.__dict__, "speaker_embedding_window_step": 160,
                              "speaker_embedding_window_frames": 80})
    short = speaker_encoder.for_trainer(config, 64000)
    full = speaker_encoder.SpeakerEmbedding(64000, window_step=80)   # its mel frames reach 4.0 s, as short's
    # 4 s with 0.8 s windows every 1.6 s: starts 0, 1.6 and 3.2 s (a fourth, at 4.8 s, would hold no audio)
    assert (short.windows, short.step, short.frames) == speaker_encoder.window_plan(64000, 160, 80) == (3, 160, 400)
    x = tf.constant(np.random.default_rng(2).normal(0, 0.1, (1, 64000)).astype(np.float32))
    embedding = short(x).numpy()
    full(x)
    windows, mel = short.window_frames(x).numpy(), full.mel_frames(x).numpy()[0]
    assert windows.shape == (3, 80, 40)
    for k in range(3):
        np.testing.assert_allclose(windows[k], mel[160 * k:160 * k + 80], rtol=1e-6)
    assert abs(np.linalg.norm(embedding) - 1.0) < 1e-5
    assert float(embedding[0] @ full(x).numpy()[0]) < 0.9999   # another embedding than the 1.6 s windows'
    again = speaker_encoder.SpeakerEmbedding.from_config(short.get_config())   # as a saved model rebuilds it
    assert (again.window_length, again.windows, again.frames) == (80, 3, 400)


def test_the_encoder_stays_frozen_while_the_model_trains():
    model = model_lib.compile_model(model_lib.build_model(TINY, 16000, SAMPLES, num_classes=2), TINY)
    encoder = model.get_layer("speaker_embedding")
    assert not encoder.trainable_weights and len(encoder.non_trainable_weights) == 3 * 3 + 2
    trainable = {w.name for w in model.trainable_weights}
    assert any("speaker_logits" in n for n in trainable) and any("conv_logits" in n for n in trainable)
    before = [w.numpy().copy() for w in encoder.weights]
    x = np.random.default_rng(0).normal(0, 0.1, (8, SAMPLES)).astype(np.float32)
    model.fit(x, np.arange(8) % 2, epochs=1, batch_size=4, verbose=0)
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, encoder.weights))
    assert model.losses, "the speaker head's weight decay is part of the loss"


def test_without_the_setting_the_model_has_no_encoder():
    plain = model_lib.build_model(TrainerConfig(**{**TINY.__dict__, "speaker_embedding": False}), 16000, SAMPLES, 2)
    assert "speaker_embedding" not in {layer.name for layer in plain.layers}


@pytest.mark.slow
def test_the_exported_model_carries_the_encoder(tmp_path):
    model = model_lib.compile_model(model_lib.build_model(TINY, 16000, SAMPLES, num_classes=2), TINY)
    x = np.random.default_rng(1).normal(0, 0.1, (3, SAMPLES)).astype(np.float32)
    export.save(model, str(tmp_path / "m"), "float", 16000, SAMPLES, ["F", "M"], TINY.__dict__)
    served = tf.saved_model.load(str(tmp_path / "m")).signatures[export.CLASSIFY_AUDIO]
    np.testing.assert_allclose(served(audio=tf.constant(x))[export.OUTPUT_KEY].numpy(),
                               model(x, training=False).numpy(), rtol=1e-5, atol=1e-6)
    ops = {node.op for f in served.graph.as_graph_def().library.function for node in f.node_def}
    assert "BlockLSTMV2" in ops, "the served encoder runs its LSTMs as the fused kernel"


def _stack(units, widths, seed):
    """Keras LSTMs as SpeakerEmbedding stacks them, with random weights (biases included)."""
    rng, lstms = np.random.default_rng(seed), []
    for layer, width in enumerate(widths):
        lstm = tf.keras.layers.LSTM(units, return_sequences=layer < len(widths) - 1)
        lstm.build((None, None, width))
        lstm.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in lstm.get_weights()])
        lstms.append(lstm)
    return lstms


def _keras(lstms, x):
    for lstm in lstms:
        x = lstm(x)
    return x.numpy()


@pytest.mark.parametrize("batch, steps", [(1, 1), (3, 17), (6, 160)])
def test_the_fused_kernel_computes_what_the_keras_layers_compute(batch, steps):
    lstms = _stack(8, [5, 8, 8], seed=steps)
    x = tf.constant(np.random.default_rng(batch).normal(0, 2.0, (batch, steps, 5)).astype(np.float32))
    assert speaker_encoder.fused_lstm_available()
    np.testing.assert_allclose(speaker_encoder.run_lstms(lstms, x).numpy(), _keras(lstms, x), atol=2e-6)


def test_under_a_tpu_strategy_the_keras_layers_run(monkeypatch):
    lstms = _stack(4, [3, 4], seed=0)
    x = tf.constant(np.random.default_rng(0).normal(0, 1.0, (2, 6, 3)).astype(np.float32))
    tpu = object.__new__(tf.distribute.TPUStrategy)   # what get_strategy() returns inside a TPUStrategy's scope
    monkeypatch.setattr(tf.distribute, "get_strategy", lambda: tpu)
    assert not speaker_encoder.fused_lstm_available()
    calls = []
    for lstm in lstms:
        monkeypatch.setattr(lstm, "call", lambda inputs, _call=lstm.call, **kw: calls.append(1) or _call(inputs, **kw))
    speaker_encoder.run_lstms(lstms, x)
    assert len(calls) == 2


def test_the_fused_kernel_refuses_an_lstm_it_does_not_compute():
    lstms = _stack(4, [3, 4], seed=0)
    x = tf.zeros((1, 2, 3))
    lstms[1].cell.activation = tf.keras.activations.relu
    with pytest.raises(ValueError, match="the fused kernel computes forward sigmoid/tanh LSTMs"):
        speaker_encoder.run_lstms(lstms, x)
    with pytest.raises(ValueError, match="all but the last returning sequences"):
        speaker_encoder.run_lstms(lstms[:1], x)


def test_missing_weights_name_the_file_and_the_way_out(tmp_path):
    layer = speaker_encoder.SpeakerEmbedding(SAMPLES, weights_path=str(tmp_path / "gone.npz"))
    with pytest.raises(AudioClfError, match=r"gone.npz: the speaker encoder's weights are missing; restore "
                                            r"trainer/assets/.*trainer.speaker_embedding=false"):
        layer(np.zeros((1, SAMPLES), np.float32))


def test_head_dropout_lets_each_head_decide_alone_on_some_clips_and_sums_at_inference():
    a = tf.fill([4000, 2], 1.0)
    b = tf.fill([4000, 2], 10.0)
    layer = model_lib.HeadDropout(0.5)
    np.testing.assert_allclose(layer([a, b], training=False).numpy(), 11.0)
    got = layer([a, b], training=True).numpy()[:, 0]
    assert set(np.unique(got)) == {1.0, 10.0, 11.0}            # never both dropped
    assert abs(np.mean(got == 10.0) - 0.5) < 0.05               # A dropped on half
    assert abs(np.mean(got == 1.0) - 0.25) < 0.05               # B on half of the others
    np.testing.assert_allclose(model_lib.HeadDropout(0.0)([a, b], training=True).numpy(), 11.0)
