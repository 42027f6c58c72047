"""Settings sections as dataclasses: built from mappings with unknown keys refused, and read back from
the canonical JSON a component receives as an execution property. Each section lives with the code
that owns it (e.g. components/speaker_index/config.py); pipeline/config.py composes them."""
import dataclasses
import json
from typing import Any, Dict

from components.common.errors import AudioClfError


ROOT = "config"   # what a whole config file is called in messages


def build_section(cls, values: Dict[str, Any], where: str):
    """`cls(**values)`, recursing into fields whose type is itself a section; unknown keys are refused."""
    if not isinstance(values, dict):
        raise AudioClfError(f"config: '{where}' must be a mapping, got {values!r}.")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise AudioClfError(f"config: unknown setting(s) {', '.join(where + '.' + k for k in unknown)}; "
                            f"known: {', '.join(sorted(known))}.")
    kwargs = {}
    for key, value in values.items():
        sub = known[key].type
        # Settings are named from their section down ("synthesis.clips", "kubeflow.tfjob.workers").
        inner = key if where == ROOT else f"{where}.{key}"
        kwargs[key] = build_section(sub, value, inner) if dataclasses.is_dataclass(sub) else value
    return cls(**kwargs)


def section_from_json(cls, text: str):
    """A section from the JSON `pipeline.config.PipelineConfig.section_json` wrote, checked by its own
    `validate()`: a component refuses bad settings even when they did not come through `load_config`."""
    section = build_section(cls, json.loads(text), cls.__name__)
    check = getattr(section, "validate", None)
    if check:
        check()
    return section


def check_range(name: str, pair, low_bound=None) -> None:
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] <= pair[1]):
        raise AudioClfError(f"config: {name} must be [low, high] with low <= high, got {pair!r}.")
    if low_bound is not None and pair[0] < low_bound:
        raise AudioClfError(f"config: {name} must not go below {low_bound}, got {pair!r}.")
