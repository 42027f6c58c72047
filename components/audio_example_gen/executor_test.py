"""Audio ExampleGen: TFRecord shards per split, features, both audio encodings."""
import json

import numpy as np
import pytest
import tensorflow as tf
from tfx.components.util import examples_utils
from tfx.types import standard_artifacts

from components.audio_example_gen import executor
from components.audio_synthesis import executor as synthesis_executor
from components.audio_synthesis import synthesis
from components.common import audio, example_format
from components.common.artifacts import AudioClips
from components.common.testing import IN_MEMORY, artifact, run_beam_executor
from sample_artifacts import synthesize_clips  # tests/sample_artifacts.py
from components.common.errors import AudioClfError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return synthesize_clips(tmp_path_factory.mktemp("eg"), 8000, 2.0, {"train": 5, "eval": 2, "test": 3})


def _records(examples_uri, split):
    files = sorted(tf.io.gfile.glob(f"{examples_uri}/Split-{split}/*"))
    return files, [tf.train.Example.FromString(r.numpy())
                   for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


@pytest.mark.parametrize("encoding", ["pcm16", "float"])
def test_examples_per_split_with_features(tmp_path, clips, encoding):
    examples = artifact(standard_artifacts.Examples, tmp_path / "examples")
    run_beam_executor(executor.Executor, IN_MEMORY, {"clips": [clips]}, {"examples": [examples]},
                      {"examples_config": json.dumps({"audio_encoding": encoding, "num_shards": 2})})
    manifest = synthesis_executor.read_manifest(clips.uri)
    assert examples_utils.get_file_format(examples) == "tfrecords_gzip"
    assert json.loads(examples.split_names) == ["train", "eval", "test"]
    for split, expected in (("train", 5), ("eval", 2), ("test", 3)):
        files, records = _records(examples.uri, split)
        assert len(files) == 2 and all(f.endswith(".gz") for f in files)
        assert len(records) == expected
        by_label = sorted(r.features.feature[example_format.LABEL].int64_list.value[0] for r in records)
        assert by_label == sorted(m["label"] for m in manifest if m["split"] == split)
        first = records[0].features.feature
        assert first[example_format.SAMPLE_RATE].int64_list.value[0] == 8000
        assert first[example_format.NUM_SAMPLES].int64_list.value[0] == 16000
        modes = (synthesis.SIMULTANEOUS, synthesis.SEQUENTIAL, synthesis.CROP)
        assert first[example_format.MODE].bytes_list.value[0].decode() in modes
        assert first[example_format.NUM_SPEAKERS].int64_list.value[0] >= 1
        # Each clip's speakers by name ("corpus/speaker"), as the manifest lines of the split give them.
        names = sorted([s.decode() for s in r.features.feature[example_format.SPEAKERS].bytes_list.value] for r in records)
        assert names == sorted(m["speakers"] for m in manifest if m["split"] == split) and all(names)
        samples = example_format.decode_audio_feature(records[0])
        assert samples.dtype == np.float32 and len(samples) == 16000
    # Both encodings carry the same audio: the WAV's int16 samples, exactly.
    _, records = _records(examples.uri, "test")
    decoded = sorted(audio.to_pcm16(example_format.decode_audio_feature(r)).tobytes() for r in records)
    originals = sorted(audio.decode_wav_pcm16(open(f"{clips.uri}/{m['path']}", "rb").read())[0].tobytes()
                       for m in manifest if m["split"] == "test")
    assert decoded == originals


def test_split_without_clips_is_refused(tmp_path, clips):
    broken = artifact(AudioClips, tmp_path / "broken")
    lines = [line for line in open(f"{clips.uri}/manifest.jsonl") if '"split": "eval"' not in line]
    (tmp_path / "broken" / "manifest.jsonl").write_text("".join(lines))
    examples = artifact(standard_artifacts.Examples, tmp_path / "examples")
    with pytest.raises(AudioClfError, match="no clips for split 'eval'"):
        run_beam_executor(executor.Executor, IN_MEMORY, {"clips": [broken]}, {"examples": [examples]},
                          {"examples_config": json.dumps({"audio_encoding": "pcm16", "num_shards": 1})})
