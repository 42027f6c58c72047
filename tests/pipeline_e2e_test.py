"""The whole pipeline under LocalDagRunner on real speech in three formats at once (a LibriSpeech tree,
a Kaldi data dir and a CSV manifest; tiny settings: tests/tiny.yaml), checked on what it wrote.

Two runs with the same seed and config (one on 2 Beam worker processes, one in memory) must write
identical clips; the splits must be speaker-disjoint and label-balanced; TFRecords, statistics,
schema and anomalies must be there; the model must be trained, evaluated, blessed and pushed; a run
with an impossible accuracy floor must not be blessed and must push nothing; `audioclf predict` must
classify recordings with the pushed model; summary.json must say all of it, and report.html must show it
(and `audioclf report` must rebuild the same page).
"""
import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from google.protobuf import text_format

from conftest import build_corpus, build_csv_manifest, build_kaldi_corpus
from pipeline import cli
from components.common.errors import EXIT_NOT_BLESSED, EXIT_USER_ERROR

pytestmark = pytest.mark.e2e

ALL_COMPONENTS = ("SpeakerIndexGen", "AudioSynthesis", "AudioExampleGen", "StatisticsGen", "SchemaGen", "SchemaCurator",
                  "ExampleValidator", "AnomalyGate", "Trainer", "LatestBlessedModelResolver", "Evaluator", "Pusher")

TINY = ["--config", str(Path(__file__).with_name("tiny.yaml")), "--set", "synthesis.clips={train: 8, eval: 4, test: 4}"]
IN_MEMORY = ["--set", "beam.direct_running_mode=in_memory", "--set", "beam.direct_num_workers=1"]
REPORT_SECTIONS = ("data", "training", "evaluation", "push", "pipeline")
PICTURE = '<img src="data:image/png;base64,'
# Data: clip composition and spectrograms; Training: curves; Evaluation: confusion matrix.
PICTURES_OF_A_TRAINED_RUN = 4


CORPORA = ("corpus", "kaldi", "manifest")   # LibriSpeech layout, Kaldi data dir, CSV manifest


def _run(corpus: Path, output: Path, *extra: str) -> int:
    roots = [arg for name in CORPORA for arg in ("--data-root", str(corpus.parent / name))]
    f0_cache = ["--set", f"evaluator.f0_cache={corpus.parent / 'f0-cache'}"]   # shared by the module's runs, not ~/.cache
    return cli.main(["run", *roots, "--output", str(output), *TINY, *f0_cache, *extra])


def _tfx_packages_in_temp() -> set:
    """The sdists TFX builds of itself (tfx_ephemeral) when no Beam argument says how to stage packages."""
    return {str(p) for p in Path(tempfile.gettempdir()).glob("tmp*/build/tfx/dist/*")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    corpus = build_corpus(root / "corpus", per_gender=6)
    build_kaldi_corpus(root / "kaldi", per_gender=3, utterances=2)
    build_csv_manifest(root / "manifest", utterances=2)
    packages_before = _tfx_packages_in_temp()
    assert _run(corpus, root / "run-a") == 0  # default: Beam multi-processing, 2 workers
    assert _tfx_packages_in_temp() == packages_before, "the run left throwaway TFX packages in the temp dir"
    # run-a is run again by a later test (not blessed): keep the report of its blessed first run.
    shutil.copyfile(root / "run-a" / "report.html", root / "run-a-blessed-report.html")
    assert _run(corpus, root / "run-b", *IN_MEMORY) == 0
    return root


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def _banner(page: str) -> str:
    return re.search(r'<div class="banner (\w+)"[^>]*>(.*?)</div>', page, re.S).group(1, 2)


def _section(page: str, section_id: str) -> str:
    return re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.S).group(1)


def _assert_report_of_a_trained_run(page: str) -> None:
    assert re.findall(r'<section id="(\w+)">', page) == list(REPORT_SECTIONS)
    assert all(f'href="#{s}"' in page for s in REPORT_SECTIONS)  # the table of contents
    assert page.count(PICTURE) == PICTURES_OF_A_TRAINED_RUN and "<script" not in page
    data, training, evaluation = (_section(page, s) for s in ("data", "training", "evaluation"))
    assert data.count(PICTURE) == 2 and "Speakers per split" in data and "Mel spectrograms" in data
    assert "None: every split (eval, test, train) matches the curated schema." in data
    assert training.count(PICTURE) == 1 and "best epoch" in training and "1 replica" in training
    assert "accuracy_floor" in training and "The config was not recorded" not in training  # config.json shown
    assert evaluation.count(PICTURE) == 1 and "Wilson score interval" in evaluation
    assert "num_speakers = 1" in evaluation and "macro average" in evaluation


