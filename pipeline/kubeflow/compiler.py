"""Compiles the pipeline for Kubeflow Pipelines (KFP v2) with TFX's KubeflowV2DagRunner.

The same `create_pipeline` as the local run, from the same config. What changes on the cluster:
- the data root, the clip counts, the epochs and the accuracy floor are run-time parameters (their
  defaults are the config's values; `audioclf submit --param epochs=20` changes one run);
- every step runs `kubeflow.image` with the resources of `kubeflow.components` (the Trainer:
  `kubeflow.trainer`, with GPUs and an accelerator node selector when set, and then the image
  `kubeflow.gpu_image`, which has TensorFlow's CUDA libraries);
- with `kubeflow.trainer_launcher: tfjob` the Trainer step creates a multi-worker TFJob instead of
  training in its own pod;
- with `kubeflow.deploy: kserve` a KServeDeployer step after the Pusher serves each pushed model with a
  KServe InferenceService (`kubeflow.kserve`).

Nothing is uploaded at compile time (the Trainer's code is the installed `trainer` package, named by
`run_fn`), so a `gs://` pipeline root compiles offline. The output is written atomically and is the
same for the same inputs: a PipelineSpec YAML document, followed by a Kubernetes platform-spec
document when node selectors are set (the layout the kfp compiler writes and the KFP API accepts).
"""
import dataclasses
import os
from typing import Any, Dict, List, Optional

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration import data_types
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner, pipeline_builder

from components.audio_trainer.component import tfjob_launcher
from components.common import fs
from components.speaker_index import corpus
from pipeline import pipeline as pipeline_def
from pipeline import run_dir
from pipeline.config import PipelineConfig, ResourcesConfig
from components.common.errors import AudioClfError

EXECUTOR_SUFFIX = "_executor"
PARAMETER_TYPES = {str: "STRING", int: "NUMBER_INTEGER", float: "NUMBER_DOUBLE"}
PARAMETER_HELP = {
    pipeline_def.DATA_ROOT: "LibriSpeech-layout folder the pods can read (SPEAKERS.TXT + <subset>/...)",
    pipeline_def.EPOCHS: "most training epochs (early stopping may end sooner)",
    pipeline_def.ACCURACY_FLOOR: "test-clip accuracy a model needs to be blessed and pushed",
    **{name: f"clips synthesized for the {split} split" for split, name in pipeline_def.CLIP_COUNT_PARAMETERS.items()},
}


def runtime_parameters(config: PipelineConfig) -> Dict[str, data_types.RuntimeParameter]:
    """Every `pipeline.default_parameters` name as a KFP run-time parameter with the config's value as default."""
    data_root = corpus.encode_sources(config.corpus.sources) if config.corpus.sources else config.kubeflow.data_root
    defaults = pipeline_def.default_parameters(config, data_root)
    return {name: data_types.RuntimeParameter(name=name, ptype=type(value), default=value)
            for name, value in defaults.items()}


def resource_spec(resources: ResourcesConfig):
    """KFP's container resources: requests and limits of CPU and memory, and the GPU count."""
    spec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec(
        resource_cpu_request=resources.cpu, resource_cpu_limit=resources.cpu,
        resource_memory_request=resources.memory, resource_memory_limit=resources.memory)
    if resources.gpus:
        spec.accelerator.resource_type = resources.gpu_resource
        spec.accelerator.resource_count = str(resources.gpus)
    return spec


def _step_resources(config: PipelineConfig) -> Dict[str, ResourcesConfig]:
    """Component id -> resources. With the TFJob launcher the Trainer step only waits for the job (the
    workers get `kubeflow.trainer`), so it gets the components' resources."""
    trainer = config.kubeflow.trainer if config.kubeflow.trainer_launcher == "pod" else config.kubeflow.components
    steps = {cid: (trainer if cid == pipeline_def.TRAINER else config.kubeflow.components)
             for cid in pipeline_def.COMPONENT_ORDER if cid != pipeline_def.BASELINE_RESOLVER}
    if config.kubeflow.deploy == "kserve":
        steps[pipeline_def.KSERVE_DEPLOYER] = config.kubeflow.components
    return steps


