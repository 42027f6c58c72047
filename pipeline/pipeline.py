"""`create_pipeline`: wires the components from one config, and nothing else.

Runners (pipeline/local_runner.py, and the Kubeflow compile) build the metadata/runner settings and
call this, so a local run and a cluster run are the same pipeline.
"""
import dataclasses
import json
from typing import Any, Dict, List, Optional, Union

from tfx import v1 as tfx
from tfx.orchestration import data_types

from components.anomaly_gate.component import AnomalyGate
from components.audio_evaluator.component import AudioEvaluator
from components.audio_example_gen.component import AudioExampleGen
from components.audio_synthesis.component import AudioSynthesis
from components.audio_trainer.component import AudioTrainer
from components.kserve_deployer.component import KServeDeployer
from components.schema_curation.component import SchemaCurator
from components.speaker_index.component import SpeakerIndexGen
from components.audio_evaluator import tfma_config as evaluation
from pipeline.config import SPLITS, PipelineConfig, clip_samples, label_names, num_classes
from serving.config import KSERVE_MODEL_DIR
from trainer.task import TrainingSettings

# Component ids (pipeline/run_dir.py: they name the pipeline_root folders too), re-exported for the runners.
from pipeline.run_dir import (ANOMALY_GATE, AUDIO_SYNTHESIS, BASELINE_RESOLVER, COMPONENT_ORDER,  # noqa: E402,F401
                              EVALUATOR, EXAMPLE_GEN, EXAMPLE_VALIDATOR, KSERVE_DEPLOYER, PUSHER, SCHEMA_CURATOR,
                              SCHEMA_GEN, SPEAKER_INDEX, STATISTICS_GEN, TRAINER)
RUN_FN = "trainer.task.run_fn"  # the installed package's module: no module file to upload or copy

Param = Union[str, int, float, data_types.RuntimeParameter]

# What a Kubeflow run may change without recompiling (run-time parameters); a local run gives them
# their config values.
DATA_ROOT = "data_root"
CLIP_COUNT_PARAMETERS = {split: f"{split}_clips" for split in SPLITS}
EPOCHS = "epochs"
ACCURACY_FLOOR = "accuracy_floor"


def default_parameters(config: PipelineConfig, data_root: str) -> Dict[str, Any]:
    """The run-time parameters' values for this config: name -> value."""
    values: Dict[str, Any] = {DATA_ROOT: data_root}
    values.update({name: config.synthesis.clips[split] for split, name in CLIP_COUNT_PARAMETERS.items()})
    values[EPOCHS] = config.trainer.epochs
    values[ACCURACY_FLOOR] = float(config.evaluator.accuracy_floor)
    return values


def create_components(config: PipelineConfig, parameters: Dict[str, Param], serving_dir: str,
                      trainer_launcher: Optional[str] = None, deploy_kserve: bool = False) -> List:
    """The components in run order. `parameters` holds every name of `default_parameters`, as values or
    as Kubeflow run-time parameters; blessed models are pushed to `serving_dir/<version>`.
    `trainer_launcher` (components/audio_trainer) trains elsewhere than in the Trainer step's process;
    `deploy_kserve` (a compiled Kubeflow pipeline only) adds a KServeDeployer after the Pusher."""
    missing = sorted(set(default_parameters(config, "")) - set(parameters))
    if missing:
        raise ValueError(f"create_components: parameters lack {', '.join(missing)}")
    index = SpeakerIndexGen(data_root=parameters[DATA_ROOT], corpus_config=config.section_json("corpus"))
    clips = AudioSynthesis(speaker_index=index.outputs["speaker_index"],
                           synthesis_config=config.section_json("synthesis"),
                           skip_corrupt=config.corpus.skip_corrupt,
                           **{name: parameters[name] for name in CLIP_COUNT_PARAMETERS.values()})
    example_gen = AudioExampleGen(clips=clips.outputs["clips"], examples_config=config.section_json("examples"))
    statistics = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"], infer_feature_shape=True)
    curated = SchemaCurator(schema=schema.outputs["schema"], synthesis_config=config.section_json("synthesis"))
    validator = tfx.components.ExampleValidator(statistics=statistics.outputs["statistics"],
                                                schema=curated.outputs["curated_schema"])
    gate = AnomalyGate(anomalies=validator.outputs["anomalies"])
    settings = TrainingSettings(trainer=config.trainer, sample_rate=config.synthesis.sample_rate,
                                clip_samples=clip_samples(config.synthesis), label_names=label_names(config),
                                audio_encoding=config.examples.audio_encoding)
    trainer = AudioTrainer(examples=example_gen.outputs["examples"], schema=curated.outputs["curated_schema"],
                           run_fn=RUN_FN, custom_config=settings.to_custom_config(), epochs=parameters[EPOCHS],
                           launcher=trainer_launcher).with_id(TRAINER)
    trainer.add_upstream_node(gate)
    baseline = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing)).with_id(BASELINE_RESOLVER)
    evaluator = AudioEvaluator(examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
                               baseline_model=baseline.outputs["model"],
                               eval_config=evaluation.eval_config(config.evaluator, num_classes(config)),
                               example_splits=[evaluation.EVAL_SPLIT],
                               accuracy_floor=parameters[ACCURACY_FLOOR], speaker_index=index.outputs["speaker_index"],
                               evaluator_config=config.section_json("evaluator"),
                               pitch_workers=config.beam.direct_num_workers).with_id(EVALUATOR)
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_dir)))
    components = [index, clips, example_gen, statistics, schema, curated, validator, gate, trainer, baseline, evaluator,
                  pusher]
    if deploy_kserve:
        components.append(KServeDeployer(
            pushed_model=pusher.outputs["pushed_model"],
            kserve_config=json.dumps(dataclasses.asdict(config.kubeflow.kserve), sort_keys=True),
            server_command=config.serving.server_command(KSERVE_MODEL_DIR), http_port=config.serving.http_port,
            model_name=config.serving.model_name).with_id(KSERVE_DEPLOYER))
    return components


def create_pipeline(config: PipelineConfig, parameters: Dict[str, Param], pipeline_root: str, serving_dir: str,
                    metadata_connection_config=None, enable_cache: bool = True,
                    trainer_launcher: Optional[str] = None, deploy_kserve: bool = False) -> tfx.dsl.Pipeline:
    return tfx.dsl.Pipeline(
        pipeline_name=config.name,
        pipeline_root=pipeline_root,
        components=create_components(config, parameters, serving_dir, trainer_launcher, deploy_kserve),
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=config.beam_pipeline_args(),
    )
