"""Accuracy of a finished `audioclf run`, every figure beside a trivial median-F0 baseline measured the same way.

    python -m bench.accuracy --run OUTPUT [--vctk data/vctk-mini] [--max-train-files 300]
                             [--out bench/results/accuracy.md]

Rows (what is classified, and where the baseline's F0 threshold comes from):
- test clips: the Split-test Examples of the run's AudioExampleGen, decoded and classified one by one
  with the pushed model (`Classifier.classify_samples`); the pipeline's own TFMA accuracy from
  summary.json is quoted beside it. F0 threshold: fitted on the first --max-train-files Split-train clips.
- single utterances, test-split speakers: every corpus file of the speakers the speaker index put in
  "test", each classified whole by `Classifier.classify_file` (as `audioclf predict` does). F0
  threshold: fitted on up to --max-train-files utterances of train-split speakers, taken round-robin
  over the speakers so that a cap keeps every voice.
- VCTK (cross-corpus): every file under --vctk (LibriSpeech layout), the utterance threshold above:
  no VCTK audio is used for fitting.

The baseline (bench/f0_baseline.py) sees exactly the audio the model sees: the clip, or the file
decoded at the model's sample rate. Per-gender accuracy is the share of that gender's items classified
right; a recording without a voiced frame counts as an F0 error ("no F0"). The 95 % interval of an
overall accuracy is Wilson's; with a few dozen items, differences inside it are noise.
"""
import argparse
import dataclasses
import itertools
import json
import os
import sys
import time
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from bench import f0_baseline
from bench._util import machine_lines, table
from components.common import audio, example_format, fs
from components.speaker_index import corpus
from components.speaker_index.executor import read_index
from pipeline.predict import Classifier

LABEL_OF_GENDER = {"M": f0_baseline.MALE, "F": f0_baseline.FEMALE}
LABEL_OF_NAME = {"male": f0_baseline.MALE, "female": f0_baseline.FEMALE}
AUDIO_EXTENSIONS = (".flac", ".wav")


@dataclasses.dataclass
class Item:
    label: int               # truth: 0 male, 1 female
    model: int               # the model's label
    f0: Optional[float]      # median F0 in Hz, None without a voiced frame
    speaker: Optional[str] = None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_clips(examples_dir: str, split: str, limit: Optional[int] = None) -> Iterator[Tuple[np.ndarray, int, int]]:
    """(float samples, sample rate, label) of a split's Examples, in shard order, at most `limit`."""
    pattern = os.path.join(examples_dir, f"Split-{split}", "data_tfrecord-*.gz")
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise SystemExit(f"no Examples match {pattern}")
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    for record in itertools.islice(records, limit):
        example = tf.train.Example.FromString(record.numpy())
        feature = example.features.feature
        yield (example_format.decode_audio_feature(example),
               int(feature[example_format.SAMPLE_RATE].int64_list.value[0]),
               int(feature[example_format.LABEL].int64_list.value[0]))


def round_robin(groups: Sequence[Sequence]) -> list:
    """The first of every group, then the second of every group, ..."""
    return [x for layer in itertools.zip_longest(*groups) for x in layer if x is not None]


def index_files(index: dict, split: str) -> List[Tuple[str, int, str]]:
    """(path, label, speaker) of every file of the index's speakers in `split`, round-robin over speakers."""
    root = index["data_root"]
    return round_robin([[(fs.join(root, f["path"]), LABEL_OF_GENDER[entry["gender"]], speaker) for f in entry["files"]]
                        for speaker, entry in sorted(index["speakers"].items()) if entry.get("split") == split])


def corpus_dir_files(data_root: str) -> List[Tuple[str, int, str]]:
    """(path, label, speaker) of every audio file of a LibriSpeech-layout folder whose speaker SPEAKERS.TXT lists."""
    listed = corpus.read_speakers_file(data_root)
    on_disk = corpus.scan_audio_files(data_root, [], AUDIO_EXTENSIONS)
    return [(fs.join(data_root, rel), LABEL_OF_GENDER[listed[speaker].gender], speaker)
            for speaker in sorted(on_disk) if speaker in listed for rel in on_disk[speaker]]


def f0_of_files(files, rate: int) -> List[Optional[float]]:
    return [f0_baseline.median_f0(audio.decode_audio(path, rate), rate) for path, _, _ in files]


def score_files(classifier: Classifier, files, what: str) -> List[Item]:
    items = []
    for n, (path, label, speaker) in enumerate(files, start=1):
        samples = audio.decode_audio(path, classifier.sample_rate)
        items.append(Item(label, LABEL_OF_NAME[classifier.classify_file(path)["label"]],
                          f0_baseline.median_f0(samples, classifier.sample_rate), speaker))
        if n % 25 == 0:
            log(f"  {what}: {n}/{len(files)}")
    return items


def score_clips(classifier: Classifier, examples_dir: str) -> List[Item]:
    items = []
    for samples, rate, label in read_clips(examples_dir, "test"):
        model_audio = audio.resample(samples, rate, classifier.sample_rate)
        items.append(Item(label, LABEL_OF_NAME[classifier.classify_samples(model_audio)["label"]],
                          f0_baseline.median_f0(samples, rate)))
    return items


