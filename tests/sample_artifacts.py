"""Real artifacts for tests of later stages (Trainer, TFJob worker, anomaly gate, ExampleGen): made by
running the upstream components' executors on a small corpus copied from the bundled speech.
A test helper, not product code: it may import every component (tests/ sits above the layers)."""
import json
from pathlib import Path

from tfx.types import standard_artifacts

from components.audio_example_gen import executor as example_gen_executor
from components.audio_synthesis import executor as synthesis_executor
from components.audio_synthesis.config import SynthesisConfig
from components.common.artifacts import AudioClips
from components.common.testing import IN_MEMORY, artifact, run_beam_executor, speaker_index_artifact
from components.speaker_index import corpus
from components.speaker_index.config import CorpusConfig
from conftest import build_corpus


def synthesize_clips(root: Path, sample_rate: int, clip_seconds: float, counts: dict) -> AudioClips:
    """A real AudioClips artifact under root: a small corpus from the bundled speech, its speaker
    index and clips made by the synthesis executor (counts: {"train": n, "eval": n, "test": n})."""
    index = corpus.build_index(str(build_corpus(root / "corpus")), CorpusConfig())
    clips = artifact(AudioClips, root / "clips")
    config = SynthesisConfig(sample_rate=sample_rate, clip_seconds=clip_seconds)
    run_beam_executor(synthesis_executor.Executor, IN_MEMORY,
                      {"speaker_index": [speaker_index_artifact(index, root / "index")]}, {"clips": [clips]},
                      {"synthesis_config": json.dumps(config.__dict__), "skip_corrupt": 0,
                       **{f"{split}_clips": n for split, n in counts.items()}})
    return clips


def write_examples(root: Path, sample_rate: int, clip_seconds: float, counts: dict, encoding: str = "pcm16"):
    """A real Examples artifact under root: clips from `synthesize_clips` written by the Audio ExampleGen."""
    clips = synthesize_clips(root, sample_rate, clip_seconds, counts)
    output = artifact(standard_artifacts.Examples, root / f"examples-{encoding}")
    run_beam_executor(example_gen_executor.Executor, IN_MEMORY, {"clips": [clips]}, {"examples": [output]},
                      {"examples_config": json.dumps({"audio_encoding": encoding, "num_shards": 2})})
    return output


def export_tiny_model(folder: Path, rate: int = 8000, seconds: float = 1.0) -> Path:
    """An untrained small model exported as the Pusher's would be (folder/serving/1); returns folder/serving.
    For tests that compare two ways of classifying (predict, the server), not for accuracy."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from trainer import export  # pylint: disable=import-outside-toplevel
    from trainer.config import TrainerConfig  # pylint: disable=import-outside-toplevel
    from trainer.model import build_model  # pylint: disable=import-outside-toplevel

    tiny = TrainerConfig(n_fft=256, hop_length=128, n_mels=16, frame_length=8, frame_hop=4, conv_filters=[4, 4, 8, 8])
    tf.keras.utils.set_random_seed(3)
    model = build_model(tiny, rate, int(rate * seconds), 2)
    export.save(model, str(folder / "serving" / "1"), "pcm16", rate, int(rate * seconds), ["male", "female"],
                {"n_mels": 16})
    return folder / "serving"
