"""`audioclf predict`: classifies audio files with a pushed (or any exported) model.

Each file is decoded (soundfile, or pydub/ffmpeg for other formats), mixed to mono, resampled to the
model's rate and cut into clip-length windows, the last one padded with silence. The file's
probabilities are the mean of its windows', each window weighted by how much of it is real audio,
so a 3 s utterance and a one-hour recording are both one decision. One JSON line per file; a file
that cannot be decoded gets an error line and the others are still classified.

A folder argument stands for the audio files under it (components.common.audio.AUDIO_EXTENSIONS, any
case), recursively, sorted by path; hidden files and folders and symbolic links to folders are not
entered; a folder holding none is one error line. Only regular files are opened: a FIFO, a device
(/dev/zero) or a socket gets an error line without being opened. The serving.* limits of the model
server apply to each file: serving.max_file_mb (refused unread), serving.max_audio_seconds (refused
from the header where the format has an exact one) and serving.min_audio_seconds; NaN or infinite
samples are refused too.
"""
import json
import logging
import os
import sys
import time
from typing import IO, List, Optional, Sequence

from components.common import audio, progress
from components.common.errors import AudioClfError, find_user_message
from serving.config import ServingConfig
from trainer.classifier import Classifier, resolve_model_dir  # noqa: F401  (resolve_model_dir: API)

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 5.0   # a progress line on stderr at most this often while many files are classified


def _folder_audio(folder: str) -> List[str]:
    """The audio files under `folder`, recursively, sorted; hidden names and linked folders not entered."""
    found = []
    for parent, dirs, names in os.walk(folder):   # followlinks=False: a link loop cannot recurse forever
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.join(parent, n) for n in names
                  if not n.startswith(".") and n.lower().endswith(audio.AUDIO_EXTENSIONS)]
    return sorted(found)


def expand(paths: Sequence[str]) -> List[str]:
    """The files to classify: each argument, a folder replaced by its audio files (see the module doc).
    A folder without any stays, and gets an error line."""
    files: List[str] = []
    for path in paths:
        inside = _folder_audio(path) if os.path.isdir(path) else []
        files += inside or [path]
    return files


def _classify_one(classifier: Classifier, path: str) -> dict:
    if os.path.isdir(path):
        raise AudioClfError(f"{path} is a folder without audio files ({', '.join(audio.AUDIO_EXTENSIONS)}, searched "
                            f"recursively); pass audio files or a folder that holds some.")
    return classifier.classify_file(path)


def predict(model_dir: str, files: Sequence[str], out: Optional[IO[str]] = None,
            serving: Optional[ServingConfig] = None) -> int:
    """Prints one JSON line per file (folders expanded); returns the number of files that could not be
    classified. `serving` gives the limits (default: the serving section's defaults)."""
    out = out or sys.stdout
    classifier = Classifier(model_dir, limits=(serving or ServingConfig()).limits())
    files = expand(files)
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
            line = _classify_one(classifier, path)
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
