"""Schedules are cron expressions as KFP reads them: 6 fields, seconds first ("0 0 3 * * *" is 03:00
every day), or a descriptor such as "@daily". A standard 5-field expression ("0 3 * * *") is taken
to be minute-first and gets "0 " in front: KFP would otherwise read its first field as seconds."""
import re
from typing import Optional

from components.common.errors import AudioClfError


_CRON_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31),
                ("month", 1, 12), ("day of week", 0, 6))
_NAMES = {"month": ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
          "day of week": ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]}
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def normalize_cron(expression: str) -> str:
    """The 6-field (seconds first) cron expression KFP's scheduler parses (robfig/cron); a 5-field
    standard expression gets "0 " in front. AudioClfError, naming the field, if it cannot parse."""
    text = " ".join((expression or "").split())
    if text.startswith("@"):
        return _check_descriptor(text)
    fields = text.split(" ") if text else []
    if len(fields) == 5:
        fields = ["0"] + fields
    if len(fields) != 6:
        raise AudioClfError(f"--cron {expression!r}: expected 5 fields (minute hour day month weekday, e.g. "
                            f"'0 3 * * *') or KFP's 6 with seconds first (e.g. '0 0 3 * * *'); got {len(fields)}.")
    for value, (name, low, high) in zip(fields, _CRON_FIELDS):
        if not _cron_field_ok(value, name, low, high):
            raise AudioClfError(f"--cron {expression!r}: the {name} field {value!r} is not valid; use numbers in "
                                f"{low}-{high}, *, ranges a-b, lists a,b and steps */n"
                                + (", or ? for 'any'" if name in ("day of month", "day of week") else "") + ".")
    return " ".join(fields)


def _check_descriptor(text: str) -> str:
    if text.lower() in _DESCRIPTORS:
        return text
    parts = text.split(" ")
    if len(parts) == 2 and parts[0].lower() == "@every" and _GO_DURATION.match(parts[1]):
        return text
    raise AudioClfError(f"--cron {text!r}: unknown descriptor; use one of {', '.join(_DESCRIPTORS)} or "
                        f"'@every 24h', or a cron expression such as '0 3 * * *'.")


def _cron_field_ok(value: str, name: str, low: int, high: int) -> bool:
    if value == "?":
        return name in ("day of month", "day of week")
    for part in value.split(","):
        span, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if span == "*":
            continue
        start, dash, end = span.partition("-")
        bounds = [_cron_number(start, name)] + ([_cron_number(end, name)] if dash else [])
        if any(b is None or not low <= b <= high for b in bounds) or (dash and bounds[0] > bounds[1]):
            return False
    return True


def _cron_number(text: str, name: str) -> Optional[int]:
    if text.isdigit():
        return int(text)
    names = _NAMES.get(name, [])
    offset = 1 if name == "month" else 0
    return names.index(text.upper()) + offset if text.upper() in names else None
