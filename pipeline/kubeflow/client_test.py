"""`pipeline.kubeflow` (connection, parameters, cron, runs) against a local fake of the KFP v2beta1 API
(tests/fake_kfp_server.py): the tests assert what the real kfp client sent, and that bad input is refused
before anything is sent."""
import socket
import threading
import time

import kfp
import pytest
import yaml
from kfp import compiler, dsl

from pipeline.kubeflow import connection, cron, parameters, runs
from components.common.errors import AudioClfError
from fake_kfp_server import FakeKfpServer

PLATFORM_SPEC = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {
    "exec-train": {"nodeSelector": {"labels": {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}}}}}}}}


@dsl.component(base_image="python:3.11")
def train(data_root: str, train_clips: int, epochs: int, accuracy_floor: float) -> str:
    return f"{data_root} {train_clips} {epochs} {accuracy_floor}"


@dsl.pipeline(name="audioclf")
def sample_pipeline(data_root: str = "gs://bucket/LibriSpeech", train_clips: int = 600, eval_clips: int = 100,
                    test_clips: int = 100, epochs: int = 10, accuracy_floor: float = 0.7):
    """The run-time parameters of the real pipeline, on one small step."""
    del eval_clips, test_clips
    train(data_root=data_root, train_clips=train_clips, epochs=epochs, accuracy_floor=accuracy_floor)


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    path = tmp_path_factory.mktemp("package") / "pipeline.yaml"
    compiler.Compiler().compile(sample_pipeline, str(path))
    return str(path)


@pytest.fixture
def two_document_package(package, tmp_path):
    """The sample spec followed by a Kubernetes platform spec, as `audioclf compile` writes with node selectors."""
    path = tmp_path / "with-platform.yaml"
    with open(package, encoding="utf-8") as f:
        path.write_text(f.read() + "---\n" + yaml.safe_dump(PLATFORM_SPEC))
    return str(path)


@pytest.fixture(autouse=True)
def _no_ambient_kfp_settings(monkeypatch, tmp_path):
    """Neither the developer's token, service account, endpoint nor ~/.config/kfp reach the tests."""
    for name in (connection.TOKEN_ENV, connection.HOST_ENV, "KF_PIPELINES_UI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "no-sa-token"))
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))


@pytest.fixture
def start_server():
    """Starts fake KFP servers (keyword arguments: their modes) and stops them after the test."""
    started = []

    def start(**modes):
        started.append(FakeKfpServer(**modes).start())
        return started[-1]

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def server(start_server):
    return start_server()


def _spec_documents(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def _runs_sent(server):
    return [r for r in server.requests if "/runs" in r["path"] or "/recurringruns" in r["path"]
            or "/pipelines/upload" in r["path"]]


# --- parameters ----------------------------------------------------------------------------------


def test_params_are_typed_by_the_package(package):
    params = parameters.parse_params(["epochs=20", "accuracy_floor=0.85", "data_root=gs://other/data",
                                      "train_clips= 50", "epochs=25"], package)
    assert params == {"epochs": 25, "accuracy_floor": 0.85, "data_root": "gs://other/data", "train_clips": 50}
    assert type(params["epochs"]) is int and type(params["accuracy_floor"]) is float
    assert parameters.parse_params(["accuracy_floor=1"], package) == {"accuracy_floor": 1.0}
    assert parameters.parse_params([], package) == {}


def test_unknown_param_lists_the_known_ones(package):
    with pytest.raises(AudioClfError, match=r"--param epoch: .*no such run-time parameter; known: .*"
                                            r"accuracy_floor \(NUMBER_DOUBLE\).*epochs \(NUMBER_INTEGER\)"):
        parameters.parse_params(["epoch=3"], package)


@pytest.mark.parametrize("pair, kind", [("epochs=abc", "NUMBER_INTEGER"), ("epochs=1.5", "NUMBER_INTEGER"),
                                        ("accuracy_floor=high", "NUMBER_DOUBLE"), ("accuracy_floor=nan", "NUMBER_DOUBLE")])
def test_bad_param_value_names_parameter_and_type(package, pair, kind):
    name = pair.split("=")[0]
    with pytest.raises(AudioClfError, match=rf"--param {pair}: {name} is a {kind} parameter"):
        parameters.parse_params([pair], package)


def test_param_without_value_and_bad_package(package, tmp_path):
    with pytest.raises(AudioClfError, match="expected NAME=VALUE"):
        parameters.parse_params(["epochs"], package)
    with pytest.raises(AudioClfError, match="not found; run `audioclf compile"):
        parameters.parse_params([], str(tmp_path / "missing.yaml"))
    not_spec = tmp_path / "config.yaml"
    not_spec.write_text("trainer: {epochs: 3}\n")
    with pytest.raises(AudioClfError, match="not a compiled KFP pipeline"):
        parameters.parse_params([], str(not_spec))
    with pytest.raises(AudioClfError, match=r"\*\.yaml"):
        parameters.parse_params([], str(tmp_path / "pipeline.json"))


# --- cron ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("given, sent", [
    ("0 3 * * *", "0 0 3 * * *"),            # standard 5-field cron: minute first
    ("0 0 3 * * *", "0 0 3 * * *"),          # KFP's 6 fields: seconds first
    ("  */15  9-17 * * MON-FRI ", "0 */15 9-17 * * MON-FRI"),
    ("0 0 9 ? * 2-6", "0 0 9 ? * 2-6"),
    ("0 30 2 1,15 jan,jul *", "0 30 2 1,15 jan,jul *"),
    ("@daily", "@daily"),
    ("@every 12h30m", "@every 12h30m"),
])
def test_cron_is_sent_with_seconds_first(given, sent):
    assert cron.normalize_cron(given) == sent


