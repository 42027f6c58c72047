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
