"""The curated schema pins what the config promises about every clip."""
import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

from components.schema_curation import executor
from components.audio_synthesis.config import SynthesisConfig
from components.common.errors import AudioClfError


def _inferred(*names):
    schema = schema_pb2.Schema()
    for name in names:
        schema.feature.add(name=name, type=schema_pb2.INT)
    return schema


def test_domains_come_from_the_synthesis_config():
    inferred = _inferred("sample_rate", "num_samples", "label", "num_speakers", "audio")
    curated = executor.curate(inferred, SynthesisConfig(sample_rate=8000, clip_seconds=2.5, speakers_per_clip=[1, 3]), 2)
    domains = {f.name: (f.int_domain.min, f.int_domain.max) for f in curated.feature if f.HasField("int_domain")}
    assert domains == {"sample_rate": (8000, 8000), "num_samples": (20000, 20000), "label": (0, 1), "num_speakers": (1, 3)}
    assert not inferred.feature[0].HasField("int_domain")  # the input schema is left alone


def test_mixed_class_widens_labels_and_speakers():
    curated = executor.curate(_inferred("sample_rate", "num_samples", "label", "num_speakers"),
                              SynthesisConfig(mixed_class=True, speakers_per_clip=[1, 3]), 3)
    domains = {f.name: (f.int_domain.min, f.int_domain.max) for f in curated.feature}
    assert domains["label"] == (0, 2) and domains["num_speakers"] == (1, 6)


def test_examples_without_the_features_are_refused():
    with pytest.raises(AudioClfError, match="no feature 'sample_rate'"):
        executor.curate(_inferred("audio"), SynthesisConfig(), 2)


def test_speaker_names_get_no_domain():
    """SchemaGen lists a small train split's speakers as the feature's domain; eval and test speakers are
    others by design, so the curated schema drops that domain (and keeps the rest)."""
    inferred = _inferred("sample_rate", "num_samples", "label", "num_speakers")
    inferred.feature.add(name="speakers", type=schema_pb2.BYTES, domain="speakers")
    inferred.string_domain.add(name="speakers", value=["librispeech-mini/19", "librispeech-mini/26"])
    inferred.feature.add(name="mode", type=schema_pb2.BYTES, domain="mode")
    inferred.string_domain.add(name="mode", value=["crop", "sequential", "simultaneous"])
    curated = executor.curate(inferred, SynthesisConfig(), 2)
    speakers = next(f for f in curated.feature if f.name == "speakers")
    assert speakers.WhichOneof("domain_info") is None
    assert [d.name for d in curated.string_domain] == ["mode"]
    assert next(f for f in curated.feature if f.name == "mode").domain == "mode"
