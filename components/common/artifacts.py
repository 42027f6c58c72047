"""Artifact types of this project. Names follow `<namespace>.<Title>`, which KFP v2 requires."""
from tfx.types import artifact
from tfx.types import standard_artifacts


class SpeakerIndex(artifact.Artifact):
    """`speaker_index.json`: every speaker kept, their gender, files, durations and split."""
    TYPE_NAME = "audioclf.SpeakerIndex"


class AudioClips(artifact.Artifact):
    """`<split>/clip-NNNNNN.wav` plus `manifest.jsonl` (one line per clip: path, label, speakers, mode...)."""
    TYPE_NAME = "audioclf.AudioClips"
    PROPERTIES = {"split_names": standard_artifacts.SPLIT_NAMES_PROPERTY}


INDEX_FILE = "speaker_index.json"
MANIFEST_FILE = "manifest.jsonl"
