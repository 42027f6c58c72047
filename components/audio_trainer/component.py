"""AudioTrainer: TFX's Trainer with the epoch count as a run-time parameter and a choice of launcher.

Usage::

    trainer = AudioTrainer(examples=example_gen.outputs["examples"], schema=curated.outputs["curated_schema"],
                           run_fn="trainer.task.run_fn", custom_config=settings.to_custom_config(),
                           epochs=config.trainer.epochs)            # or a RuntimeParameter on Kubeflow
    # Multi-worker training on Kubernetes instead of in the step's own process:
    AudioTrainer(..., launcher=tfjob_launcher(config.kubeflow, image))

Without a launcher the model is trained in the step's process, exactly as TFX's Trainer does. With the
TFJob launcher the step creates a Kubeflow Training Operator TFJob whose workers run the same image
and `trainer.worker` entry point, waits for it, and publishes the chief's model (see executor.py).
"""
import dataclasses
import json
from typing import Any, Dict, Optional, Union

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.proto import trainer_pb2
from tfx.types import component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from components.audio_trainer import executor
from components.audio_trainer.executor import EPOCHS_KEY, LAUNCHER_KEY
from components.common.run_time_parameters import extend_spec
from components.audio_trainer.config import KubeflowConfig

AudioTrainerSpec = extend_spec(standard_component_specs.TrainerSpec, "AudioTrainerSpec", {
    EPOCHS_KEY: component_spec.ExecutionParameter(type=int),
    LAUNCHER_KEY: component_spec.ExecutionParameter(type=str, optional=True),
})


def tfjob_launcher(kubeflow: KubeflowConfig, image: str) -> str:
    """The launcher setting for multi-worker training as a TFJob: image, workers and their resources."""
    return json.dumps({"kind": "tfjob", "image": image, "tfjob": dataclasses.asdict(kubeflow.tfjob),
                       "resources": dataclasses.asdict(kubeflow.trainer)}, sort_keys=True)


class AudioTrainer(base_component.BaseComponent):
    SPEC_CLASS = AudioTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, schema: types.BaseChannel, run_fn: str,
                 custom_config: Dict[str, Any], epochs: Union[int, data_types.RuntimeParameter],
                 launcher: Optional[str] = None):
        spec = AudioTrainerSpec(
            examples=examples, schema=schema, run_fn=run_fn, custom_config=json_utils.dumps(custom_config),
            # Steps come from the trainer config (custom_config); TFX requires the two protos.
            train_args=trainer_pb2.TrainArgs(), eval_args=trainer_pb2.EvalArgs(),
            epochs=epochs, launcher=launcher,
            model=types.Channel(type=standard_artifacts.Model),
            model_run=types.Channel(type=standard_artifacts.ModelRun))
        super().__init__(spec=spec)