@pytest.mark.parametrize("bad, says", [
    ("0 3 * *", "got 4"), ("0 0 3 * * * 2026", "got 7"), ("", "got 0"),
    ("60 * * * *", "minute field '60'"), ("0 0 24 * * *", "hour field '24'"), ("0 0 3 0 * *", "day of month field '0'"),
    ("0 0 3 * 13 *", "month field '13'"), ("0 3 * * 7", "day of week field '7'"), ("0 ? * * *", "hour field '\\?'"),
    ("0 3 * * 1-", "day of week"), ("0 5-1 * * *", "hour field '5-1'"), ("*/0 * * * *", "minute field"),
    ("0 3 L * *", "day of month field 'L'"), ("@fortnightly", "unknown descriptor"), ("@every soon", "unknown descriptor"),
])
def test_bad_cron_names_the_field(bad, says):
    with pytest.raises(AudioClfError, match=rf"--cron .*{says}"):
        cron.normalize_cron(bad)


# --- submit --------------------------------------------------------------------------------------


def test_submit_creates_the_experiment_and_a_run_of_the_package(server, package, capsys):
    client = connection.connect(server.url)
    params = parameters.parse_params(["epochs=20", "accuracy_floor=0.85"], package)
    result = runs.submit(client, package, "retraining", params, run_name="nightly try")

    created = server.sent("POST", "/experiments")
    assert [r["body"]["display_name"] for r in created] == ["retraining"]
    experiment_id = next(iter(server.experiments))
    [run] = server.sent("POST", "/runs")
    assert run["body"]["experiment_id"] == experiment_id == result["experiment_id"]
    assert run["body"]["display_name"] == "nightly try"
    assert run["body"]["pipeline_spec"] == _spec_documents(package)[0]
    assert run["body"]["runtime_config"]["parameters"] == {"epochs": 20, "accuracy_floor": 0.85}
    assert "pipeline_version_reference" not in run["body"]
    run_id = next(iter(server.runs))
    assert result == {"run_id": run_id, "experiment_id": experiment_id, "url": f"{server.url}/#/runs/details/{run_id}"}
    assert capsys.readouterr().out == ""   # kfp's "Run details:" prints go to the log, not the JSON stdout


def test_submit_reuses_an_experiment_of_that_name(server, package):
    existing = server.add_experiment("audioclf")
    result = runs.submit(connection.connect(server.url), package, "audioclf", {})
    assert server.sent("POST", "/experiments") == []
    [lookup] = server.sent("GET", "/experiments")
    assert '"stringValue": "audioclf"' in lookup["query"]["filter"]
    [run] = server.sent("POST", "/runs")
    assert run["body"]["experiment_id"] == existing["experiment_id"] == result["experiment_id"]
    assert run["body"]["display_name"].startswith("audioclf ")   # pipeline name and a time stamp
    assert run["body"]["runtime_config"]["parameters"] == {}


