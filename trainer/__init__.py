"""The Keras model and TFX Trainer `run_fn` (built in the model-half issue)."""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before TensorFlow is imported; see pipeline/__init__.py
