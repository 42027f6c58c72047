"""Classifying whole recordings with an exported model: the one code path of `audioclf predict` and of
the Evaluator's real-speech gate.

A recording (float mono samples at the model's rate) is cut into clip-length windows from its start;
audio left over after the last full window is heard in one more window on the recording's last clip
(overlapping the one before), and a recording shorter than a clip is padded with silence after it. The
recording's probabilities are the mean of its windows', each window weighted by the audio it adds, so a
3 s utterance and a one-hour recording are both one decision. (Until 2026-12-05 the last window was
padded instead; bench/window_replay.py measured the change on kept cross-validation models.)
"""
import os
import re
from typing import List, Sequence

import numpy as np
import tensorflow as tf

from components.common import audio, fs
from components.common.errors import AudioClfError
from trainer import export

WINDOW_BATCH = 16
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


WINDOW_CUT = "end-aligned"   # what cut_windows does; bench.kfold records it beside each fold's answers


def cut_windows(samples: np.ndarray, clip_samples: int):
    """(windows [n, clip_samples], samples of audio each window adds): clip-length windows from the start,
    then, if audio is left over, one window on the last clip_samples samples, weighted by the samples it
    adds; a recording shorter than a clip is one window, padded with silence after it."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) < clip_samples:
        return np.pad(samples, (0, clip_samples - len(samples)))[None, :], np.asarray([len(samples)])
    full = len(samples) // clip_samples
    windows = [samples[:full * clip_samples].reshape(full, clip_samples)]
    added = [clip_samples] * full
    if len(samples) > full * clip_samples:
        windows.append(samples[None, -clip_samples:])
        added.append(len(samples) - full * clip_samples)
    return np.concatenate(windows), np.asarray(added)


def window_count(samples: int, clip_samples: int) -> int:
    """How many windows cut_windows cuts from a recording of `samples` samples."""
    return max(1, -(-samples // clip_samples))


def window_starts(samples: int, clip_samples: int, count: int) -> np.ndarray:
    """Where each of cut_windows' `count` windows starts, in samples."""
    return np.minimum(np.arange(count) * clip_samples, max(0, samples - clip_samples))


def recording_probabilities(probabilities: np.ndarray, real: np.ndarray) -> np.ndarray:
    """A recording's class probabilities: its windows', weighted by the audio each adds (cut_windows)."""
    return (probabilities * real[:, None]).sum(axis=0) / real.sum()


BROKEN_MODEL_HINT = "The model folder is damaged: push the model again (`audioclf run`) or pass another version."


def _one_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


