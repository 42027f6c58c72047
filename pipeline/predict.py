"""`audioclf predict`: classifies audio files with a pushed (or any exported) model.

Each file is decoded (soundfile, or pydub/ffmpeg for other formats), mixed to mono, resampled to the
model's rate and cut into clip-length windows, the last one padded with silence. The file's
probabilities are the mean of its windows', each window weighted by how much of it is real audio,
so a 3 s utterance and a one-hour recording are both one decision. One JSON line per file; a file
that cannot be decoded gets an error line and the others are still classified.
"""
import json
import logging
import sys
import time
from typing import IO, Optional, Sequence

from components.common import progress
from components.common.errors import find_user_message
from trainer.classifier import Classifier, resolve_model_dir  # noqa: F401  (resolve_model_dir: API)

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 5.0   # a progress line on stderr at most this often while many files are classified


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
