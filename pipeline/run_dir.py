"""The run folder: what `audioclf run --output DIR` writes there, one name each. The local runner, the
summary, the report, the CLI and bench all find a run's files through these names."""
from components.common import fs

CONFIG = "config.json"          # the run's whole PipelineConfig
SUMMARY = "summary.json"        # pipeline/summary.py: status, steps, numbers
REPORT = "report.html"          # pipeline/report/, rebuilt by `audioclf report DIR`
METADATA = "metadata.sqlite"    # ML Metadata of the LocalDagRunner
LOG = "run.log"                 # every log line of the last run (tracebacks too), pipeline/logs.py
LOCK = "run.lock"               # held while a command works in the folder: pipeline/run_lock.py
PIPELINE_ROOT = "pipeline_root"  # the artifacts of every component
# Where the Pusher puts blessed models (unless pusher.serving_dir is set); a Kubeflow run uses the same
# name under its pipeline root.
SERVING = "serving"


def path(output_dir: str, name: str) -> str:
    """`output_dir/name` for local folders and gs:// alike."""
    return fs.join(output_dir, name)


# Component ids, as they appear in metadata, summary.json and the pipeline_root folders.
SPEAKER_INDEX = "SpeakerIndexGen"
AUDIO_SYNTHESIS = "AudioSynthesis"
EXAMPLE_GEN = "AudioExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "SchemaGen"
SCHEMA_CURATOR = "SchemaCurator"
EXAMPLE_VALIDATOR = "ExampleValidator"
ANOMALY_GATE = "AnomalyGate"
TRAINER = "Trainer"
BASELINE_RESOLVER = "LatestBlessedModelResolver"
EVALUATOR = "Evaluator"
PUSHER = "Pusher"
COMPONENT_ORDER = [SPEAKER_INDEX, AUDIO_SYNTHESIS, EXAMPLE_GEN, STATISTICS_GEN, SCHEMA_GEN, SCHEMA_CURATOR,
                   EXAMPLE_VALIDATOR, ANOMALY_GATE, TRAINER, BASELINE_RESOLVER, EVALUATOR, PUSHER]
# After the Pusher in a compiled Kubeflow pipeline with kubeflow.deploy: kserve; never in a local run.
KSERVE_DEPLOYER = "KServeDeployer"
