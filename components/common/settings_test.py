"""Settings sections: built from mappings (nested sections too), unknown keys refused by name, and a
section read back from its JSON checks itself."""
import json

import pytest

from components.audio_synthesis.config import SynthesisConfig
from components.audio_trainer.config import KubeflowConfig
from components.common.errors import AudioClfError
from components.common.settings import ROOT, build_section, section_from_json


def test_nested_sections_are_built_and_unknown_keys_named_from_the_section_down():
    built = build_section(KubeflowConfig, {"tfjob": {"workers": 3}, "trainer": {"cpu": 8}}, "kubeflow")
    assert built.tfjob.workers == 3 and built.trainer.cpu == 8 and built.components.memory == "8Gi"
    with pytest.raises(AudioClfError, match=r"kubeflow\.tfjob\.worker\b"):
        build_section(KubeflowConfig, {"tfjob": {"worker": 3}}, "kubeflow")
    with pytest.raises(AudioClfError, match=r"'config' must be a mapping"):
        build_section(KubeflowConfig, [1], ROOT)


def test_a_section_from_json_validates_itself():
    good = section_from_json(SynthesisConfig, json.dumps({"sample_rate": 8000}))
    assert good.sample_rate == 8000
    with pytest.raises(AudioClfError, match="synthesis.sample_rate=100 is too low"):
        section_from_json(SynthesisConfig, json.dumps({"sample_rate": 100}))
