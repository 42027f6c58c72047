"""The exported SavedModel: two signatures, and the settings it was trained with beside it.

- `serving_default`: a batch of serialized tf.Example (the ExampleGen's layout) -> probabilities. TFMA
  evaluates the model through it.
- `classify_audio`: a batch of float audio [batch, clip_samples] at the training sample rate ->
  probabilities. `audioclf predict` uses it.

The model is saved as a plain tf.Module holding traced functions, so loading it needs TensorFlow
only (no kapre, no Keras custom objects); `<model>/assets.extra/audioclf.json` holds the sample
rate, clip length, class names and the full trainer config.
"""
import json
import os
from typing import Any, Dict, List

import tensorflow as tf

from trainer import input as input_lib

SERVE_EXAMPLES = "serving_default"
CLASSIFY_AUDIO = "classify_audio"
OUTPUT_KEY = "probabilities"
MODEL_METADATA_FILE = os.path.join("assets.extra", "audioclf.json")


class _ServingModule(tf.Module):
    def __init__(self, model: tf.keras.Model, encoding: str, clip_samples: int):
        super().__init__(name="audioclf_serving")
        self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(examples):
            audio = input_lib.parse_examples(examples, encoding, clip_samples, with_label=False)
            return {OUTPUT_KEY: self.model(audio, training=False)}

        @tf.function(input_signature=[tf.TensorSpec([None, clip_samples], tf.float32, name="audio")])
        def classify_audio(audio):
            return {OUTPUT_KEY: self.model(audio, training=False)}

        self.serve_examples = serve_examples
        self.classify_audio = classify_audio


def save(model: tf.keras.Model, export_dir: str, encoding: str, sample_rate: int, clip_samples: int,
         label_names: List[str], trainer_config: Dict[str, Any]) -> None:
    module = _ServingModule(model, encoding, clip_samples)
    tf.saved_model.save(module, export_dir, signatures={SERVE_EXAMPLES: module.serve_examples,
                                                        CLASSIFY_AUDIO: module.classify_audio})
    tf.io.gfile.makedirs(os.path.join(export_dir, "assets.extra"))
    with tf.io.gfile.GFile(os.path.join(export_dir, MODEL_METADATA_FILE), "w") as f:
        json.dump({"sample_rate": sample_rate, "clip_samples": clip_samples, "label_names": label_names,
                   "audio_encoding": encoding, "trainer": trainer_config}, f, indent=1, sort_keys=True)


def read_metadata(export_dir: str) -> Dict[str, Any]:
    path = os.path.join(export_dir, MODEL_METADATA_FILE)
    if not tf.io.gfile.exists(path):
        from components.common.errors import AudioClfError  # pylint: disable=import-outside-toplevel
        raise AudioClfError(f"{export_dir} is not a model exported by audioclf ({MODEL_METADATA_FILE} is missing); "
                            f"pass a pushed model folder, e.g. OUTPUT/serving/<version>.")
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)
