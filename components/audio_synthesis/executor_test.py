"""The synthesis executor under Beam: outputs, determinism across worker counts, failure cleanup."""
import hashlib
import json
import logging

import pytest

from components.audio_synthesis import executor
from components.audio_synthesis.synthesis_test import spoil_speaker
from components.common import audio, progress
from components.common.artifacts import AudioClips
from components.common.testing import IN_MEMORY, TWO_PROCESSES, artifact, run_beam_executor, speaker_index_artifact
from components.speaker_index import corpus
from components.audio_synthesis.config import SynthesisConfig
from components.speaker_index.config import CorpusConfig
from components.common.errors import AudioClfError

pytestmark = pytest.mark.slow

CONFIG = SynthesisConfig(sample_rate=8000, clip_seconds=3.0)
COUNTS = {"train_clips": 6, "eval_clips": 3, "test_clips": 3}


def _run(tmp_path, index, name, beam_args, counts=COUNTS, skip_corrupt=0):
    clips = artifact(AudioClips, tmp_path / name)
    run_beam_executor(executor.Executor, beam_args,
                      {"speaker_index": [speaker_index_artifact(index, tmp_path / f"{name}-index")]},
                      {"clips": [clips]},
                      {"synthesis_config": json.dumps(CONFIG.__dict__), "skip_corrupt": skip_corrupt, **counts})
    return clips


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.wav"))}


def test_clips_and_manifest_identical_with_one_or_two_workers(tmp_path, small_corpus, caplog):
    index = corpus.build_index(str(small_corpus), CorpusConfig())
    one = _run(tmp_path, index, "one", IN_MEMORY)
    with caplog.at_level(logging.INFO, logger=progress.__name__):
        _run(tmp_path, index, "two", TWO_PROCESSES)
    # The two worker processes' counts reached the executor's progress line.
    assert any(r.getMessage().startswith("audio synthesis: 12/12 clips in ") for r in caplog.records)
    rows = executor.read_manifest(one.uri)
    assert [r["split"] for r in rows] == ["train"] * 6 + ["eval"] * 3 + ["test"] * 3
    assert [r["label"] for r in rows if r["split"] == "train"] == [0, 1, 0, 1, 0, 1]
    digests = _digests(tmp_path / "one")
    assert len(digests) == 12 and digests == _digests(tmp_path / "two")
    assert (tmp_path / "one" / "manifest.jsonl").read_bytes() == (tmp_path / "two" / "manifest.jsonl").read_bytes()
    pcm, rate = audio.decode_wav_pcm16((tmp_path / "one" / rows[0]["path"]).read_bytes())
    assert rate == 8000 and len(pcm) == 3 * 8000
    assert json.loads(one.get_string_custom_property("split_names")) == ["train", "eval", "test"]


def test_corrupt_utterance_fails_and_leaves_nothing_or_is_skipped(tmp_path, small_corpus):
    index = corpus.build_index(str(small_corpus), CorpusConfig())
    for path in sorted((small_corpus / "dev-mini").rglob("*.flac")):  # every file of one speaker
        if f"corpus/{path.parent.parent.name}" == index["splits"]["train"]["M"][0]:
            path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(AudioClfError, match=r"\.flac: cannot decode audio"):
        _run(tmp_path, index, "fails", IN_MEMORY)
    assert list((tmp_path / "fails").iterdir()) == []  # nothing half-written
    clips = _run(tmp_path, index, "skips", IN_MEMORY, counts={"train_clips": 12, "eval_clips": 1, "test_clips": 1},
                 skip_corrupt=1)
    rows = executor.read_manifest(clips.uri)
    assert len(rows) == 14 and any(r["skipped_files"] for r in rows)


def test_zero_clips_is_refused(tmp_path, small_corpus):
    index = corpus.build_index(str(small_corpus), CorpusConfig())
    with pytest.raises(AudioClfError, match="zero clips requested"):
        _run(tmp_path, index, "zero", IN_MEMORY, counts={**COUNTS, "eval_clips": 0})


def test_unusable_utterances_are_named_with_their_reason_in_the_manifest(tmp_path, small_corpus):
    index = corpus.build_index(str(small_corpus), CorpusConfig())
    speaker, files = spoil_speaker(index, small_corpus)
    clips = _run(tmp_path, index, "skips", IN_MEMORY, counts={"train_clips": 12, "eval_clips": 1, "test_clips": 1})
    rows = executor.read_manifest(clips.uri)
    assert all(speaker not in r["speakers"] for r in rows)
    why = executor.skipped_utterances(rows)
    assert why[str(files[0])] == "silent" and "too short" in why.values()
