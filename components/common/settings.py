"""Settings sections as dataclasses: built from mappings with unknown keys refused, and read back from
the canonical JSON a component receives as an execution property. Each section lives with the code
that owns it (e.g. components/speaker_index/config.py); pipeline/config.py composes them.

Every value is checked against its field's type while a section is built, before anything runs:
numbers given as strings become numbers (`--set trainer.learning_rate=1e-4`: YAML 1.1 reads `1e-4` as a
string), an int field refuses 1.5, a bool field takes only true/false, a list field takes a list (a
string for a list of strings is a one-element list), a mapping field a mapping, and a float is finite.
A field declared with `setting(default, low=..., high=...)` also has its accepted range (for a list or
mapping, the range of each value) checked. A refusal is one line naming the setting, the value given
and what is accepted."""
import dataclasses
import json
import math
import typing
from typing import Any, Dict, Optional

from components.common.errors import AudioClfError


ROOT = "config"   # what a whole config file is called in messages


def build_section(cls, values: Dict[str, Any], where: str):
    """`cls(**values)`, recursing into fields whose type is itself a section; unknown keys are refused."""
    if not isinstance(values, dict):
        raise AudioClfError(f"config: '{where}' must be a mapping, got {_shown(values)}.")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in set(values) - set(known))
    if unknown:
        raise AudioClfError(f"config: unknown setting(s) {', '.join(where + '.' + k for k in unknown)}; "
                            f"known: {', '.join(sorted(known))}.")
    types = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        # Settings are named from their section down ("synthesis.clips", "kubeflow.tfjob.workers").
        inner = key if where == ROOT else f"{where}.{key}"
        kwargs[key] = coerce(types[key], value, inner, known[key].metadata.get(LIMITS, Limits()))
    return cls(**kwargs)


SEED_MAX = 2 ** 32 - 1   # numpy's and TensorFlow's seeds: 0 .. 2**32 - 1
LIMITS = "audioclf_limits"   # the key of a field's `Limits` in its dataclass metadata


@dataclasses.dataclass(frozen=True)
class Limits:
    """The values a number setting accepts: `low`/`high` inclusive, `above`/`below` exclusive (None: no
    bound), finite unless `nonfinite`. `note` says why, after the range in a refusal."""
    low: Optional[float] = None
    high: Optional[float] = None
    above: Optional[float] = None
    below: Optional[float] = None
    nonfinite: bool = False
    note: str = ""

    def accepts(self, x: float) -> bool:
        if math.isnan(x):
            return self.nonfinite
        if math.isinf(x) and not self.nonfinite:
            return False
        return ((self.low is None or x >= self.low) and (self.high is None or x <= self.high)
                and (self.above is None or x > self.above) and (self.below is None or x < self.below))

    def describe(self) -> str:
        lower = self.low if self.above is None else self.above
        upper = self.high if self.below is None else self.below
        if lower is not None and upper is not None:
            return (f" in {'[' if self.above is None else '('}{_number(lower)}, "
                    f"{_number(upper)}{']' if self.below is None else ')'}")
        if lower is not None:
            return f" {'>=' if self.above is None else '>'} {_number(lower)}"
        if upper is not None:
            return f" {'<=' if self.below is None else '<'} {_number(upper)}"
        return ""


def setting(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, low=None, high=None,
            above=None, below=None, nonfinite: bool = False, note: str = ""):
    """A dataclass field with the range its value (each value of a list or mapping) must be in."""
    limits = Limits(low, high, above, below, nonfinite, note)
    return dataclasses.field(default=default, default_factory=factory, metadata={LIMITS: limits})


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, bytes)) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


_KINDS = {int: ("an integer", "integers"), float: ("a number", "numbers"), bool: ("true or false", "true/false values"),
          str: ("a string", "strings")}


def _expected(tp, limits: Limits) -> str:
    """What a field of type `tp` with `limits` accepts, in words."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, dict):
        element = args[-1] if args else Any
        plural = _KINDS.get(element, ("", "values"))[1]
        each = f", each{limits.describe()}" if limits.describe() else ""
        return (f"a list of {plural}" if origin is list else f"a mapping of names to {plural}") + each
    kind = _KINDS.get(tp, ("a value", ""))[0]
    bounded = (limits.low, limits.above) != (None, None) and (limits.high, limits.below) != (None, None)
    if tp is float and not limits.nonfinite and not bounded:
        kind = "a finite number"
    return kind + (limits.describe() if tp in (int, float) else "")


def _refuse(where: str, value: Any, tp, limits: Limits) -> AudioClfError:
    note = f" ({limits.note})" if limits.note else ""
    return AudioClfError(f"config: {where}={_shown(value)} must be {_expected(tp, limits)}{note}.")


def coerce(tp, value: Any, where: str, limits: Limits = Limits()) -> Any:
    """`value` as the type `tp` of the setting `where`, within `limits`, or an AudioClfError saying so."""
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return build_section(tp, value, where)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        element = args[0] if args else Any
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            if element is Any or (element is str and not isinstance(value, (dict, bool))):
                value = [value]   # one subset named as a string is that subset, not its characters
            else:
                raise _refuse(where, value, tp, limits)
        return [coerce(element, v, f"{where}[{i}]", limits) for i, v in enumerate(value)]
    if origin is dict:
        element = args[1] if args else Any
        if not isinstance(value, dict):
            raise _refuse(where, value, tp, limits)
        return {str(k): coerce(element, v, f"{where}.{k}", limits) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _refuse(where, value, tp, limits)
        return value
    if tp is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _refuse(where, value, tp, limits)
        return value if isinstance(value, str) else str(value)   # YAML reads `cpu: 2` as a number
    if tp in (int, float):
        number = _number_of(tp, value)
        if number is None or not limits.accepts(number if tp is float else float(max(min(number, 10 ** 300), -10 ** 300))):
            raise _refuse(where, value, tp, limits)
        return number
    return value


def _number_of(tp, value: Any):
    """`value` as an int or float (numbers given as strings too), or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip().replace("_", "")) if tp is float else int(value.strip().replace("_", ""))
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    if tp is float:
        return float(value)
    if isinstance(value, float) and not value.is_integer():
        return None   # 1.5 is no count; 2.0 (JSON has one number type) is 2
    return int(value)


def section_from_json(cls, text: str):
    """A section from the JSON `pipeline.config.PipelineConfig.section_json` wrote, checked by its own
    `validate()`: a component refuses bad settings even when they did not come through `load_config`."""
    section = build_section(cls, json.loads(text), getattr(cls, "SECTION", cls.__name__))
    check = getattr(section, "validate", None)
    if check:
        check()
    return section


def check_range(name: str, pair, low_bound=None) -> None:
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] <= pair[1]):
        raise AudioClfError(f"config: {name} must be [low, high] with low <= high, got {pair!r}.")
    if low_bound is not None and pair[0] < low_bound:
        raise AudioClfError(f"config: {name} must not go below {low_bound}, got {pair!r}.")
