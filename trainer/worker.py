"""The entry point of one multi-worker training process: `python -m trainer.worker --args URI`.

The Trainer step (kubeflow.trainer_launcher: tfjob) writes the training arguments to a JSON file with
`write_args` and creates a TFJob whose workers all run this module on that file; the Training Operator
gives each worker its TF_CONFIG, from which trainer/strategy.py builds a MultiWorkerMirroredStrategy.
Every worker trains (trainer/task.py `train`); only the chief (worker 0) writes the model and reports.

The last line on stdout is a JSON summary (task, strategy, replicas, global batch, and a SHA-256 of
the final weights) so that the workers' logs show whether all replicas ended in sync.
"""
import trainer  # noqa: F401  (first: sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

import argparse
import hashlib
import json
import logging
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from components.common import fs
from components.common.errors import EXIT_USER_ERROR, AudioClfError
from trainer import task

log = logging.getLogger(__name__)

ARGS_FILE = "worker_args.json"
_LIST_KEYS = ("train_files", "eval_files")
_PATH_KEYS = ("serving_model_dir", "model_run_dir")


def write_args(uri: str, custom_config: Dict[str, Any], train_files: List[str], eval_files: List[str],
               serving_model_dir: str, model_run_dir: str) -> None:
    """Writes what every worker passes to `task.train`. The file appears whole or not at all (temp name,
    then rename), so a worker that starts early never reads half of it."""
    payload = json.dumps({"custom_config": custom_config, "train_files": list(train_files),
                          "eval_files": list(eval_files), "serving_model_dir": serving_model_dir,
                          "model_run_dir": model_run_dir}, indent=1, sort_keys=True)
    folder = os.path.dirname(uri)
    if folder:
        fs.makedirs(folder)
    fs.write_text(uri, payload)   # temporary name, then rename (also on gs://)


def read_args(uri: str) -> Dict[str, Any]:
    """The arguments written by `write_args`; AudioClfError naming the file if it cannot be used."""
    try:
        with tf.io.gfile.GFile(uri) as f:
            text = f.read()
    except tf.errors.NotFoundError as err:
        raise AudioClfError(f"worker arguments file {uri} not found: the Trainer step writes it before it creates "
                            f"the TFJob; pass the URI it wrote to --args.") from err
    except tf.errors.OpError as err:
        raise AudioClfError(f"cannot read the worker arguments file {uri} ({err.message}); give the TFJob's service "
                            f"account (kubeflow.tfjob.service_account) read access to the pipeline root.") from err
    try:
        args = json.loads(text)
    except json.JSONDecodeError as err:
        raise AudioClfError(f"worker arguments file {uri} is not valid JSON ({err}); write it with "
                            f"trainer.worker.write_args.") from err
    problems = _problems(args)
    if problems:
        raise AudioClfError(f"worker arguments file {uri}: {'; '.join(problems)}; write it with "
                            f"trainer.worker.write_args.")
    return args


def _problems(args: Any) -> List[str]:
    if not isinstance(args, dict):
        return ["expected a JSON object"]
    problems = []
    if not isinstance(args.get("custom_config"), dict):
        problems.append("custom_config must be an object")
    for key in _LIST_KEYS:
        value = args.get(key)
        if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            problems.append(f"{key} must be a non-empty list of file patterns")
    for key in _PATH_KEYS:
        if not (isinstance(args.get(key), str) and args[key]):
            problems.append(f"{key} must be a path")
    return problems


def task_name(tf_config: Optional[str]) -> str:
    """The task as "type:index" (e.g. "worker:1"); a one-worker TFJob gets no TF_CONFIG from the operator."""
    if not tf_config:
        return "worker:0"
    try:
        this_task = json.loads(tf_config).get("task", {})
    except (json.JSONDecodeError, AttributeError) as err:
        raise AudioClfError(f"TF_CONFIG is not a JSON object ({tf_config[:200]!r}); it is set by the Training "
                            f"Operator: run this module from a TFJob, or unset TF_CONFIG to train alone.") from err
    return f"{this_task.get('type', 'worker')}:{this_task.get('index', 0)}"


def weights_sha256(model: tf.keras.Model) -> str:
    """Digest of every weight's bytes, in the model's order: equal on all workers iff they are in sync."""
    digest = hashlib.sha256()
    for weights in model.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    return digest.hexdigest()


def summary_from_log(text: str) -> Optional[Dict[str, Any]]:
    """The summary `main` printed, from a worker's log (the last JSON line with a weights digest)."""
    for line in reversed(text.splitlines()):
        if line.startswith("{") and "weights_sha256" in line:
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def run(args_uri: str, tf_config: Optional[str]) -> Dict[str, Any]:
    """Trains with the arguments at args_uri; returns the summary that `main` prints."""
    name = task_name(tf_config)
    args = read_args(args_uri)
    log.info("%s: training with %s (TF_CONFIG cluster: %s)", name, args_uri,
             json.loads(tf_config).get("cluster") if tf_config else "none, one worker")
    settings = task.TrainingSettings.from_custom_config(args["custom_config"])
    model, result = task.train(settings, args["train_files"], args["eval_files"], args["serving_model_dir"],
                               args["model_run_dir"])
    return {"task": name, "strategy": result["strategy"], "replicas": result["replicas"],
            "global_batch": result["global_batch"], "weights_sha256": weights_sha256(model)}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Exit code 0 after training; EXIT_USER_ERROR after an AudioClfError, whose message is the log's
    last line. Any other exception propagates with its traceback (a bug, not bad input)."""
    parser = argparse.ArgumentParser(prog="python -m trainer.worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--args", required=True, metavar="URI",
                        help=f"the JSON file written by trainer.worker.write_args (usually .../{ARGS_FILE})")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("tensorflow").propagate = False   # it has its own handler: each line once, not twice
    try:
        summary = run(options.args, os.environ.get("TF_CONFIG"))
    except AudioClfError as err:
        print(f"AudioClfError: {err}", file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
    sys.stderr.flush()
    print(json.dumps(summary, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
