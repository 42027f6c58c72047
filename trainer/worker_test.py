"""The multi-worker entry point: two real `python -m trainer.worker` processes train together on
localhost ports, as two TFJob workers do; and the checks on its arguments file."""
import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import fake_k8s  # tests/fake_k8s.py (the root conftest puts tests/ on the path)
import pytest
import tensorflow as tf

from sample_artifacts import write_examples  # tests/sample_artifacts.py
from components.common.errors import EXIT_USER_ERROR, AudioClfError
from trainer import task, worker
from trainer.task_test import RATE, SECONDS, TINY, settings

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
# One epoch of two steps: the workers exchange gradients and evaluate together, fast on two CPU cores.
MULTI_WORKER = dataclasses.replace(TINY, epochs=1, steps_per_epoch=2, patience=5)


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    return write_examples(tmp_path_factory.mktemp("worker"), RATE, SECONDS, {"train": 12, "eval": 6, "test": 4}).uri


def write_worker_args(uri: str, examples_uri: str, out: Path, config=MULTI_WORKER, train_split: str = "train") -> None:
    worker.write_args(uri, settings(config).to_custom_config(), [f"{examples_uri}/Split-{train_split}/*"],
                      [f"{examples_uri}/Split-eval/*"], str(out / "serving"), str(out / "run"))


def test_two_workers_train_together_and_end_with_the_same_weights(examples, tmp_path):
    args_uri = str(tmp_path / "trainer" / worker.ARGS_FILE)
    out = tmp_path / "out"
    write_worker_args(args_uri, examples, out)
    ports = fake_k8s.free_ports(2)
    procs, logs = [], []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}}
        scratch = tmp_path / f"tmp{index}"   # where a non-chief worker exports its throwaway copy
        scratch.mkdir()
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(REPO),
                   TMPDIR=str(scratch))
        logs.append(tmp_path / f"worker{index}.log")
        with open(logs[-1], "wb") as log_file:
            procs.append(subprocess.Popen([sys.executable, "-m", "trainer.worker", "--args", args_uri], cwd=REPO,
                                          env=env, stdout=log_file, stderr=subprocess.STDOUT))
    try:
        codes = [proc.wait(timeout=300) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    texts = [path.read_text(errors="replace") for path in logs]
    assert codes == [0, 0], "\n\n".join(text[-3000:] for text in texts)

    summaries = [worker.summary_from_log(text) for text in texts]
    assert [s["task"] for s in summaries] == ["worker:0", "worker:1"]
    for summary in summaries:
        assert summary["strategy"] == tf.distribute.MultiWorkerMirroredStrategy.__name__
        assert summary["replicas"] == 2 and summary["global_batch"] == 8
    assert summaries[0]["weights_sha256"] == summaries[1]["weights_sha256"]
    # Only the chief (worker 0) wrote the model and the run folder; worker 1's copy went and was removed.
    assert sorted(p.name for p in out.iterdir()) == ["run", "serving"]
    assert (out / "serving" / "saved_model.pb").exists()
    assert not list((tmp_path / "tmp1").glob("audioclf-worker-*"))
    history = task.read_history(str(out / "run"))
    assert history["replicas"] == 2 and history["global_batch"] == 8
    assert history["epochs_run"] == 1 and len(history["history"]["loss"]) == 1


def test_args_round_trip_without_leftovers(tmp_path):
    uri = str(tmp_path / "new" / "folder" / worker.ARGS_FILE)
    worker.write_args(uri, {"trainer": "{}", "sample_rate": 8000}, ["a/*"], ["b/*"], "/m/serving", "/m/run")
    worker.write_args(uri, {"trainer": "{}", "sample_rate": 16000}, ["a/*"], ["b/*"], "/m/serving", "/m/run")
    assert worker.read_args(uri) == {"custom_config": {"trainer": "{}", "sample_rate": 16000}, "train_files": ["a/*"],
                                     "eval_files": ["b/*"], "serving_model_dir": "/m/serving", "model_run_dir": "/m/run"}
    assert os.listdir(tmp_path / "new" / "folder") == [worker.ARGS_FILE]   # the temporary file was renamed


def test_unusable_args_files_are_named(tmp_path):
    missing = str(tmp_path / "nowhere" / worker.ARGS_FILE)
    with pytest.raises(AudioClfError, match=re.escape(missing) + " not found.*--args"):
        worker.read_args(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(AudioClfError, match="broken.json is not valid JSON"):
        worker.read_args(str(broken))
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"custom_config": {}, "train_files": [], "serving_model_dir": "/m"}))
    with pytest.raises(AudioClfError, match="train_files must be a non-empty list.*eval_files.*model_run_dir"):
        worker.read_args(str(incomplete))


def test_main_ends_the_log_with_the_reason(tmp_path, capsys):
    missing = str(tmp_path / worker.ARGS_FILE)
    assert worker.main(["--args", missing]) == EXIT_USER_ERROR
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert last_line.startswith("AudioClfError: worker arguments file") and missing in last_line


def test_task_name_and_summary_parsing():
    tf_config = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    assert worker.task_name(json.dumps(tf_config)) == "worker:1"
    assert worker.task_name(None) == "worker:0"
    with pytest.raises(AudioClfError, match="TF_CONFIG is not a JSON object"):
        worker.task_name("worker-1")
    log = 'Epoch 1/2\n{"task": "worker:1", "weights_sha256": "ab"}\n2024 I tensorflow shutting down\n'
    assert worker.summary_from_log(log) == {"task": "worker:1", "weights_sha256": "ab"}
    assert worker.summary_from_log("Traceback ...\nValueError: boom\n") is None
