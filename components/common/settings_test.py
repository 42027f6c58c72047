"""Settings sections: built from mappings (nested sections too), unknown keys refused by name, and a
section read back from its JSON checks itself."""
import json
from dataclasses import dataclass, field

import pytest

from components.common.errors import AudioClfError
from components.common.settings import ROOT, build_section, section_from_json


@dataclass
class Inner:
    workers: int = 2

    def validate(self) -> None:
        if self.workers < 1:
            raise AudioClfError(f"config: outer.inner.workers={self.workers} must be >= 1.")


@dataclass
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)


def test_nested_sections_are_built_and_unknown_keys_named_from_the_section_down():
    built = build_section(Outer, {"inner": {"workers": 3}}, "outer")
    assert built.inner.workers == 3 and built.name == "x"
    with pytest.raises(AudioClfError, match=r"outer\.inner\.worker\b"):
        build_section(Outer, {"inner": {"worker": 3}}, "outer")
    with pytest.raises(AudioClfError, match=r"'config' must be a mapping"):
        build_section(Outer, [1], ROOT)


def test_a_section_from_json_validates_itself():
    assert section_from_json(Inner, json.dumps({"workers": 4})).workers == 4
    with pytest.raises(AudioClfError, match="outer.inner.workers=0 must be >= 1"):
        section_from_json(Inner, json.dumps({"workers": 0}))