def test_submit_sends_the_platform_spec_of_a_two_document_package(server, two_document_package):
    runs.submit(connection.connect(server.url), two_document_package, "audioclf", {"epochs": 3},
                      enable_caching=False)
    [run] = server.sent("POST", "/runs")
    spec, platform = _spec_documents(two_document_package)
    sent = run["body"]["pipeline_spec"]
    assert sent["platform_spec"] == platform
    for task in sent["pipeline_spec"]["root"]["dag"]["tasks"].values():   # enable_caching=False overrides the spec
        assert task["cachingOptions"] == {}
        task["cachingOptions"] = spec["root"]["dag"]["tasks"]["train"]["cachingOptions"]
    assert sent["pipeline_spec"] == spec


# --- schedule ------------------------------------------------------------------------------------


def test_schedule_uploads_the_package_and_creates_a_recurring_run(server, package):
    client = connection.connect(server.url)
    result = runs.schedule(client, package, "retraining", "0 3 * * *", 2, {"epochs": 30}, "audioclf",
                                 job_name="nightly")

    [upload] = server.sent("POST", "/pipelines/upload")
    with open(package, "rb") as f:
        assert upload["files"]["uploadfile"]["content"] == f.read()
    assert upload["query"]["name"] == "audioclf"
    [pipeline] = server.pipelines.values()
    [version] = server.versions.values()
    [recurring] = server.sent("POST", "/recurringruns")
    body = recurring["body"]
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert body["max_concurrency"] == 2 and body["no_catchup"] is True and body["mode"] == "ENABLE"
    assert body["pipeline_version_reference"] == {"pipeline_id": pipeline["pipeline_id"],
                                                  "pipeline_version_id": version["pipeline_version_id"]}
    assert "pipeline_spec" not in body
    assert body["runtime_config"]["parameters"] == {"epochs": 30}
    assert body["experiment_id"] == next(iter(server.experiments)) == result["experiment_id"]
    assert body["display_name"] == "nightly"
    recurring_id = next(iter(server.recurring_runs))
    assert result["recurring_run_id"] == recurring_id
    assert result["pipeline_version_id"] == version["pipeline_version_id"]
    assert result["url"] == f"{server.url}/#/recurringrun/details/{recurring_id}"


def test_rescheduling_uploads_a_version_named_by_content_once(server, package, two_document_package):
    client = connection.connect(server.url)
    first = runs.schedule(client, package, "audioclf", "0 0 3 * * *", 1, {}, "audioclf")
    second = runs.schedule(client, package, "audioclf", "0 0 3 * * *", 1, {}, "audioclf")
    third = runs.schedule(client, package, "audioclf", "0 0 4 * * *", 1, {}, "audioclf")

    assert len(server.sent("POST", "/pipelines/upload")) == 1
    [version_upload] = server.sent("POST", "/pipelines/upload_version")
    name = runs.version_name("audioclf", package)
    assert version_upload["query"] == {"name": name, "pipelineid": first["pipeline_id"],
                                       "description": version_upload["query"]["description"]}
    with open(package, "rb") as f:
        assert version_upload["files"]["uploadfile"]["content"] == f.read()
    assert second["pipeline_version_name"] == third["pipeline_version_name"] == name
    assert second["pipeline_version_id"] == third["pipeline_version_id"] != first["pipeline_version_id"]
    references = [r["body"]["pipeline_version_reference"]["pipeline_version_id"]
                  for r in server.sent("POST", "/recurringruns")]
    assert references == [first["pipeline_version_id"], second["pipeline_version_id"], second["pipeline_version_id"]]

    changed = runs.schedule(client, two_document_package, "audioclf", "0 0 3 * * *", 1, {}, "audioclf")
    assert changed["pipeline_version_name"] == runs.version_name("audioclf", two_document_package) != name
    assert len(server.sent("POST", "/pipelines/upload_version")) == 2


