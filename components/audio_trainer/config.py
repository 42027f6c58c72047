"""The `kubeflow` settings section and its sub-sections: the cluster the pipeline is compiled for, the
resources of its containers, the TFJob the AudioTrainer can launch (its lowest user, so it lives here)
and the KServe InferenceService the KServeDeployer creates (a sub-section of the same section: the
layers let the deployer read this module, not this module the deployer)."""
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict

from components.common.errors import AudioClfError
from components.common.settings import setting

# The serving image's tag follows the project version, as kubeflow.image does (setup.py VERSION).
SERVING_IMAGE = "ghcr.io/audioclf/audioclf-serving:0.1.0"
# InferenceService names: KServe's webhook wants a DNS-1035 label; Knative names the predictor's service
# <name>-predictor and its revisions <name>-predictor-00001, which must stay within 63 characters.
MAX_SERVICE_NAME = 45
MAX_TIMEOUT_MINUTES = 7 * 24 * 60.0   # a week
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass
class ResourcesConfig:
    """Kubernetes requests/limits of one container (quantities as Kubernetes writes them)."""
    cpu: str = "2"
    memory: str = "8Gi"
    gpus: int = setting(0, low=0, high=64)
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

    def container_resources(self) -> Dict[str, Any]:
        """A container's `resources`: CPU and memory requested, memory (and GPUs) limited. No CPU limit: a
        limit throttles a training input pipeline or a model server's bursts; the request reserves the CPU."""
        limits: Dict[str, Any] = {"memory": self.memory}
        if self.gpus > 0:
            limits[self.gpu_resource] = int(self.gpus)   # extended resources: request = limit
        return {"requests": {"cpu": self.cpu, "memory": self.memory}, "limits": limits}

    def check(self) -> None:
        """Quantities become strings, as Kubernetes writes them (YAML reads `cpu: 2` as a number; the
        GPU count was checked when the section was built)."""
        self.cpu, self.memory = str(self.cpu), str(self.memory)


@dataclass
class TFJobConfig:
    """Multi-worker training as a Kubeflow Training Operator TFJob (kubeflow.trainer_launcher: tfjob)."""
    SECTION: ClassVar[str] = "kubeflow.tfjob"   # its name in the config, in messages
    workers: int = setting(2, low=1, high=1024)
    namespace: str = "kubeflow"
    # The workers' service account: read access to the pipeline root, write access to the model folder
    # (e.g. Workload Identity). Standalone KFP runs its steps as pipeline-runner in `kubeflow`; on
    # multi-user Kubeflow use the profile namespace and its default-editor.
    service_account: str = "pipeline-runner"
    poll_seconds: float = setting(15.0, above=0.0, high=3600.0)
    timeout_minutes: float = setting(720.0, above=0.0, high=MAX_TIMEOUT_MINUTES)
    # Seconds a finished TFJob (and its pods' logs) stays before the operator deletes it.
    ttl_seconds_after_finished: int = setting(86400, low=0, high=10 ** 8)


@dataclass
class KServeConfig:
    """The KServe InferenceService (serving.kserve.io/v1beta1) the KServeDeployer step creates or updates
    after the Pusher (kubeflow.deploy: kserve): the serving image runs `serving.server` on the pushed
    version, which KServe's storage initializer downloads from the pipeline's storage."""
    SECTION: ClassVar[str] = "kubeflow.kserve"   # its name in the config, in messages
    name: str = "audioclf"              # the InferenceService
    namespace: str = "kubeflow"
    image: str = SERVING_IMAGE          # the model server's image (`python -m serving.server`)
    # The predictor pods' service account: it needs read access to the serving folder (gs://: e.g. Workload
    # Identity) and no Kubernetes API access. Empty: the namespace's `default`.
    service_account: str = ""
    # 0: every update sends all traffic to the new model once it is ready. 1-99: an update sends this share
    # of traffic to the new model and the rest to the last fully rolled-out one (Serverless mode only);
    # promote it by hand (kubeflow/README.md). The first deployment always gets all the traffic.
    canary_traffic_percent: int = setting(0, low=0, high=99, note="0: no canary, the new model gets all traffic")
    # "" (the cluster's default), "Serverless" (Knative) or "RawDeployment" (a Deployment; no canary).
    deployment_mode: str = ""
    min_replicas: int = setting(1, low=0, high=1000)   # 0: scale to zero when idle (Serverless only)
    max_replicas: int = setting(0, low=0, high=1000)   # 0: KServe's default
    resources: ResourcesConfig = field(default_factory=lambda: ResourcesConfig(cpu="1", memory="2Gi"))
    poll_seconds: float = setting(10.0, above=0.0, high=3600.0)
    # How long the step waits for the service to become Ready with the new model before it fails.
    timeout_minutes: float = setting(15.0, above=0.0, high=MAX_TIMEOUT_MINUTES)

    def validate(self) -> None:
        where = "kubeflow.kserve"
        if not DNS_1035.match(self.name or "") or len(self.name) > MAX_SERVICE_NAME:
            raise AudioClfError(f"config: {where}.name={self.name!r} must be lower-case letters, digits and '-', start "
                                f"with a letter and be at most {MAX_SERVICE_NAME} characters (KServe and Knative "
                                f"names are DNS labels).")
        if not DNS_1123_LABEL.match(self.namespace or "") or len(self.namespace) > 63:
            raise AudioClfError(f"config: {where}.namespace={self.namespace!r} is not a Kubernetes namespace name.")
        if not self.image:
            raise AudioClfError(f"config: {where}.image is empty; name the serving image (e.g. {SERVING_IMAGE}).")
        if self.deployment_mode not in ("", "Serverless", "RawDeployment"):
            raise AudioClfError(f"config: {where}.deployment_mode={self.deployment_mode!r}; use '' (the cluster's "
                                f"default), 'Serverless' or 'RawDeployment'.")
        if self.deployment_mode == "RawDeployment" and self.canary_traffic_percent:
            raise AudioClfError(f"config: {where}.canary_traffic_percent needs Serverless mode (Knative splits the "
                                f"traffic); with deployment_mode RawDeployment set it to 0.")
        if self.deployment_mode == "RawDeployment" and self.min_replicas == 0:
            raise AudioClfError(f"config: {where}.min_replicas=0 (scale to zero) needs Serverless mode.")
        if self.max_replicas and self.max_replicas < max(self.min_replicas, 1):
            raise AudioClfError(f"config: {where}.max_replicas={self.max_replicas} is below min_replicas="
                                f"{self.min_replicas}; raise it, or 0 for KServe's default.")
        self.resources.check()


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
    # "": the pipeline ends with the Pusher. "kserve": a KServeDeployer step after it creates or updates the
    # InferenceService `kserve` with each pushed (blessed) model. Compiled pipelines only, never `audioclf run`.
    deploy: str = ""
    kserve: KServeConfig = field(default_factory=KServeConfig)

    def training_image(self) -> str:
        """The image that trains: the GPU variant when the training pods ask for GPUs."""
        return self.gpu_image if self.trainer.gpus > 0 else self.image

    def validate(self) -> None:
        """Refuses settings that cannot work, naming the setting and what to change."""
        if self.trainer_launcher not in ("pod", "tfjob"):
            raise AudioClfError(f"config: kubeflow.trainer_launcher={self.trainer_launcher!r}; use 'pod' or 'tfjob'.")
        if self.deploy not in ("", "kserve"):
            raise AudioClfError(f"config: kubeflow.deploy={self.deploy!r}; use '' (no deployment) or 'kserve'.")
        for name in ("components", "trainer"):
            getattr(self, name).check()
        self.kserve.validate()
