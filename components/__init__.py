"""Custom TFX components, one folder each: component.py, executor.py and tests beside them."""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before TensorFlow is imported; see pipeline/__init__.py