def _uri(summary: dict, component: str, key: str) -> Path:
    return Path(summary["components"][component]["outputs"][key][0])


def test_every_component_ran_and_summary_lists_outputs(runs):
    summary = _summary(runs / "run-a")
    assert summary["status"] == "complete" and summary["error"] is None
    assert {c: v["status"] for c, v in summary["components"].items()} == {c: "complete" for c in ALL_COMPONENTS}
    for component in summary["components"].values():
        for uris in component["outputs"].values():
            assert all(Path(u).is_dir() for u in uris)
    assert summary["corpus"]["speakers"] == 27 and summary["corpus"]["skipped_files"] == []
    corpora = summary["corpus"]["corpora"]
    assert {n: (c["format"], c["speakers"], c["split"]) for n, c in corpora.items()} == {
        "corpus": ("librispeech", 12, "split per gender"), "kaldi": ("kaldi", 6, "split per gender"),
        "manifest": ("csv", 9, "split per gender")}
    for name, facts in corpora.items():  # every corpus in every split, both genders
        assert all(n >= 1 for split in facts["speakers_per_split"].values() for n in split.values()), name


def test_splits_are_speaker_disjoint_balanced_and_drawn_from_their_own_speakers(runs):
    splits = _summary(runs / "run-a")["splits"]
    assert {s: v["clips"] for s, v in splits.items()} == {"train": 8, "eval": 4, "test": 4}
    used = {s: set(v["speaker_ids"]) for s, v in splits.items()}
    assert not used["train"] & used["eval"] and not used["train"] & used["test"] and not used["eval"] & used["test"]
    for split, v in splits.items():
        allowed = set(v["speakers_in_split"]["F"]) | set(v["speakers_in_split"]["M"])
        assert used[split] <= allowed
        assert v["label_counts"] == {"male": v["clips"] // 2, "female": v["clips"] // 2}


def test_tfrecords_schema_and_anomalies(runs):
    summary = _summary(runs / "run-a")
    examples = _uri(summary, "AudioExampleGen", "examples")
    for split, count in (("train", 8), ("eval", 4), ("test", 4)):
        shards = sorted((examples / f"Split-{split}").glob("data_tfrecord-*.gz"))
        assert len(shards) == 2
        assert sum(1 for _ in tf.data.TFRecordDataset([str(s) for s in shards], compression_type="GZIP")) == count
        assert (_uri(summary, "StatisticsGen", "statistics") / f"Split-{split}" / "FeatureStats.pb").exists()
        anomalies = anomalies_pb2.Anomalies()
        diff = _uri(summary, "ExampleValidator", "anomalies") / f"Split-{split}" / "SchemaDiff.pb"
        anomalies.ParseFromString(diff.read_bytes())
        assert not anomalies.anomaly_info, dict(anomalies.anomaly_info)
    schema = text_format.Parse((_uri(summary, "SchemaGen", "schema") / "schema.pbtxt").read_text(), schema_pb2.Schema())
    types = {f.name: schema_pb2.FeatureType.Name(f.type) for f in schema.feature}
    assert types == {"audio": "BYTES", "label": "INT", "mode": "BYTES", "num_samples": "INT",
                     "num_speakers": "INT", "sample_rate": "INT", "speakers": "BYTES"}
    curated = text_format.Parse((_uri(summary, "SchemaCurator", "curated_schema") / "schema.pbtxt").read_text(),
                                schema_pb2.Schema())
    domains = {f.name: (f.int_domain.min, f.int_domain.max) for f in curated.feature if f.HasField("int_domain")}
    assert domains["sample_rate"] == (8000, 8000) and domains["num_samples"] == (16000, 16000)
    assert domains["label"] == (0, 1)


def test_same_seed_gives_identical_clips_whatever_the_workers(runs):
    def digests(run):
        clips = _uri(_summary(run), "AudioSynthesis", "clips")
        return {p.relative_to(clips).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(clips.rglob("*")) if p.is_file()}
    a, b = digests(runs / "run-a"), digests(runs / "run-b")
    assert len(a) == 17 and a == b  # 16 clips + manifest


def test_second_run_in_the_same_output_is_cached(runs):
    corpus = runs / "corpus"
    assert _run(corpus, runs / "run-b", *IN_MEMORY) == 0
    statuses = {c: v["status"] for c, v in _summary(runs / "run-b")["components"].items()}
    # Nothing is synthesised or trained again. (The Evaluator runs again: its baseline input is now the
    # model blessed by the first run.)
    for component in ALL_COMPONENTS[:ALL_COMPONENTS.index("Trainer") + 1]:
        assert statuses[component] == "cached", statuses


def test_model_trained_evaluated_blessed_and_pushed(runs):
    summary = _summary(runs / "run-a")
    model = summary["model"]
    assert model["training"]["train_clips"] == 8 and model["training"]["eval_clips"] == 4
    assert 1 <= model["training"]["best_epoch"] <= model["training"]["epochs_run"] <= 2
    overall = model["test"]["metrics"]["overall"]
    assert overall["example_count"] == 4 and 0.0 <= overall["sparse_categorical_accuracy"] <= 1.0
    assert {"auc/male", "auc/female", "precision/male", "recall/female"} <= set(overall)
    assert {"mode=sequential", "num_speakers=1"} & set(model["test"]["metrics"])  # sliced
    assert sum(map(sum, model["test"]["confusion_matrix"])) == 4
    assert model["test"]["validation"] == {"ok": True, "compared_with_baseline": False, "failures": []}
    assert model["blessed"] is True and model["pushed"] is True
    pushed = Path(model["pushed_model"])
    assert pushed.parent == runs / "run-a" / "serving" and pushed.name.isdigit()
    assert (pushed / "saved_model.pb").exists() and (pushed / "assets.extra" / "audioclf.json").exists()


def test_real_speech_is_judged_per_corpus_beside_the_pitch_rule(runs):
    summary = _summary(runs / "run-a")
    real = summary["model"]["real_speech"]
    index = json.loads((_uri(summary, "SpeakerIndexGen", "speaker_index") / "speaker_index.json").read_text())
    test_files = sorted(f["path"] for s in index["speakers"].values() if s["split"] == "test" for f in s["files"])
    assert real["utterances"] == len(test_files) and real["speakers"] == 6   # one F and one M test speaker per corpus
    fit_details = {"threshold_hz", "fit_utterances", "fit_speakers", "no_f0"}
    assert set(real["model"]) == set(real["pitch_rule"]) - fit_details == {"overall", *CORPORA}
    for name in ("overall", *CORPORA):
        for who in ("model", "pitch_rule"):
            scores = real[who][name]
            assert scores["n"] == (len(test_files) if name == "overall" else real["model"][name]["n"])
            low, high = scores["ci95"]
            assert 0.0 <= low <= scores["accuracy"] <= high <= 1.0
            assert set(scores["per_class"]) == {"male", "female"}
    assert real["pitch_rule"]["fit_utterances"] == 12 and 60 < real["pitch_rule"]["threshold_hz"] < 400
    assert real["wrong_count"] == real["model"]["overall"]["n"] - real["model"]["overall"]["correct"]
    assert {w["path"] for w in real["wrong"]} <= set(test_files)
    assert real["gate"]["passed"] and [c["name"] for c in real["gate"]["conditions"]] == [
        "real_accuracy_floor", "vs_pitch_rule"]   # first run: no blessed model to compare with
    # predict's code path: the model's answer on a test utterance is what `audioclf predict` says.
    from trainer.classifier import Classifier  # pylint: disable=import-outside-toplevel
    wrong = {w["path"] for w in real["wrong"]}
    classifier = Classifier(summary["model"]["pushed_model"])
    for path in test_files[:3]:
        label = classifier.classify_file(path)["label"]
        truth = next(s["gender"] for s in index["speakers"].values() if path in {f["path"] for f in s["files"]})
        assert (label != {"F": "female", "M": "male"}[truth]) == (path in wrong)


def test_report_of_the_blessed_run_shows_every_section_and_picture(runs):
    page = (runs / "run-a-blessed-report.html").read_text()
    _assert_report_of_a_trained_run(page)
    kind, banner = _banner(page)
    assert kind == "ok" and "Blessed and pushed" in banner
    evaluation, push = _section(page, "evaluation"), _section(page, "push")
    assert "First model, no baseline" in evaluation and "accuracy on the whole test split ≥ 0" in evaluation
    assert re.search(r"/run-a/serving/\d+</code>", push)
    assert "serving_default" in push and "classify_audio" in push
    assert "<code>examples</code> string [None]" in push and "<code>audio</code> float32 [None, 16000]" in push


def test_impossible_floor_is_not_blessed_and_pushes_nothing(runs, capsys):
    """Same output: the data and the Trainer are cached, the Evaluator compares against the blessed model
    of the first run (the Resolver's baseline) and fails the floor."""
    before = sorted(p.name for p in (runs / "run-a" / "serving").iterdir())
    code = _run(runs / "corpus", runs / "run-a", "--set", "evaluator.accuracy_floor=1.01")
    err = capsys.readouterr().err
    assert code == EXIT_NOT_BLESSED, err[-3000:]
    assert "trained but NOT blessed" in err and "sparse_categorical_accuracy" in err
    summary = _summary(runs / "run-a")
    statuses = {c: v["status"] for c, v in summary["components"].items()}
    assert statuses["Trainer"] == "cached" and statuses["Evaluator"] == "complete"
    model = summary["model"]
    assert model["blessed"] is False and model["pushed"] is False and model["pushed_model"] is None
    assert model["baseline_model"] is not None and model["test"]["validation"]["compared_with_baseline"] is True
    assert sorted(p.name for p in (runs / "run-a" / "serving").iterdir()) == before

    page = (runs / "run-a" / "report.html").read_text()
    _assert_report_of_a_trained_run(page)
    kind, banner = _banner(page)
    assert kind == "warn" and "Not blessed: nothing was pushed" in banner and "floor 1.01" in banner
    evaluation = _section(page, "evaluation")
    assert "NOT blessed" in evaluation and "floor 1.01 (overall, test split)" in evaluation
    assert "baseline accuracy" in evaluation and "First model" not in evaluation  # compared with run 1's model
    assert "Not pushed: the model was not blessed" in _section(page, "push")
    assert '<span class="status cached">cached</span>' in _section(page, "pipeline")

    # `audioclf report` rebuilds the same page from what the run left behind.
    (runs / "run-a" / "report.html").unlink()
    assert cli.main(["report", "--output", str(runs / "run-a")]) == 0
    assert capsys.readouterr().out.strip() == str(runs / "run-a" / "report.html")
    assert (runs / "run-a" / "report.html").read_text() == page


def test_real_speech_gate_refuses_a_model_the_clips_would_bless(runs, capsys):
    """Same data and Trainer (cached); TFMA blesses on the clips, the real-utterance floor does not."""
    before = sorted(p.name for p in (runs / "run-b" / "serving").iterdir())
    code = _run(runs / "corpus", runs / "run-b", *IN_MEMORY, "--set", "evaluator.real_accuracy_floor=1.01")
    err = capsys.readouterr().err
    assert code == EXIT_NOT_BLESSED, err[-3000:]
    assert "real-utterance accuracy" in err and ">= floor 1.01: failed" in err
    cached = re.search(r"pitch rule: F0 of (\d+) of (\d+) files cached", err)   # run-b's first run computed them
    assert cached and cached.group(1) == cached.group(2) != "0", err[-3000:]
    summary = _summary(runs / "run-b")
    model = summary["model"]
    assert model["test"]["validation"]["ok"] is True          # the clips alone would have blessed it
    assert model["real_speech"]["clips_blessed"] is True and model["real_speech"]["blessed"] is False
    assert model["blessed"] is False and model["pushed"] is False
    names = [c["name"] for c in model["real_speech"]["gate"]["conditions"] if not c["passed"]]
    assert names == ["real_accuracy_floor"]
    assert "vs_latest_blessed" in [c["name"] for c in model["real_speech"]["gate"]["conditions"]]
    blessing = _uri(summary, "Evaluator", "blessing")
    assert (blessing / "NOT_BLESSED").exists() and not (blessing / "BLESSED").exists()
    assert sorted(p.name for p in (runs / "run-b" / "serving").iterdir()) == before


def test_predict_classifies_files_and_reports_a_corrupt_one(runs, tmp_path, capsys):
    import soundfile  # pylint: disable=import-outside-toplevel

    vctk = sorted(Path(__file__).resolve().parents[1].glob("data/vctk-mini/dev-mini/*/*/*.flac"))[:2]
    samples, rate = soundfile.read(vctk[0], dtype="float32")
    short = tmp_path / "short.wav"  # a 1.5 s utterance at 44.1 kHz (resampled to the model's 8 kHz)
    import librosa  # pylint: disable=import-outside-toplevel
    soundfile.write(short, librosa.resample(samples[: int(1.5 * rate)], orig_sr=rate, target_sr=44100), 44100)
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC not really")
    files = [str(vctk[0]), str(corrupt), str(short), str(vctk[1])]
    # The serving folder: predict takes its newest version (the model the first run pushed).
    code = cli.main(["predict", "--model", str(runs / "run-a" / "serving"), *files])
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == EXIT_USER_ERROR and "1 of 4 file(s) could not be classified" in err
    assert [line["file"] for line in lines] == files
    assert "corrupt.flac: cannot decode audio" in lines[1]["error"]
    for line in lines[:1] + lines[2:]:
        assert line["label"] in ("male", "female") and 0.5 <= line["probability"] <= 1.0
        assert sum(line["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        assert len(line["windows"]) == -(-line["duration_s"] // 2.0)  # 2 s windows, the last one padded
    assert lines[2]["duration_s"] == pytest.approx(1.5, abs=0.01) and len(lines[2]["windows"]) == 1
