"""The Keras model on raw audio and the TFX Trainer `run_fn` (task.py), with its input, strategy, callbacks and export."""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before TensorFlow is imported; see pipeline/__init__.py