def _platform_spec(steps: Dict[str, ResourcesConfig]) -> Optional[Dict[str, Any]]:
    """The Kubernetes platform spec (node selectors per executor), or None when no step needs one."""
    executors = {f"{cid}{EXECUTOR_SUFFIX}": {"nodeSelector": {"labels": res.node_labels()}}
                 for cid, res in sorted(steps.items()) if res.node_labels()}
    if not executors:
        return None
    return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}}


def build_spec(config: PipelineConfig) -> List[Dict[str, Any]]:
    """The YAML documents for `config.kubeflow`'s image and pipeline root: the PipelineSpec, then the
    platform spec if any."""
    kf = config.kubeflow
    image, pipeline_root = kf.image, kf.pipeline_root
    serving_dir = config.pusher.serving_dir or run_dir.path(pipeline_root, run_dir.SERVING)
    parameters = runtime_parameters(config)
    # GPUs for training: the Trainer pod (or the TFJob workers) runs the GPU variant of the image.
    training_image = kf.training_image()
    launcher = tfjob_launcher(kf, training_image) if kf.trainer_launcher == "tfjob" else None
    images: Any = image
    if launcher is None and training_image != image:
        images = {pipeline_builder.DEFAULT_IMAGE_PATH_KEY: image, pipeline_def.TRAINER: training_image}
    pipeline = pipeline_def.create_pipeline(config, parameters, pipeline_root=pipeline_root, serving_dir=serving_dir,
                                            trainer_launcher=launcher, deploy_kserve=kf.deploy == "kserve")
    steps = _step_resources(config)
    for component in pipeline.components:
        if component.id in steps:
            component.with_platform_config(resource_spec(steps[component.id]))
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
        display_name=config.name, default_image=images, use_pipeline_spec_2_1=True))
    spec = runner.run(pipeline, write_out=False)["pipelineSpec"]
    # KFP takes the root and parameter defaults from the PipelineSpec itself; TFX keeps them in the job's
    # runtime config, which a bare spec does not carry.
    spec["defaultPipelineRoot"] = pipeline_root
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    for name, param in parameters.items():
        inputs[name].update(defaultValue=param.default, isOptional=True, description=PARAMETER_HELP[name])
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())  # strict: unknown fields raise
    platform = _platform_spec(steps)
    if platform:
        json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
    return [spec] + ([platform] if platform else [])


def compile_pipeline(config: PipelineConfig, output_path: str, image: Optional[str] = None,
                     pipeline_root: Optional[str] = None) -> Dict[str, Any]:
    """Writes the compiled pipeline to `output_path` (.yaml) and returns the PipelineSpec as a dict."""
    if not output_path.endswith((".yaml", ".yml")):
        raise AudioClfError(f"--output {output_path}: the compiled pipeline is a YAML file; name it *.yaml.")
    image = image or config.kubeflow.image
    pipeline_root = pipeline_root or config.kubeflow.pipeline_root
    if "://" not in pipeline_root:
        raise AudioClfError(f"pipeline root {pipeline_root!r} is a local path; cluster pods need shared storage "
                            f"such as gs://bucket/root or s3://bucket/root (--pipeline-root or kubeflow.pipeline_root).")
    config = dataclasses.replace(config, kubeflow=dataclasses.replace(config.kubeflow, image=image,
                                                                       pipeline_root=pipeline_root))
    documents = build_spec(config)
    header = f"# audioclf pipeline {config.name}: compiled by `audioclf compile` for Kubeflow Pipelines v2.\n"
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    fs.write_text(output_path, header + yaml.safe_dump_all(documents, sort_keys=True))   # atomic
    return documents[0]