@pytest.mark.parametrize("kwargs, says", [
    ({"cron": "0 3 * *"}, "--cron"), ({"cron": "0 25 * * *"}, "hour field"),
    ({"max_concurrency": 0}, "--max-concurrency 0"), ({"max_concurrency": True}, "--max-concurrency"),
    ({"params": {"epoch": 3}}, "parameter epoch: .*no such run-time parameter"),
    ({"params": {"epochs": "many"}}, "epochs is a NUMBER_INTEGER parameter"),
    ({"params": {"epochs": 2.5}}, "epochs is a NUMBER_INTEGER parameter"),
])
def test_bad_schedule_input_is_refused_before_anything_is_sent(server, package, kwargs, says):
    client = connection.connect(server.url)
    before = len(server.requests)
    arguments = dict(cron="0 3 * * *", max_concurrency=1, params={}, pipeline_name="audioclf")
    arguments.update(kwargs)
    with pytest.raises(AudioClfError, match=says):
        runs.schedule(client, package, "audioclf", **arguments)
    assert server.requests[before:] == []


def test_bad_submit_params_are_refused_before_anything_is_sent(server, package):
    client = connection.connect(server.url)
    before = len(server.requests)
    with pytest.raises(AudioClfError, match="accuracy_floor is a NUMBER_DOUBLE parameter"):
        runs.submit(client, package, "audioclf", {"accuracy_floor": "high"})
    with pytest.raises(AudioClfError, match="no such run-time parameter"):
        runs.submit(client, package, "audioclf", {"learning_rate": 0.1})
    assert server.requests[before:] == [] and _runs_sent(server) == []


# --- authentication ------------------------------------------------------------------------------


def test_kfp_token_is_sent_as_bearer(monkeypatch, start_server, package):
    fake = start_server(require_token="s3cret")
    monkeypatch.setenv("KFP_TOKEN", "s3cret")
    runs.submit(connection.connect(fake.url), package, "audioclf", {})
    runs.schedule(connection.connect(fake.url), package, "audioclf", "@daily", 1, {}, "audioclf")
    assert len(fake.sent("POST", "/runs")) == 1 and len(fake.sent("POST", "/recurringruns")) == 1
    assert {r["headers"].get("authorization") for r in fake.requests} == {"Bearer s3cret"}


def test_service_account_token_file_is_used_without_kfp_token(monkeypatch, tmp_path, start_server, package):
    token = tmp_path / "token"
    token.write_text("pod-token\n")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(token))
    fake = start_server(require_token="pod-token")
    runs.submit(connection.connect(fake.url), package, "audioclf", {})
    assert {r["headers"].get("authorization") for r in fake.requests} == {"Bearer pod-token"}


@pytest.mark.parametrize("namespace", [None, "team-audio"])
def test_missing_token_says_to_set_kfp_token(start_server, package, namespace):
    fake = start_server(require_token="s3cret")
    started = time.monotonic()
    with pytest.raises(AudioClfError, match=r"401 unauthenticated.*Not authorized: set KFP_TOKEN") as caught:
        # Without a namespace kfp's constructor calls /healthz; with one, the first call fails.
        runs.submit(connection.connect(fake.url, namespace=namespace), package, "audioclf", {})
    assert fake.url in str(caught.value)
    assert time.monotonic() - started < 5   # one try, not kfp's five health checks 5 s apart
    assert _runs_sent(fake) == []


# --- server and connection errors ----------------------------------------------------------------


def test_experiment_not_found_names_experiment_and_namespace(start_server, package):
    fake = start_server(missing_experiments=True)
    client = connection.connect(fake.url, namespace="team-audio")
    with pytest.raises(AudioClfError, match=r"experiment 'retraining' was not found in namespace team-audio"
                                            r".*experiment not found in namespace.*Check --experiment"):
        runs.submit(client, package, "retraining", {})
    [lookup] = fake.sent("GET", "/experiments")
    assert lookup["query"]["namespace"] == "team-audio"
    assert _runs_sent(fake) == []


def test_run_of_a_vanished_experiment_says_which(server, package, monkeypatch):
    client = connection.connect(server.url)
    find_or_create = client.create_experiment

    def found_then_deleted(**kwargs):   # someone deletes the experiment before the run is created
        experiment = find_or_create(**kwargs)
        del server.experiments[experiment.experiment_id]
        return experiment

    monkeypatch.setattr(client, "create_experiment", found_then_deleted)
    with pytest.raises(AudioClfError, match=r"experiment 'gone' \(id [0-9a-f-]+\) was not found in namespace "
                                            r"\(default, single-user\).*while creating run"):
        runs.submit(client, package, "gone", {})


