"""Requests in, answers out: the V1 (`:predict`) and Open Inference (V2) shapes of the model server.

A recording arrives as the bytes of an audio file (base64: WAV, FLAC, OGG, MP3, ...) or as float samples
with their sample rate. Every answer is `Classifier.classify_samples`'s dict (label, probability,
probabilities, duration_s, windows), the same as `audioclf predict` prints for a file.

V1  request  {"instances": [{"b64": "<file>"} | {"samples": [...], "sample_rate": 16000}, ...]}
    answer   {"predictions": [<result>, ...]}
V2  request  inputs "audio" (BYTES, shape [n], base64 files), or "samples" (FP32, [n, length] or
             [length]) with "sample_rate" (INT32/INT64, [1] or [n])
    answer   outputs "label" (BYTES [n]), "probability" (FP32 [n]), "probabilities" (FP32 [n, classes])
             and "result" (BYTES [n]: each result as JSON, windows included)

Anything else is a `BadRequest` naming what was wrong; the server turns it into HTTP 400.
"""
import base64
import binascii
import json
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import numpy as np

MIN_RATE, MAX_RATE = 1000, 192000


class BadRequest(ValueError):
    """A request the server refuses (HTTP 400), with the reason a caller can act on."""


class Recording(NamedTuple):
    """One recording of a request: a file's bytes, or samples at `rate`. `name` says which, in errors."""
    name: str
    data: Optional[bytes] = None
    samples: Optional[np.ndarray] = None
    rate: Optional[int] = None


def decode_b64(text: Any, name: str) -> bytes:
    if not isinstance(text, str):
        raise BadRequest(f"{name}: expected a base64 string of an audio file, got {type(text).__name__}.")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise BadRequest(f"{name}: not valid base64 ({err}).") from err
    if not data:
        raise BadRequest(f"{name}: the audio file is empty (0 bytes).")
    return data


def checked_samples(values: Any, rate: Any, name: str) -> Recording:
    """Float samples in [-1, 1] ideally; any finite floats are taken (the model normalizes each clip)."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not float(rate).is_integer():
        raise BadRequest(f"{name}: sample_rate must be a whole number of Hz, got {rate!r}.")
    if not MIN_RATE <= int(rate) <= MAX_RATE:
        raise BadRequest(f"{name}: sample_rate {int(rate)} Hz is outside {MIN_RATE}-{MAX_RATE} Hz.")
    try:
        samples = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise BadRequest(f"{name}: samples must be a list of numbers ({err}).") from err
    if samples.ndim != 1 or samples.size == 0:
        raise BadRequest(f"{name}: samples must be a non-empty flat list of numbers (got shape {list(samples.shape)}).")
    if not np.isfinite(samples).all():
        raise BadRequest(f"{name}: samples hold NaN or infinite values.")
    return Recording(name, samples=samples, rate=int(rate))


def v1_recordings(body: Any, max_recordings: int) -> List[Recording]:
    if isinstance(body, (bytes, bytearray)):   # a JSON body sent without Content-Type: application/json
        try:
            body = json.loads(body)
        except ValueError as err:
            raise BadRequest(f"the request body is not JSON ({err}).") from err
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        raise BadRequest('expected a JSON object {"instances": [...]}, each instance {"b64": "<audio file>"} or '
                         '{"samples": [...], "sample_rate": N}.')
    instances = body["instances"]
    _check_count(len(instances), max_recordings)
    recordings = []
    for i, instance in enumerate(instances):
        name = f"instances[{i}]"
        if isinstance(instance, dict) and "b64" in instance:
            recordings.append(Recording(name, data=decode_b64(instance["b64"], name)))
        elif isinstance(instance, dict) and "samples" in instance:
            recordings.append(checked_samples(instance["samples"], instance.get("sample_rate"), name))
        else:
            raise BadRequest(f'{name}: expected {{"b64": "<audio file>"}} or {{"samples": [...], "sample_rate": N}}.')
    return recordings


def v2_recordings(inputs: Dict[str, Any], max_recordings: int) -> List[Recording]:
    """`inputs`: input name -> (datatype, shape, data as a flat list), as the server reads them."""
    if "audio" in inputs:
        datatype, shape, data = inputs["audio"]
        if datatype != "BYTES":
            raise BadRequest(f'input "audio" must be BYTES (base64 audio files), got {datatype}.')
        _check_count(len(data), max_recordings)
        return [Recording(f"audio[{i}]", data=decode_b64(v.decode() if isinstance(v, bytes) else v, f"audio[{i}]"))
                for i, v in enumerate(data)]
    if "samples" in inputs:
        datatype, shape, data = inputs["samples"]
        if datatype not in ("FP32", "FP64"):
            raise BadRequest(f'input "samples" must be FP32 or FP64, got {datatype}.')
        if "sample_rate" not in inputs:
            raise BadRequest('input "samples" needs an input "sample_rate" (INT32 or INT64, shape [1] or [n]).')
        rows = _rows(shape, data)
        _check_count(len(rows), max_recordings)
        rates = list(inputs["sample_rate"][2])
        if len(rates) not in (1, len(rows)):
            raise BadRequest(f'input "sample_rate" has {len(rates)} values for {len(rows)} recordings (give 1 or {len(rows)}).')
        return [checked_samples(row, rates[0] if len(rates) == 1 else rates[i], f"samples[{i}]") for i, row in enumerate(rows)]
    raise BadRequest(f'expected an input "audio" (BYTES) or "samples" (FP32) with "sample_rate"; got {sorted(inputs) or "none"}.')


def _rows(shape: Sequence[int], data: Sequence) -> List[Sequence]:
    if len(shape) == 1:
        return [data]
    if len(shape) == 2 and shape[0] * shape[1] == len(data) and shape[1] > 0:
        return [data[i * shape[1]:(i + 1) * shape[1]] for i in range(shape[0])]
    raise BadRequest(f'input "samples": shape {list(shape)} does not fit {len(data)} values ([length] or [n, length]).')


def _check_count(count: int, max_recordings: int) -> None:
    if count == 0:
        raise BadRequest("the request holds no recording.")
    if count > max_recordings:
        raise BadRequest(f"the request holds {count} recordings; at most {max_recordings} per request "
                         "(serving.max_recordings).")


def v2_outputs(results: List[dict], label_names: Sequence[str]) -> List[Dict[str, Any]]:
    """The V2 outputs (name, datatype, shape, data) of `results`, in the request's order."""
    n = len(results)
    return [
        {"name": "label", "datatype": "BYTES", "shape": [n], "data": [r["label"] for r in results]},
        {"name": "probability", "datatype": "FP32", "shape": [n], "data": [r["probability"] for r in results]},
        {"name": "probabilities", "datatype": "FP32", "shape": [n, len(label_names)],
         "data": [r["probabilities"][name] for r in results for name in label_names]},
        {"name": "result", "datatype": "BYTES", "shape": [n], "data": [json.dumps(r) for r in results]},
    ]

