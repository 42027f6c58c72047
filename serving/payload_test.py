"""Request shapes the server takes and the reasons it gives for the ones it refuses (no server here:
serving/server_test.py sends real HTTP)."""
import base64

import numpy as np
import pytest

from components.common.errors import AudioClfError
from serving import payload
from serving.config import ServingConfig

B64 = base64.b64encode(b"RIFF....").decode()


def test_v1_takes_files_and_samples_in_order():
    recordings = payload.v1_recordings({"instances": [{"b64": B64}, {"samples": [0.0, 0.5], "sample_rate": 8000}]}, 4)
    assert [r.name for r in recordings] == ["instances[0]", "instances[1]"]
    assert recordings[0].data == b"RIFF...." and recordings[1].rate == 8000
    np.testing.assert_array_equal(recordings[1].samples, [0.0, 0.5])
    # A JSON body sent without its Content-Type arrives as bytes.
    assert payload.v1_recordings(b'{"instances": [{"b64": "%s"}]}' % B64.encode(), 4)[0].data == b"RIFF...."


@pytest.mark.parametrize("body, reason", [
    ({"inputs": []}, r'expected a JSON object \{"instances": \[\.\.\.\]\}'),
    (b"not json", "the request body is not JSON"),
    ({"instances": []}, "the request holds no recording"),
    ({"instances": [{"b64": B64}] * 5}, r"holds 5 recordings; at most 4 per request \(serving.max_recordings\)"),
    ({"instances": [{"b64": "%%%"}]}, r"instances\[0\]: not valid base64"),
    ({"instances": [{"b64": ""}]}, r"instances\[0\]: the audio file is empty"),
    ({"instances": [{"b64": 12}]}, "expected a base64 string of an audio file, got int"),
    ({"instances": [{"wav": B64}]}, r'instances\[0\]: expected \{"b64"'),
    ({"instances": [{"samples": [0.1], "sample_rate": 100}]}, "sample_rate 100 Hz is outside 1000-192000 Hz"),
    ({"instances": [{"samples": [0.1], "sample_rate": 8000.5}]}, "sample_rate must be a whole number of Hz"),
    ({"instances": [{"samples": [0.1]}]}, "sample_rate must be a whole number of Hz, got None"),
    ({"instances": [{"samples": [[0.1], [0.2]], "sample_rate": 8000}]}, r"non-empty flat list of numbers \(got shape \[2, 1\]\)"),
    ({"instances": [{"samples": ["a"], "sample_rate": 8000}]}, "samples must be a list of numbers"),
    ({"instances": [{"samples": [float("nan")], "sample_rate": 8000}]}, "NaN or infinite"),
])
def test_v1_refusals_name_what_is_wrong(body, reason):
    with pytest.raises(payload.BadRequest, match=reason):
        payload.v1_recordings(body, 4)


def test_v2_takes_bytes_or_a_batch_of_samples():
    assert [r.data for r in payload.v2_recordings({"audio": ("BYTES", [2], [B64, B64])}, 4)] == [b"RIFF...."] * 2
    rows = payload.v2_recordings({"samples": ("FP32", [2, 3], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
                                  "sample_rate": ("INT32", [1], [16000])}, 4)
    np.testing.assert_allclose([r.samples for r in rows], [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], rtol=1e-6)
    assert [r.rate for r in rows] == [16000, 16000]


@pytest.mark.parametrize("inputs, reason", [
    ({}, 'expected an input "audio" \\(BYTES\\) or "samples"'),
    ({"audio": ("FP32", [1], [0.1])}, 'input "audio" must be BYTES'),
    ({"samples": ("FP32", [3], [0.1, 0.2, 0.3])}, 'needs an input "sample_rate"'),
    ({"samples": ("FP32", [2, 2], [0.1, 0.2, 0.3]), "sample_rate": ("INT32", [1], [8000])}, "does not fit 3 values"),
    ({"samples": ("FP32", [2, 1], [0.1, 0.2]), "sample_rate": ("INT32", [3], [8000] * 3)}, "3 values for 2 recordings"),
    ({"samples": ("INT8", [1], [1])}, 'input "samples" must be FP32 or FP64'),
])
def test_v2_refusals_name_what_is_wrong(inputs, reason):
    with pytest.raises(payload.BadRequest, match=reason):
        payload.v2_recordings(inputs, 4)


def test_v2_outputs_hold_every_result_in_order():
    results = [{"label": "male", "probability": 0.9, "probabilities": {"male": 0.9, "female": 0.1}},
               {"label": "female", "probability": 0.8, "probabilities": {"male": 0.2, "female": 0.8}}]
    outputs = {o["name"]: o for o in payload.v2_outputs(results, ["male", "female"])}
    assert outputs["label"]["data"] == ["male", "female"] and outputs["probabilities"]["shape"] == [2, 2]
    assert outputs["probabilities"]["data"] == [0.9, 0.1, 0.2, 0.8] and len(outputs["result"]["data"]) == 2


def test_serving_settings_refuse_what_cannot_work():
    ServingConfig(max_request_mb=4).validate()
    with pytest.raises(AudioClfError, match="serving.http_port=0 must be a TCP port"):
        ServingConfig(http_port=0).validate()
    with pytest.raises(AudioClfError, match="serving.min_audio_seconds=5"):
        ServingConfig(min_audio_seconds=5, max_audio_seconds=2).validate()
    with pytest.raises(AudioClfError, match="serving.model_name='a b'"):
        ServingConfig(model_name="a b").validate()