def test_other_http_errors_give_status_and_server_message(server, package):
    server.failures[("POST", "/apis/v2beta1/runs")] = (500, "Internal error: failed to create a workflow: quota")
    with pytest.raises(AudioClfError, match=r"answered HTTP 500 .*creating run 'r'.*failed to create a workflow: quota"):
        runs.submit(connection.connect(server.url), package, "audioclf", {}, run_name="r")


def test_unreachable_host_names_the_url_and_the_port_forward():
    with socket.socket() as probe:   # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(AudioClfError, match=rf"cannot reach Kubeflow Pipelines at {url} .*kubectl port-forward "
                                            r"-n kubeflow svc/ml-pipeline-ui 8080:80"):
        connection.connect(url)


def test_silent_host_times_out_instead_of_hanging(monkeypatch):
    monkeypatch.setattr(connection, "REQUEST_TIMEOUT", (0.5, 0.5))
    outcome = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)   # the kernel accepts connections; nobody ever answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        # In a thread, so that a regression fails the test instead of hanging it.
        attempt = threading.Thread(target=lambda: outcome.append(_error_of(connection.connect, url)), daemon=True)
        attempt.start()
        attempt.join(timeout=20)
    assert outcome, "connect() still waits for a host that never answers"
    assert isinstance(outcome[0], AudioClfError)
    assert f"KFP at {url} accepted the connection but did not answer within 0.5 s" in str(outcome[0])


def _error_of(function, *args):
    try:
        function(*args)
    except Exception as err:  # pylint: disable=broad-except
        return err
    return None


def test_multi_user_deployment_needs_a_namespace(start_server, package):
    fake = start_server(multi_user=True)
    with pytest.raises(AudioClfError, match=rf"{fake.url} runs in multi-user mode: pass the namespace"):
        connection.connect(fake.url)
    runs.submit(connection.connect(fake.url, namespace="team-audio"), package, "audioclf", {})
    [created] = fake.sent("POST", "/experiments")
    assert created["body"] == {"display_name": "audioclf", "namespace": "team-audio"}


def test_host_is_required_and_a_bare_name_means_https(monkeypatch):
    with pytest.raises(AudioClfError, match="pass --host URL"):
        connection.connect("")
    assert connection._normalize_host("kfp.example.com/") == "https://kfp.example.com"
    monkeypatch.setenv(connection.HOST_ENV, "http://localhost:8080")
    assert connection._normalize_host(None) == "http://localhost:8080"


# --- the real compiled package -------------------------------------------------------------------


def test_compiled_audioclf_package_submits_and_schedules(server, tmp_path):
    from pipeline.config import load_config  # pylint: disable=import-outside-toplevel
    from pipeline.kubeflow.compiler import compile_pipeline  # pylint: disable=import-outside-toplevel

    config = load_config("tests/tiny.yaml")
    package = str(tmp_path / "p.yaml")
    spec = compile_pipeline(config, package)
    params = parameters.parse_params(["epochs=3", "accuracy_floor=0.6", "train_clips=12", "data_root=gs://b/d"],
                                     package)
    assert params == {"epochs": 3, "accuracy_floor": 0.6, "train_clips": 12, "data_root": "gs://b/d"}
    client = connection.connect(server.url)
    runs.submit(client, package, config.kubeflow.experiment, params, run_name="e2e")
    [run] = server.sent("POST", "/runs")
    assert run["body"]["pipeline_spec"] == spec == _spec_documents(package)[0]
    assert run["body"]["runtime_config"]["parameters"] == params

    runs.schedule(client, package, config.kubeflow.experiment, "0 4 * * 0", 1, params, config.name)
    [upload] = server.sent("POST", "/pipelines/upload")
    with open(package, "rb") as f:
        assert upload["files"]["uploadfile"]["content"] == f.read()
    [pipeline] = server.pipelines.values()
    assert pipeline["display_name"] == "audioclf"
    assert server.sent("POST", "/recurringruns")[0]["body"]["trigger"]["cron_schedule"]["cron"] == "0 0 4 * * 0"