def wilson(correct: int, n: int, z: float = 1.96) -> Tuple[float, float]:
    p = correct / n
    centre, half = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def accuracy_cells(predicted: np.ndarray, labels: np.ndarray) -> List[str]:
    """Overall accuracy with its 95 % interval, then female and male accuracy."""
    def pct(mask):
        return f"{100 * np.mean(predicted[mask] == labels[mask]):.1f} %" if mask.any() else "n/a"
    if not len(labels):
        return ["n/a"] * 3
    low, high = wilson(int(np.sum(predicted == labels)), len(labels))
    return [f"**{pct(labels >= 0)}** ({100 * low:.0f}-{100 * high:.0f})",
            pct(labels == f0_baseline.FEMALE), pct(labels == f0_baseline.MALE)]


def row(name: str, items: List[Item], threshold: float, speakers: Optional[str] = None) -> List[str]:
    labels = np.array([i.label for i in items], dtype=int)
    model = np.array([i.model for i in items], dtype=int)
    f0 = np.array([f0_baseline.predict(i.f0, threshold) for i in items], dtype=int)
    females = int(np.sum(labels == f0_baseline.FEMALE))
    if speakers is None:
        genders = {i.speaker: i.label for i in items}
        speakers = f"{len(genders)} ({sum(genders.values())} F)"
    return ([name, f"{len(items)} ({females} F)", speakers] + accuracy_cells(model, labels)
            + accuracy_cells(f0, labels) + [str(sum(i.f0 is None for i in items))])


def main(argv: Optional[Sequence[str]] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--run", required=True, help="output folder of a finished `audioclf run` (holds summary.json)")
    parser.add_argument("--model", help="SavedModel to score (default: the run's pushed model)")
    parser.add_argument("--vctk", default="data/vctk-mini", help="LibriSpeech-layout cross-corpus folder; '' skips it")
    parser.add_argument("--max-train-files", type=int, default=300,
                        help="at most this many train clips, and train utterances, to fit the F0 thresholds")
    parser.add_argument("--out", default="bench/results/accuracy.md")
    args = parser.parse_args(argv)
    started = time.time()

    with open(os.path.join(args.run, "summary.json"), encoding="utf-8") as f:
        summary = json.load(f)
    outputs = summary["components"]
    index = read_index(outputs["SpeakerIndexGen"]["outputs"]["speaker_index"][0])
    examples_dir = outputs["AudioExampleGen"]["outputs"]["examples"][0]
    model_dir = args.model or summary["model"].get("pushed_model")
    if not model_dir:
        raise SystemExit(f"{args.run}: no model was pushed; pass --model (e.g. <Trainer model>/Format-Serving)")
    classifier = Classifier(model_dir)
    tfma = (summary["model"].get("test") or {}).get("metrics", {}).get("overall", {}).get("sparse_categorical_accuracy")

    log(f"fitting the clip threshold on at most {args.max_train_files} train clips")
    train_clips = [(f0_baseline.median_f0(s, rate), label)
                   for s, rate, label in read_clips(examples_dir, "train", args.max_train_files)]
    clip_threshold = f0_baseline.fit_threshold(*zip(*train_clips))
    train_files = index_files(index, "train")[:args.max_train_files]
    log(f"fitting the utterance threshold on {len(train_files)} train-speaker utterances")
    utterance_threshold = f0_baseline.fit_threshold(f0_of_files(train_files, classifier.sample_rate),
                                                    [label for _, label, _ in train_files])

    log("scoring the test clips")
    clips = score_clips(classifier, examples_dir)
    test_genders = [e["gender"] for e in index["speakers"].values() if e.get("split") == "test"]
    rows = [row("test clips", clips, clip_threshold,
                f"{len(test_genders)} ({test_genders.count('F')} F) in the test split")]
    test_files = index_files(index, "test")
    log(f"scoring {len(test_files)} test-speaker utterances")
    rows.append(row("single utterances, test-split speakers", score_files(classifier, test_files, "utterances"),
                    utterance_threshold))
    if args.vctk:
        vctk_files = corpus_dir_files(args.vctk)
        log(f"scoring {len(vctk_files)} files of {args.vctk}")
        rows.append(row(f"VCTK (cross-corpus, {args.vctk})", score_files(classifier, vctk_files, "VCTK"),
                        utterance_threshold))

    lines = [
        "# Accuracy: model vs a median-F0 threshold", "",
        f"- run: {os.path.abspath(args.run)} (run_id {summary.get('run_id')}, status {summary.get('status')})",
        f"- model: {classifier.model_dir} ({classifier.sample_rate} Hz, "
        f"{classifier.clip_samples / classifier.sample_rate:g} s windows)",
        f"- pipeline's TFMA accuracy on the test clips (summary.json): "
        f"{'n/a' if tfma is None else f'{100 * tfma:.1f} %'}",
        f"- F0 baseline: median `librosa.pyin` F0 (60-400 Hz) over voiced frames, female above the threshold; "
        f"thresholds {clip_threshold:.1f} Hz for clips (fit on {len(train_clips)} train clips) and "
        f"{utterance_threshold:.1f} Hz for utterances (fit on {len(train_files)} utterances of train-split "
        f"LibriSpeech speakers; also used for VCTK)",
        *machine_lines([f"time taken: {time.time() - started:.0f} s"]), "",
        table(["set", "items (F)", "speakers (F)", "model acc. (95 % CI)", "model F", "model M",
               "F0 acc. (95 % CI)", "F0 F", "F0 M", "no F0"], rows), "",
        "Accuracy in % of items; F / M: accuracy on the female / male items only. "
        "See bench/accuracy.py for what each row measures.", "",
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report)
    return report


if __name__ == "__main__":
    main()
