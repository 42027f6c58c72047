"""The data half under LocalDagRunner on real speech, checked on what it wrote.

Two runs with the same seed and config (one on 2 Beam worker processes, one in memory) must write
identical clips; the splits must be speaker-disjoint and label-balanced; TFRecords, statistics,
schema and anomalies must be there; summary.json must say so.
"""
import hashlib
import json
from pathlib import Path

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from google.protobuf import text_format

from conftest import build_corpus
from pipeline import cli

TINY = ["--set", "synthesis.clip_seconds=2", "--set", "synthesis.sample_rate=8000",
        "--set", "synthesis.clips={train: 8, eval: 4, test: 4}", "--set", "examples.num_shards=2"]
IN_MEMORY = ["--set", "beam.direct_running_mode=in_memory", "--set", "beam.direct_num_workers=1"]


def _run(corpus: Path, output: Path, *extra: str) -> int:
    return cli.main(["run", "--data-root", str(corpus), "--output", str(output), *TINY, *extra])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    corpus = build_corpus(root / "corpus", per_gender=6)
    assert _run(corpus, root / "run-a") == 0  # default: Beam multi-processing, 2 workers
    assert _run(corpus, root / "run-b", *IN_MEMORY) == 0
    return root


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def _uri(summary: dict, component: str, key: str) -> Path:
    return Path(summary["components"][component]["outputs"][key][0])


def test_every_component_ran_and_summary_lists_outputs(runs):
    summary = _summary(runs / "run-a")
    assert summary["status"] == "complete" and summary["error"] is None
    assert {c: v["status"] for c, v in summary["components"].items()} == {
        c: "complete" for c in ("SpeakerIndexGen", "AudioSynthesis", "AudioExampleGen", "StatisticsGen",
                                "SchemaGen", "ExampleValidator")}
    for component in summary["components"].values():
        for uris in component["outputs"].values():
            assert all(Path(u).is_dir() for u in uris)
    assert summary["corpus"]["speakers"] == 12 and summary["corpus"]["skipped_files"] == []


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
        anomalies.ParseFromString((_uri(summary, "ExampleValidator", "anomalies") / f"Split-{split}" / "SchemaDiff.pb").read_bytes())
        assert not anomalies.anomaly_info, dict(anomalies.anomaly_info)
    schema = text_format.Parse((_uri(summary, "SchemaGen", "schema") / "schema.pbtxt").read_text(), schema_pb2.Schema())
    types = {f.name: schema_pb2.FeatureType.Name(f.type) for f in schema.feature}
    assert types == {"audio": "BYTES", "label": "INT", "mode": "BYTES", "num_samples": "INT",
                     "num_speakers": "INT", "sample_rate": "INT"}


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
    assert set(statuses.values()) == {"cached"}
