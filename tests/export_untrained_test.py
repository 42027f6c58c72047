"""bench/export_untrained.py: a recipe's structure exported with untrained weights answers on the
classify_audio signature with the recipe's clip length and classes, as a pushed model does."""
import os

import numpy as np
import tensorflow as tf

from bench import export_untrained
from trainer import export

TINY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny.yaml")


def test_a_recipes_structure_exports_and_answers(tmp_path):
    out = str(tmp_path / "m")
    assert export_untrained.main(["--config", TINY, "--set", "trainer.pitch_histogram=false", "--out", out]) == 0
    meta = export.read_metadata(out)
    assert meta["label_names"] and meta["trainer"]["pitch_histogram"] is False
    served = tf.saved_model.load(out).signatures[export.CLASSIFY_AUDIO]
    x = np.zeros((2, meta["clip_samples"]), np.float32)
    p = served(audio=tf.constant(x))[export.OUTPUT_KEY].numpy()
    assert p.shape == (2, len(meta["label_names"])) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_a_fitted_speaker_head_is_exported_with_its_encoder(tmp_path):
    """With trainer.speaker_embedding_head=fitted the conv model is built alone; the untrained export still
    carries the encoder and the head the Trainer fits after training, so a speed measurement times them."""
    out = str(tmp_path / "m")
    assert export_untrained.main(["--config", TINY, "--set", "synthesis.sample_rate=16000",
                                  "--set", "trainer.speaker_embedding=true",
                                  "--set", "trainer.speaker_embedding_head=fitted", "--out", out]) == 0
    loaded = tf.saved_model.load(out)
    served = loaded.signatures[export.CLASSIFY_AUDIO]
    names = {v.name for v in served.variables}
    assert any("lstm" in n for n in names) and any("speaker_logits" in n for n in names), sorted(names)
    meta = export.read_metadata(out)
    p = served(audio=tf.zeros((1, meta["clip_samples"])))[export.OUTPUT_KEY].numpy()
    assert p.shape == (1, 2) and np.allclose(p.sum(), 1.0, atol=1e-5)
