"""`audioclf predict`: classifies audio files with a pushed (or any exported) model.

Each file is decoded (soundfile, or pydub/ffmpeg for other formats), mixed to mono, resampled to the
model's rate and cut into clip-length windows (trainer/classifier.py: audio after the last full window is
heard in one more window on the file's last clip; a file shorter than a clip is padded with silence). The
file's probabilities are the mean of its windows', each window weighted by the audio it adds, so a 3 s
utterance and a one-hour recording are both one decision. One JSON line per file, in order; the windows
of consecutive files share the model's calls (about WINDOW_BATCH windows each), so a folder of short
files is classified faster than the files one by one. A file that cannot be decoded gets an error line
and the others are still classified.

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
from trainer.classifier import WINDOW_BATCH, Classifier, resolve_model_dir, window_count  # noqa: F401  (resolve_model_dir: API)

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


def _load(classifier: Classifier, path: str):
    if os.path.isdir(path):
        raise AudioClfError(f"{path} is a folder without audio files ({', '.join(audio.AUDIO_EXTENSIONS)}, searched "
                            f"recursively); pass audio files or a folder that holds some.")
    return classifier.load(path)


def _error_line(path: str, err: Exception) -> dict:
    message = find_user_message(err)
    if message is None:
        log.exception("classifying %s failed", path)
        message = f"internal error: {type(err).__name__}: {err}"
    return {"file": path, "error": message}


def classify_paths(classifier: Classifier, files: Sequence[str], out: IO[str]) -> int:
    """One JSON line per file on `out`, in order; returns the number of files that could not be classified.
    Files are decoded one by one and classified in groups whose windows fill about one model call
    (Classifier.classify_recordings), so many short files share calls; a file that cannot be decoded gets
    its error line in its place and the others are still classified."""
    failed, group, windows = 0, [], 0   # group: (path, samples or None, error line or None), in order
    started = last_shown = time.monotonic()

    def flush():
        nonlocal failed
        good = [i for i, (_, _, error) in enumerate(group) if error is None]
        try:
            answers = classifier.classify_recordings([group[i][1] for i in good])
            lines = {i: {"file": group[i][0], **answer} for i, answer in zip(good, answers)}
        except Exception as err:  # pylint: disable=broad-except  # a failed call fails its group, not the others
            lines = {i: _error_line(group[i][0], err) for i in good}
            failed += len(good)
        for i, (_, _, error) in enumerate(group):
            out.write(json.dumps(error or lines[i]) + "\n")
        out.flush()
        group.clear()

    for done, path in enumerate(files):
        if len(files) > 1 and time.monotonic() - last_shown >= PROGRESS_SECONDS:
            last_shown = time.monotonic()
            log.info("%s", progress.describe("predict", done, len(files), "files", last_shown - started)
                     + (f", {failed} failed" if failed else ""))
        try:
            samples = _load(classifier, path)
            group.append((path, samples, None))
            windows += window_count(len(samples), classifier.clip_samples)
        except Exception as err:  # pylint: disable=broad-except  # one bad file must not stop the others
            group.append((path, None, _error_line(path, err)))
            failed += 1
        if windows >= WINDOW_BATCH:
            flush()
            windows = 0
    flush()
    if len(files) > 1:
        log.info("predict: %d files in %.1f s, %d failed", len(files), time.monotonic() - started, failed)
    return failed


def predict(model_dir: str, files: Sequence[str], out: Optional[IO[str]] = None,
            serving: Optional[ServingConfig] = None) -> int:
    """Prints one JSON line per file (folders expanded); returns the number of files that could not be
    classified. `serving` gives the limits (default: the serving section's defaults)."""
    classifier = Classifier(model_dir, limits=(serving or ServingConfig()).limits())
    files = expand(files)
    log.info("classifying %d file(s) with %s (%d Hz, %.1f s windows)", len(files), classifier.model_dir,
             classifier.sample_rate, classifier.clip_samples / classifier.sample_rate)
    return classify_paths(classifier, files, out or sys.stdout)
