"""`audioclf predict`: classifies audio files with a pushed (or any exported) model.

Each file is decoded (soundfile, or pydub/ffmpeg for other formats), mixed to mono, resampled to the
model's rate and cut into clip-length windows, the last one padded with silence. The file's
probabilities are the mean of its windows', each window weighted by how much of it is real audio,
so a 3 s utterance and a one-hour recording are both one decision. One JSON line per file; a file
that cannot be decoded gets an error line and the others are still classified.
"""
import json
import logging
import os
import re
import sys
import time
from typing import IO, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from components.common import audio, progress
from pipeline.errors import AudioClfError, find_user_message
from trainer import export

log = logging.getLogger(__name__)
WINDOW_BATCH = 16
PROGRESS_SECONDS = 5.0   # a progress line on stderr at most this often while many files are classified
UNREADABLE_HINT = "The file is corrupt, empty or not audio (formats: those libsndfile or ffmpeg can read)."


def resolve_model_dir(path: str) -> str:
    """The SavedModel folder: `path` itself, or its newest numbered version (a Pusher's serving dir)."""
    if tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        return path
    if not tf.io.gfile.isdir(path):
        raise AudioClfError(f"model folder {path} does not exist; pass the pushed model printed by `audioclf run` "
                            f"(OUTPUT/serving/<version>) or the serving folder itself.")
    versions = sorted((int(name.strip("/")) for name in tf.io.gfile.listdir(path) if re.fullmatch(r"\d+/?", name)),
                      reverse=True)
    for version in versions:
        candidate = os.path.join(path, str(version))
        if tf.io.gfile.exists(os.path.join(candidate, "saved_model.pb")):
            return candidate
    raise AudioClfError(f"{path} holds no SavedModel (saved_model.pb) and no numbered model versions; "
                        f"has a model been blessed and pushed? Run `audioclf run` first.")


class Classifier:
    def __init__(self, model_dir: str):
        self.model_dir = resolve_model_dir(model_dir)
        self.metadata = export.read_metadata(self.model_dir)
        self.sample_rate = int(self.metadata["sample_rate"])
        self.clip_samples = int(self.metadata["clip_samples"])
        self.label_names: List[str] = list(self.metadata["label_names"])
        self._classify = tf.saved_model.load(self.model_dir).signatures[export.CLASSIFY_AUDIO]

    def windows(self, samples: np.ndarray):
        """(windows [n, clip_samples], real samples in each window)."""
        count = max(1, -(-len(samples) // self.clip_samples))
        padded = np.zeros(count * self.clip_samples, dtype=np.float32)
        padded[:len(samples)] = samples
        real = np.minimum(self.clip_samples, len(samples) - np.arange(count) * self.clip_samples)
        return padded.reshape(count, self.clip_samples), real

    def classify_samples(self, samples: np.ndarray) -> dict:
        windows, real = self.windows(samples)
        probabilities = np.concatenate([
            self._classify(audio=tf.constant(windows[i:i + WINDOW_BATCH]))[export.OUTPUT_KEY].numpy()
            for i in range(0, len(windows), WINDOW_BATCH)])
        mean = (probabilities * real[:, None]).sum(axis=0) / real.sum()
        best = int(np.argmax(mean))
        return {
            "label": self.label_names[best], "probability": round(float(mean[best]), 4),
            "probabilities": {n: round(float(p), 4) for n, p in zip(self.label_names, mean)},
            "duration_s": round(len(samples) / self.sample_rate, 3),
            "windows": [{"start_s": round(i * self.clip_samples / self.sample_rate, 3),
                         "seconds": round(float(real[i]) / self.sample_rate, 3),
                         "label": self.label_names[int(np.argmax(p))], "probability": round(float(p.max()), 4)}
                        for i, p in enumerate(probabilities)],
        }

    def classify_file(self, path: str) -> dict:
        return {"file": path, **self.classify_samples(audio.decode_audio(path, self.sample_rate, UNREADABLE_HINT))}


def predict(model_dir: str, files: Sequence[str], out: Optional[IO[str]] = None) -> int:
    """Prints one JSON line per file; returns the number of files that could not be classified."""
    out = out or sys.stdout
    classifier = Classifier(model_dir)
    log.info("classifying %d file(s) with %s (%d Hz, %.1f s windows)", len(files), classifier.model_dir,
             classifier.sample_rate, classifier.clip_samples / classifier.sample_rate)
    failed = 0
    started = last_shown = time.monotonic()
    for done, path in enumerate(files):
        if len(files) > 1 and time.monotonic() - last_shown >= PROGRESS_SECONDS:
            last_shown = time.monotonic()
            log.info("%s", progress.describe("predict", done, len(files), "files", last_shown - started)
                     + (f", {failed} failed" if failed else ""))
        try:
            line = classifier.classify_file(path)
        except Exception as err:  # pylint: disable=broad-except  # one bad file must not stop the others
            message = find_user_message(err)
            if message is None:
                log.exception("classifying %s failed", path)
                message = f"internal error: {type(err).__name__}: {err}"
            line = {"file": path, "error": message}
            failed += 1
        out.write(json.dumps(line) + "\n")
        out.flush()
    if len(files) > 1:
        log.info("predict: %d files in %.1f s, %d failed", len(files), time.monotonic() - started, failed)
    return failed
