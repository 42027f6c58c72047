"""AudioTrainer executor: TFX's GenericExecutor, with the run's epoch count, trained here or as a TFJob.

In-process (no launcher): the run-time `epochs` is written into the trainer settings and TFX's
GenericExecutor calls `run_fn` as usual.

TFJob launcher: the Trainer step's pod does not train. It writes the training arguments (the same
ones `run_fn` would get) next to the model run outputs, creates a TFJob whose workers run
`python -m trainer.worker --args <that file>` in the same image (TF_CONFIG comes from the Training
Operator; MultiWorkerMirroredStrategy is chosen at run time), streams the job's status, and fails with
the failed worker's log when a worker fails. The chief writes the model into this step's Model
artifact, so the Evaluator and Pusher take it exactly as they take a locally trained one.
"""
import json
import logging
import os
from typing import Any, Dict, List

from tfx import types
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs

from components.audio_trainer.config import KubeflowConfig, ResourcesConfig, TFJobConfig
from components.common.settings import section_from_json
from components.common.errors import AudioClfError
from trainer import task

log = logging.getLogger(__name__)

EPOCHS_KEY = "epochs"
LAUNCHER_KEY = "launcher"
JOB_PREFIX = "audioclf-train"


def with_epochs(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
    """The execution properties for TFX's executor: the run's epoch count in the trainer settings, and
    this component's own keys removed."""
    epochs = int(exec_properties[EPOCHS_KEY])
    if epochs < 1:
        raise AudioClfError(f"run-time parameter epochs={epochs} must be >= 1.")
    custom = json.loads(exec_properties[standard_component_specs.CUSTOM_CONFIG_KEY])
    settings = task.TrainingSettings.from_custom_config(custom)
    settings.trainer.epochs = epochs
    custom.update(settings.to_custom_config())
    properties = {k: v for k, v in exec_properties.items() if k not in (EPOCHS_KEY, LAUNCHER_KEY)}
    properties[standard_component_specs.CUSTOM_CONFIG_KEY] = json.dumps(custom, sort_keys=True)
    return properties


class Executor(trainer_executor.GenericExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        launcher = exec_properties.get(LAUNCHER_KEY)
        properties = with_epochs(exec_properties)
        if not launcher:
            super().Do(input_dict, output_dict, properties)
            return
        launcher = json.loads(launcher)
        if launcher.get("kind") != "tfjob":
            raise AudioClfError(f"unknown trainer launcher {launcher.get('kind')!r}; kubeflow.trainer_launcher "
                                f"is 'pod' or 'tfjob'.")
        self._train_with_tfjob(input_dict, output_dict, properties, launcher)

    def _train_with_tfjob(self, input_dict, output_dict, exec_properties, launcher: Dict[str, Any]) -> None:
        from components.audio_trainer import tfjob  # pylint: disable=import-outside-toplevel  (kubernetes client)
        from trainer import worker  # pylint: disable=import-outside-toplevel

        fn_args = self._GetFnArgs(input_dict, output_dict, exec_properties)
        cluster = KubeflowConfig(image=launcher["image"],
                                 trainer=section_from_json(ResourcesConfig, json.dumps(launcher["resources"])),
                                 tfjob=section_from_json(TFJobConfig, json.dumps(launcher["tfjob"])))
        job = cluster.tfjob
        args_uri = os.path.join(fn_args.model_run_dir, worker.ARGS_FILE)
        worker.write_args(args_uri, fn_args.custom_config, list(fn_args.train_files), list(fn_args.eval_files),
                          fn_args.serving_model_dir, fn_args.model_run_dir)
        # One job per Trainer output: a retried step finds (and waits for) the job it created before.
        name = tfjob.job_name(JOB_PREFIX, fn_args.serving_model_dir)
        manifest = tfjob.manifest_for_config(cluster, name, args_uri)
        log.info("training as TFJob %s/%s: %d workers of %s", job.namespace, name, job.workers, cluster.image)
        tfjob.TFJobLauncher().run(manifest, poll_seconds=job.poll_seconds, timeout_seconds=job.timeout_minutes * 60)
        if not fileio.exists(fn_args.serving_model_dir):
            raise AudioClfError(f"TFJob {job.namespace}/{name} succeeded but wrote no model to "
                                f"{fn_args.serving_model_dir}; check that the workers can write there "
                                f"(service account {job.service_account!r}) and read the chief's log.")
        log.info("TFJob %s finished; model in %s", name, fn_args.serving_model_dir)
