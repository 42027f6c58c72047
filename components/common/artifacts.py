"""Artifact types of this project. Names follow `<namespace>.<Title>`, which KFP v2 requires, and
are importable under that name (the top-level module audioclf.py), which TFX's Kubeflow entry point needs."""
from tfx.types import artifact


class SpeakerIndex(artifact.Artifact):
    """`speaker_index.json`: every speaker kept, their gender, files, durations and split."""
    TYPE_NAME = "audioclf.SpeakerIndex"


class AudioClips(artifact.Artifact):
    """`<split>/clip-NNNNNN.wav` plus `manifest.jsonl` (one line per clip: path, label, speakers, mode...).

    The split names are a custom property: KFP v2 gives custom artifact types no declared properties."""
    TYPE_NAME = "audioclf.AudioClips"


class KServeDeployment(artifact.Artifact):
    """What the KServeDeployer step did with the pushed model: `deployment.json`, and the custom properties
    `deployed` (1, or 0 when the model was not pushed), `service`, `namespace`, `url`, `model_uri`,
    `model_version`, `revision` and `canary_traffic_percent`."""
    TYPE_NAME = "audioclf.KServeDeployment"


INDEX_FILE = "speaker_index.json"
DEPLOYMENT_FILE = "deployment.json"
MANIFEST_FILE = "manifest.jsonl"