class Classifier:
    """`limits` (the serving.* settings) bound what read/read_bytes decode and what `check` accepts; the
    Evaluator's gate classifies its utterances unbounded."""

    def __init__(self, model_dir: str, limits: audio.Limits = audio.NO_LIMITS):
        self.model_dir = resolve_model_dir(model_dir)
        self.limits = limits
        metadata_file = os.path.join(self.model_dir, export.MODEL_METADATA_FILE)
        for path in (metadata_file, os.path.join(self.model_dir, "saved_model.pb")):
            if fs.exists(path):   # a FIFO or device here would hang TensorFlow's reader
                fs.check_regular_file(path, BROKEN_MODEL_HINT)
        try:
            self.metadata = export.read_metadata(self.model_dir)
            self.sample_rate = int(self.metadata["sample_rate"])
            self.clip_samples = int(self.metadata["clip_samples"])
            self.label_names: List[str] = [str(n) for n in self.metadata["label_names"]]
            if self.sample_rate <= 0 or self.clip_samples <= 0 or not self.label_names:
                raise ValueError("sample_rate, clip_samples and label_names must be positive / non-empty")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:   # JSONDecodeError is a ValueError
            raise AudioClfError(f"{metadata_file}: not valid audioclf model metadata ({type(err).__name__}: "
                                f"{_one_line(err)}). {BROKEN_MODEL_HINT}") from err
        try:
            self._classify = tf.saved_model.load(self.model_dir).signatures[export.CLASSIFY_AUDIO]
        except Exception as err:  # pylint: disable=broad-except  # DecodeError, OSError, KeyError, ...: TF's varied
            raise AudioClfError(f"{os.path.join(self.model_dir, 'saved_model.pb')}: cannot load the SavedModel "
                                f"({type(err).__name__}: {_one_line(err)}). {BROKEN_MODEL_HINT}") from err

    def windows(self, samples: np.ndarray):
        """(windows [n, clip_samples], samples of audio each window adds)."""
        return cut_windows(samples, self.clip_samples)

    def classify_recordings(self, recordings: Sequence[np.ndarray]) -> List[dict]:
        """classify_samples for each recording (float samples at the model's rate), in order. Their windows
        share the model calls, WINDOW_BATCH at a time (a short file has one to four windows; what sharing saves:
        bench/bench_predict.py, part (c))."""
        cuts = [self.windows(samples) for samples in recordings]
        if not cuts:
            return []
        windows = np.concatenate([w for w, _ in cuts])
        probabilities = np.concatenate([
            self._classify(audio=tf.constant(windows[i:i + WINDOW_BATCH]))[export.OUTPUT_KEY].numpy()
            for i in range(0, len(windows), WINDOW_BATCH)])
        ends = np.cumsum([len(w) for w, _ in cuts])
        return [self._answer(samples, probabilities[end - len(w):end], real)
                for samples, (w, real), end in zip(recordings, cuts, ends)]

    def classify_samples(self, samples: np.ndarray) -> dict:
        return self.classify_recordings([samples])[0]

    def _answer(self, samples: np.ndarray, probabilities: np.ndarray, real: np.ndarray) -> dict:
        """A recording's answer from its windows' probabilities and the audio each window adds."""
        mean = recording_probabilities(probabilities, real)
        best = int(np.argmax(mean))
        starts = window_starts(len(samples), self.clip_samples, len(probabilities))
        return {
            "label": self.label_names[best], "probability": round(float(mean[best]), 4),
            "probabilities": {n: round(float(p), 4) for n, p in zip(self.label_names, mean)},
            "duration_s": round(len(samples) / self.sample_rate, 3),
            "windows": [{"start_s": round(int(starts[i]) / self.sample_rate, 3),
                         "seconds": round(float(real[i]) / self.sample_rate, 3),
                         "label": self.label_names[int(np.argmax(p))], "probability": round(float(p.max()), 4)}
                        for i, p in enumerate(probabilities)],
        }

    def read(self, path: str) -> np.ndarray:
        """The file as the model hears it: mono float samples at the model's rate. Only a regular file is
        opened, and one over limits.max_bytes is refused unread."""
        return audio.decode_audio(path, self.sample_rate, UNREADABLE_HINT, self.limits)

    def check(self, samples: np.ndarray, name: str) -> None:
        """Refuses audio (at the model's rate) outside the limits, or with NaN/infinite samples."""
        audio.check_samples(samples, self.sample_rate, name, self.limits)

    def load(self, path: str) -> np.ndarray:
        """The file's samples as the model hears them (read), refused outside the limits (check)."""
        samples = self.read(path)
        self.check(samples, path)
        return samples

    def classify_file(self, path: str) -> dict:
        return {"file": path, **self.classify_samples(self.load(path))}

    def read_bytes(self, data: bytes, name: str) -> np.ndarray:
        """The bytes of an audio file (a model server's request), decoded as `read` decodes a file."""
        return audio.decode_audio_bytes(data, self.sample_rate, name, UNREADABLE_HINT, self.limits)

    def resample(self, samples: np.ndarray, rate: int) -> np.ndarray:
        """Float samples at `rate` at the model's rate, resampled as a decoded file would be."""
        return audio.resample(np.asarray(samples, dtype=np.float32), rate, self.sample_rate)
