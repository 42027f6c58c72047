"""AudioTrainer: the standard Trainer's spec plus `epochs` (a run-time parameter on Kubeflow) and the
optional launcher; the executor puts the run's epochs into the trainer settings."""
import json

import pytest
from tfx import types
from tfx.orchestration import data_types
from tfx.types import standard_artifacts, standard_component_specs

from components.audio_trainer import executor
from components.audio_trainer.component import AudioTrainer, tfjob_launcher
from components.audio_trainer.config import KubeflowConfig
from trainer.config import TrainerConfig
from trainer.task import TrainingSettings


def _trainer(epochs, launcher=None):
    settings = TrainingSettings(trainer=TrainerConfig(), sample_rate=16000, clip_samples=160000,
                                label_names=["male", "female"], audio_encoding="pcm16")
    return AudioTrainer(examples=types.Channel(type=standard_artifacts.Examples),
                        schema=types.Channel(type=standard_artifacts.Schema), run_fn="trainer.task.run_fn",
                        custom_config=settings.to_custom_config(), epochs=epochs, launcher=launcher)


def test_spec_is_the_trainers_plus_epochs_and_launcher():
    trainer = _trainer(data_types.RuntimeParameter(name="epochs", ptype=int, default=10))
    assert set(standard_component_specs.TrainerSpec.PARAMETERS) < set(AudioTrainer.SPEC_CLASS.PARAMETERS)
    assert trainer.outputs["model"].type is standard_artifacts.Model
    assert trainer.outputs["model_run"].type is standard_artifacts.ModelRun
    assert isinstance(trainer.exec_properties["epochs"], data_types.RuntimeParameter)
    assert trainer.exec_properties.get("launcher") is None
    launcher = json.loads(_trainer(3, tfjob_launcher(KubeflowConfig(), "img:1")).exec_properties["launcher"])
    assert launcher["kind"] == "tfjob" and launcher["image"] == "img:1" and launcher["tfjob"]["workers"] == 2


def test_run_epochs_replace_the_configured_ones():
    props = executor.with_epochs(dict(_trainer(10).exec_properties, epochs=4))
    custom = json.loads(props["custom_config"])
    assert TrainingSettings.from_custom_config(custom).trainer.epochs == 4
    assert "epochs" not in props and "launcher" not in props  # TFX's executor gets only its own properties
    with pytest.raises(Exception, match="epochs=0"):
        executor.with_epochs(dict(_trainer(10).exec_properties, epochs=0))
