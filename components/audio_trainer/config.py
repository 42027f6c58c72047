"""The `kubeflow` settings section and its sub-sections: the cluster the pipeline is compiled for, the
resources of its containers and the TFJob the AudioTrainer can launch (its lowest user, so it lives here)."""
from dataclasses import dataclass, field
from typing import Dict

from components.common.errors import AudioClfError


@dataclass
class ResourcesConfig:
    """Kubernetes requests/limits of one container (quantities as Kubernetes writes them)."""
    cpu: str = "2"
    memory: str = "8Gi"
    gpus: int = 0
    gpu_resource: str = "nvidia.com/gpu"   # the extended resource a GPU is requested as
    # Node label value that picks the accelerator (GKE: cloud.google.com/gke-accelerator=nvidia-tesla-t4);
    # empty: no accelerator selector.
    accelerator_type: str = ""
    accelerator_label: str = "cloud.google.com/gke-accelerator"
    node_selector: Dict[str, str] = field(default_factory=dict)   # further node labels

    def node_labels(self) -> Dict[str, str]:
        labels = dict(self.node_selector)
        if self.accelerator_type:
            labels[self.accelerator_label] = self.accelerator_type
        return labels


@dataclass
class TFJobConfig:
    """Multi-worker training as a Kubeflow Training Operator TFJob (kubeflow.trainer_launcher: tfjob)."""
    workers: int = 2
    namespace: str = "kubeflow"
    # The workers' service account: read access to the pipeline root, write access to the model folder
    # (e.g. Workload Identity). Standalone KFP runs its steps as pipeline-runner in `kubeflow`; on
    # multi-user Kubeflow use the profile namespace and its default-editor.
    service_account: str = "pipeline-runner"
    poll_seconds: float = 15.0
    timeout_minutes: float = 720.0
    # Seconds a finished TFJob (and its pods' logs) stays before the operator deletes it.
    ttl_seconds_after_finished: int = 86400


@dataclass
class KubeflowConfig:
    """How `audioclf compile/submit/schedule` build the pipeline for Kubeflow Pipelines (KFP v2)."""
    # The image every step runs (docker/Dockerfile, tagged by docker/build.sh from the project version).
    image: str = "ghcr.io/audioclf/audioclf:0.1.0"
    # The image of the training pods (the Trainer step, or the TFJob workers) when `trainer.gpus` > 0: the
    # GPU variant (docker/build.sh --variant gpu: the same code plus TensorFlow's CUDA/cuDNN wheels).
    gpu_image: str = "ghcr.io/audioclf/audioclf:0.1.0-gpu"
    # Where artifacts go; blessed models go to <pipeline_root>/serving unless pusher.serving_dir is set.
    pipeline_root: str = "gs://audioclf-pipelines/root"
    # Default of the `data_root` run-time parameter: a corpus root the pods can read, several separated
    # by commas, or a JSON list of {root, format, name} (corpus.sources, when set, is used instead).
    data_root: str = "gs://audioclf-pipelines/data/LibriSpeech"
    components: ResourcesConfig = field(default_factory=ResourcesConfig)   # every step but the Trainer
    trainer: ResourcesConfig = field(default_factory=lambda: ResourcesConfig(cpu="4", memory="16Gi"))
    # "pod": TFX's Trainer trains in its own pod (one worker; GPUs there are used by a mirrored strategy);
    # "tfjob": the Trainer step creates a TFJob with tfjob.workers workers (trainer resources each) and waits.
    trainer_launcher: str = "pod"
    tfjob: TFJobConfig = field(default_factory=TFJobConfig)
    experiment: str = "audioclf"

    def training_image(self) -> str:
        """The image that trains: the GPU variant when the training pods ask for GPUs."""
        return self.gpu_image if self.trainer.gpus > 0 else self.image

    def validate(self) -> None:
        """Refuses settings that cannot work, naming the setting and what to change."""
        if self.trainer_launcher not in ("pod", "tfjob"):
            raise AudioClfError(f"config: kubeflow.trainer_launcher={self.trainer_launcher!r}; use 'pod' or 'tfjob'.")
        if self.tfjob.workers < 1:
            raise AudioClfError("config: kubeflow.tfjob.workers must be >= 1.")
        for name in ("components", "trainer"):
            res = getattr(self, name)
            if res.gpus < 0:
                raise AudioClfError(f"config: kubeflow.{name}.gpus must be >= 0.")
            # Quantities are strings in Kubernetes; YAML reads `cpu: 2` as a number.
            res.cpu, res.memory = str(res.cpu), str(res.memory)
