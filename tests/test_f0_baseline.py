"""Fast checks of the median-F0 baseline (bench/f0_baseline.py) and of bench/accuracy.py on a fake run.

The fake run holds harmonic tones instead of speech (low = male, high = female) and a stand-in model
that always answers "female", so every figure of the report is known in advance. No pipeline is run.
"""
import json
import os

import numpy as np
import pytest
import soundfile as sf

from bench import f0_baseline

RATE = 8000


def tone(f0: float, seconds: float = 0.5, rate: int = RATE) -> np.ndarray:
    """A voice-like harmonic tone: the first 8 harmonics, amplitude falling as 1/k."""
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 9) if k * f0 < rate / 2)
    return (0.3 * wave / np.max(np.abs(wave))).astype(np.float32)


@pytest.mark.parametrize("f0,rate", [(110.0, 16000), (220.0, 16000), (110.0, 8000), (220.0, 8000)])
def test_median_f0_of_harmonic_tones(f0, rate):
    measured = f0_baseline.median_f0(tone(f0, rate=rate), rate)
    assert measured is not None and abs(measured - f0) / f0 < 0.05, measured


def test_silence_and_empty_have_no_f0():
    assert f0_baseline.median_f0(np.zeros(RATE, dtype=np.float32), RATE) is None
    assert f0_baseline.median_f0(np.zeros(0, dtype=np.float32), RATE) is None


def test_fit_threshold_separates_two_clusters_and_predict():
    male, female = [95.0, 110.0, 120.0, 130.0], [180.0, 200.0, 210.0, 240.0]
    threshold = f0_baseline.fit_threshold(male + female + [None], [0] * 4 + [1] * 5)
    assert 130.0 < threshold < 180.0
    assert [f0_baseline.predict(f, threshold) for f in male + female] == [0] * 4 + [1] * 4
    assert f0_baseline.predict(None, threshold) == f0_baseline.NO_F0   # counted as wrong for both labels
    # Overlap: 115 and 195 both leave one value wrong (155 two); the lower one wins.
    assert f0_baseline.fit_threshold([100, 110, 190, 120, 200, 210], [0, 0, 0, 1, 1, 1]) == 115.0
    with pytest.raises(ValueError):
        f0_baseline.fit_threshold([None], [1])


class AlwaysFemale:
    """Stands in for pipeline.predict.Classifier."""
    sample_rate, clip_samples = RATE, RATE // 2

    def __init__(self, model_dir):
        self.model_dir = model_dir

    def classify_samples(self, samples):
        return {"label": "female"}

    def classify_file(self, path):
        return {"label": "female"}


def write_flac(path, f0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, tone(f0), RATE)


def make_fake_run(root):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from components.common import audio, example_format  # pylint: disable=import-outside-toplevel

    voices = {"m1": ("M", "train", 110), "f1": ("F", "train", 220), "m2": ("M", "train", 125),
              "f2": ("F", "train", 200), "m3": ("M", "test", 100), "f3": ("F", "test", 235),
              "m4": ("M", "eval", 115), "f4": ("F", "eval", 215)}
    data = os.path.join(root, "corpus")
    speakers = {}
    for speaker, (gender, split, f0) in voices.items():
        files = []
        for n in range(2):
            rel = f"mini/{speaker}/0/{speaker}-0-{n}.flac"
            write_flac(os.path.join(data, rel), f0 + 3 * n)
            files.append({"path": rel, "sample_rate": RATE, "seconds": 0.5})
        speakers[speaker] = {"gender": gender, "split": split, "files": files}
    index_dir = os.path.join(root, "index")
    os.makedirs(index_dir)
    with open(os.path.join(index_dir, "speaker_index.json"), "w", encoding="utf-8") as f:
        json.dump({"data_root": data, "speakers": speakers}, f)

    examples = os.path.join(root, "examples")
    clips = {"train": [(105, 0), (225, 1), (130, 0), (190, 1)], "test": [(98, 0), (112, 0), (205, 1)]}
    for split, plan in clips.items():
        os.makedirs(os.path.join(examples, f"Split-{split}"))
        path = os.path.join(examples, f"Split-{split}", "data_tfrecord-00000-of-00001.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for f0, label in plan:
                meta = {"label": label, "mode": "sequential", "num_speakers": 1}
                example = example_format.make_example(audio.to_pcm16(tone(f0)), RATE, meta, "pcm16")
                writer.write(example.SerializeToString())

    vctk = os.path.join(root, "vctk")
    os.makedirs(vctk)
    with open(os.path.join(vctk, "SPEAKERS.TXT"), "w", encoding="utf-8") as f:
        f.write(";ID | SEX | SUBSET | MINUTES | NAME\np1 | F | dev | 0.1 | a\np2 | M | dev | 0.1 | b\n")
    write_flac(os.path.join(vctk, "dev", "p1", "0", "p1-0-1.flac"), 240)
    write_flac(os.path.join(vctk, "dev", "p2", "0", "p2-0-1.flac"), 95)

    run = os.path.join(root, "run")
    os.makedirs(run)
    summary = {"run_id": "fake", "status": "complete",
               "components": {"SpeakerIndexGen": {"outputs": {"speaker_index": [index_dir]}},
                              "AudioExampleGen": {"outputs": {"examples": [examples]}}},
               "model": {"pushed_model": "fake-model",
                         "test": {"metrics": {"overall": {"sparse_categorical_accuracy": 0.25}}}}}
    with open(os.path.join(run, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f)
    return run, vctk


def test_accuracy_report_on_a_fake_run(tmp_path, monkeypatch):
    from bench import accuracy  # pylint: disable=import-outside-toplevel  # imports TensorFlow

    run, vctk = make_fake_run(str(tmp_path))
    monkeypatch.setattr(accuracy, "Classifier", AlwaysFemale)
    out = tmp_path / "acc.md"
    report = accuracy.main(["--run", run, "--vctk", vctk, "--out", str(out), "--max-train-files", "3"])
    assert out.read_text(encoding="utf-8") == report
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in report.splitlines()
            if line.startswith("| ") and not line.startswith("| set")}
    clips, utterances = rows["test clips"], rows["single utterances, test-split speakers"]
    vctk_row = next(v for k, v in rows.items() if k.startswith("VCTK"))
    # items, speakers | model overall, F, M | F0 overall, F, M | no F0
    assert clips[1:3] == ["3 (1 F)", "2 (1 F) in the test split"]
    assert clips[3].startswith("**33.3 %**") and clips[4:6] == ["100.0 %", "0.0 %"]
    assert clips[6].startswith("**100.0 %**") and clips[9].strip(" |") == "0"
    assert utterances[1:3] == ["4 (2 F)", "2 (1 F)"]
    assert utterances[3].startswith("**50.0 %**") and utterances[6].startswith("**100.0 %**")
    assert vctk_row[1:3] == ["2 (1 F)", "2 (1 F)"] and vctk_row[6].startswith("**100.0 %**")
    assert "TFMA accuracy on the test clips (summary.json): 25.0 %" in report
    # --max-train-files 3: 3 train clips and the first utterance of 3 train speakers (round-robin).
    assert "fit on 3 train clips" in report and "fit on 3 utterances" in report


def test_round_robin_keeps_every_speaker_under_a_cap():
    from bench.accuracy import round_robin  # pylint: disable=import-outside-toplevel

    assert round_robin([[1, 2, 3], [4], [5, 6]]) == [1, 4, 5, 2, 6, 3]
