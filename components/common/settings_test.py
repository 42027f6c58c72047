"""Settings sections: built from mappings (nested sections too), unknown keys refused by name, values
coerced to their field types or refused with their accepted range, and a section read back from its
JSON checks itself."""
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List

import pytest

from components.common.errors import AudioClfError
from components.common.settings import ROOT, Limits, build_section, section_from_json, setting


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


@dataclass
class Typed:
    rate: float = setting(1e-3, above=0.0, high=10.0)
    count: int = setting(2, low=1, high=100)
    flag: bool = False
    names: List[str] = field(default_factory=list)
    sizes: List[int] = setting(factory=lambda: [1, 2], low=1, high=64)
    per_split: Dict[str, int] = setting(factory=lambda: {"train": 1}, low=1)
    anything: List[Any] = field(default_factory=list)
    label: str = "x"
    level: float = setting(0.0, nonfinite=True)
    loose: float = 0.0


def _built(**values):
    return build_section(Typed, values, "t")


@pytest.mark.parametrize("given, expected", [
    ({"rate": "1e-4"}, {"rate": 1e-4}),               # YAML 1.1 reads 1e-4 as a string
    ({"rate": 1}, {"rate": 1.0}),
    ({"count": "4"}, {"count": 4}),
    ({"count": 4.0}, {"count": 4}),                    # JSON has one number type
    ({"names": "dev-mini"}, {"names": ["dev-mini"]}),  # one name, not its characters
    ({"anything": {"root": "/x"}}, {"anything": [{"root": "/x"}]}),
    ({"sizes": ["3", 4]}, {"sizes": [3, 4]}),
    ({"per_split": {"train": "4"}}, {"per_split": {"train": 4}}),
    ({"label": 2}, {"label": "2"}),                    # YAML reads `cpu: 2` as a number
    ({"level": float("inf")}, {"level": float("inf")}),
])
def test_values_are_coerced_to_their_field_types(given, expected):
    built = _built(**given)
    assert {k: getattr(built, k) for k in expected} == expected
    assert all(type(getattr(built, k)) is type(v) for k, v in expected.items())


@pytest.mark.parametrize("given, message", [
    ({"rate": -1}, r"t.rate=-1 must be a number in \(0, 10\]\.$"),
    ({"rate": "fast"}, r"t.rate='fast' must be a number in \(0, 10\]"),
    ({"rate": float("nan")}, r"t.rate=nan must be a number in \(0, 10\]"),
    ({"loose": float("inf")}, r"t.loose=inf must be a finite number\.$"),
    ({"loose": "-inf"}, r"t.loose='-inf' must be a finite number"),
    ({"count": 1.5}, r"t.count=1.5 must be an integer in \[1, 100\]"),
    ({"count": "1.5"}, r"t.count='1.5' must be an integer"),
    ({"count": True}, r"t.count=True must be an integer"),
    ({"count": 101}, r"t.count=101 must be an integer in \[1, 100\]"),
    ({"count": 10 ** 400}, r"t.count=1000.*\.\.\. must be an integer in \[1, 100\]"),
    ({"flag": "yes please"}, r"t.flag='yes please' must be true or false"),
    ({"flag": 1}, r"t.flag=1 must be true or false"),
    ({"sizes": "abcd"}, r"t.sizes='abcd' must be a list of integers, each in \[1, 64\]"),
    ({"sizes": [1, "x"]}, r"t.sizes\[1\]='x' must be an integer in \[1, 64\]"),
    ({"per_split": {"train": 0}}, r"t.per_split.train=0 must be an integer >= 1"),
    ({"per_split": 3}, r"t.per_split=3 must be a mapping of names to integers, each >= 1"),
    ({"label": [1]}, r"t.label=\[1\] must be a string"),
])
def test_values_of_the_wrong_type_or_out_of_range_are_refused_naming_setting_value_and_range(given, message):
    with pytest.raises(AudioClfError, match=message):
        _built(**given)


def test_limits_are_described_as_intervals():
    assert Limits(low=0, high=1).describe() == " in [0, 1]"
    assert Limits(above=0, below=1.5).describe() == " in (0, 1.5)"
    assert Limits(low=2).describe() == " >= 2" and Limits(below=3).describe() == " < 3"
    assert Limits(nonfinite=True).accepts(float("nan")) and not Limits().accepts(float("inf"))
