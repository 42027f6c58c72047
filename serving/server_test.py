"""The model server over loopback HTTP: started as `audioclf serve` starts it (from .venv-serving, the
checkout's code) on a small exported model, it must answer FLAC, WAV, OGG, MP3 and float samples exactly
as `audioclf predict`'s Classifier does in this process, and refuse bad requests with 400 (413 when too
large), never 500, while staying ready."""
import base64
import http.client
import io
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import soundfile as sf

from sample_artifacts import export_tiny_model  # tests/sample_artifacts.py
from serving import local_server
from trainer.classifier import Classifier

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SERVING_PYTHON = Path(os.environ.get("AUDIOCLF_SERVING_PYTHON") or REPO / ".venv-serving" / "bin" / "python")
FLAC = REPO / "data" / "librispeech-mini" / "dev-mini" / "83" / "11691" / "83-11691-0000.flac"
MP3 = REPO / "data" / "commonvoice-mini" / "clips" / "common_voice_fa_37178286.mp3"
MAX_REQUEST_MB = 0.5


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return export_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    assert SERVING_PYTHON.exists(), f"{SERVING_PYTHON} is missing: run `make setup` (it creates .venv-serving)"
    port = local_server.free_port()
    argv = [sys.executable, "-m", "pipeline.cli", "serve", "--model", str(model_dir), "--port", str(port),
            "--set", f"serving.max_request_mb={MAX_REQUEST_MB}", "--set", "serving.max_recordings=3"]
    try:
        process, url = local_server.start(argv, port, tmp_path_factory.mktemp("server") / "server.log", timeout=180,
                                          cwd=REPO, env=dict(os.environ, AUDIOCLF_SERVING_PYTHON=str(SERVING_PYTHON)))
    except local_server.NotReady as err:
        pytest.fail(str(err))
    yield url
    local_server.stop(process)


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, json.loads(response.read())


def _post(url, body, content_type="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _encoded(fmt: str, subtype: str) -> bytes:
    samples, rate = sf.read(str(FLAC), dtype="float32")
    out = io.BytesIO()
    sf.write(out, samples[: rate * 3], rate, format=fmt, subtype=subtype)
    return out.getvalue()


def _same(answer: dict, expected: dict):
    assert answer["label"] == expected["label"] and answer["duration_s"] == expected["duration_s"]
    assert answer["probabilities"] == pytest.approx(expected["probabilities"], abs=2e-4)
    assert [w["start_s"] for w in answer["windows"]] == [w["start_s"] for w in expected["windows"]]


def test_health_and_metadata(server):
    assert _get(server + "/v2/health/live")[0] == 200
    assert _get(server + "/v2/models/audioclf/ready")[0] == 200
    assert _get(server + "/v1/models/audioclf") == (200, {"name": "audioclf", "ready": True})


def test_files_of_every_format_get_predicts_answer(server, model_dir, tmp_path):
    local = Classifier(str(model_dir))
    files = {"flac": FLAC.read_bytes(), "mp3": MP3.read_bytes(), "wav": _encoded("WAV", "PCM_16"),
             "ogg": _encoded("OGG", "VORBIS")}
    status, body = _post(server + "/v1/models/audioclf:predict", {"instances": [{"b64": _b64(files["flac"])},
                                                                               {"b64": _b64(files["mp3"])}]})
    assert status == 200 and len(body["predictions"]) == 2
    _same(body["predictions"][0], local.classify_file(str(FLAC)))
    _same(body["predictions"][1], local.classify_file(str(MP3)))
    for fmt in ("wav", "ogg"):
        path = tmp_path / f"clip.{fmt}"
        path.write_bytes(files[fmt])
        status, body = _post(server + "/v2/models/audioclf/infer",
                             {"inputs": [{"name": "audio", "datatype": "BYTES", "shape": [1], "data": [_b64(files[fmt])]}]})
        assert status == 200, body
        outputs = {o["name"]: o for o in body["outputs"]}
        expected = local.classify_file(str(path))
        _same(json.loads(outputs["result"]["data"][0]), expected)
        assert outputs["label"]["data"] == [expected["label"]]
        assert outputs["probabilities"]["shape"] == [1, 2]


def test_float_samples_are_resampled_like_a_file(server, model_dir):
    local = Classifier(str(model_dir))
    samples, rate = sf.read(str(FLAC), dtype="float32")
    samples = samples[:rate].round(4)             # 1 s at 16 kHz: the server resamples to the model's 8 kHz
    expected = local.classify_samples(local.resample(samples, rate))
    status, body = _post(server + "/v1/models/audioclf:predict",
                         {"instances": [{"samples": samples.tolist(), "sample_rate": rate}]})
    assert status == 200
    _same(body["predictions"][0], expected)
    status, body = _post(server + "/v2/models/audioclf/infer", {"inputs": [
        {"name": "samples", "datatype": "FP32", "shape": [1, len(samples)], "data": samples.tolist()},
        {"name": "sample_rate", "datatype": "INT32", "shape": [1], "data": [rate]}]})
    assert status == 200
    _same(json.loads({o["name"]: o for o in body["outputs"]}["result"]["data"][0]), expected)


@pytest.mark.parametrize("body, status, reason", [
    ({"instances": [{"b64": _b64(b"this is not audio at all" * 10)}]}, 400, "instances[0]: cannot decode audio"),
    ({"instances": [{"b64": "%%%"}]}, 400, "not valid base64"),
    ({"instances": []}, 400, "holds no recording"),
    ({"instances": [{"samples": [0.1] * 100, "sample_rate": 8000}]}, 400, "at least 0.5 s"),
    ({"instances": [{"b64": "AAAA"}] * 4}, 400, "at most 3 per request"),
    (b"", 400, ""),
    (b"{not json", 400, ""),
])
def test_bad_requests_are_refused_with_the_reason(server, body, status, reason):
    got, answer = _post(server + "/v1/models/audioclf:predict", body)
    assert got == status and "error" in answer and (not reason or reason in answer["error"]), answer
    assert _get(server + "/v2/health/ready")[0] == 200      # still serving


def test_an_oversized_body_is_refused_before_it_is_sent(server):
    """The 413 comes from the Content-Length alone: the client has not sent a byte of the body yet."""
    host, port = server.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/v1/models/audioclf:predict")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(int(MAX_REQUEST_MB * 1024 * 1024) + 1))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and "serving.max_request_mb" in json.loads(response.read())["error"]
    connection.close()
    assert _get(server + "/v2/health/ready")[0] == 200


@pytest.mark.parametrize("body, reason", [
    (b"garbage", "invalid request"),
    ({"inputs": [{"name": "audio", "datatype": "FP32", "shape": [1], "data": [0.5]}]}, 'input "audio" must be BYTES'),
    ({"inputs": [{"name": "pictures", "datatype": "BYTES", "shape": [1], "data": ["AAAA"]}]}, 'expected an input "audio"'),
])
def test_bad_v2_requests_are_400s(server, body, reason):
    got, answer = _post(server + "/v2/models/audioclf/infer", body)
    assert got == 400 and reason in answer["error"], answer
