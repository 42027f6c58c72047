"""The facts report.html shows, read once from a run folder: its summary.json and config.json, ML
Metadata, and the artifacts they name (clip manifest and clips, anomalies, training history, TFMA
evaluation, the pushed model's signatures). Nothing here knows about HTML.

Every part is read on its own: an artifact that is missing (the run stopped before it) is None, and one
that could not be read leaves a note for its section in `Facts.problems` instead of a missing page.
"""
import collections
import dataclasses
import datetime
import io
import json
import logging
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from components.common import fs
from components.common.errors import AudioClfError
from pipeline import pipeline as pipeline_def
from pipeline import run_dir
from pipeline import summary as run_summary
from pipeline import summary_schema
from pipeline.summary_schema import ModelPart, RunSummary
from trainer.config import ACCURACY_METRIC

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Evaluation:
    """What the Evaluator's own output adds to summary.json: the thresholds it applied (its
    eval_config.json) and the baseline's test accuracy; None when not recorded."""
    floor: Optional[float] = None
    change: Optional[float] = None
    baseline_accuracy: Optional[float] = None
    difference: Optional[float] = None


@dataclasses.dataclass
class Tensor:
    name: str
    dtype: str
    shape: Optional[List[Optional[int]]]  # None: unknown rank; a None size: any size


@dataclasses.dataclass
class Signature:
    name: str
    inputs: List[Tensor]
    outputs: List[Tensor]


class Clip(NamedTuple):
    """A clip to draw, in the (title, samples, sample rate) form figures.mel_spectrograms takes."""
    title: str
    samples: np.ndarray
    rate: int


@dataclasses.dataclass
class Facts:
    """What the report shows, read from the run's files. summary is typed (pipeline/summary_schema.py);
    config, manifest and history keep the JSON shapes their writers define; a part that is missing is None
    (an empty list for clips). When a part could not be read, the reason is in `problems` (section id -> notes)."""
    output_dir: str
    summary: RunSummary
    config: Optional[dict] = None
    started: Optional[str] = None
    durations: Dict[str, float] = dataclasses.field(default_factory=dict)
    manifest: Optional[List[dict]] = None
    clips: List[Clip] = dataclasses.field(default_factory=list)
    anomalies: Optional[Dict[str, List[str]]] = None
    history: Optional[dict] = None
    model_settings: Optional[dict] = None
    evaluation: Optional[Evaluation] = None
    signatures: Optional[List[Signature]] = None
    problems: Dict[str, List[str]] = dataclasses.field(default_factory=lambda: collections.defaultdict(list))

    def uri(self, component: str, key: str) -> Optional[str]:
        return self.summary.output_uri(component, key)

    def status(self, component: str) -> str:
        return self.summary.status_of(component)

    @property
    def model(self) -> ModelPart:
        return self.summary.model


def attempt(facts: Facts, section: str, what: str, work, *args):
    """Runs one reader or drawing; a failure becomes a note in its section, and the page is still written
    (a report that stops at the first unreadable artifact would hide everything else)."""
    try:
        return work(*args)
    except Exception as err:  # pylint: disable=broad-except
        log.warning("report: could not %s: %s", what, err)
        facts.problems[section].append(f"Could not {what}: {type(err).__name__}: {err}")
        return None


def _read_json(path: str) -> Optional[Any]:
    return json.loads(fs.read_text(path)) if fs.exists(path) else None


def _run_times(metadata_path: str, summary: RunSummary) -> Tuple[Optional[str], Dict[str, float]]:
    """When the run started (UTC) and seconds per component execution, from ML Metadata."""
    store = run_summary.open_store(metadata_path)
    started = None
    for context in store.get_contexts_by_type("pipeline_run"):
        if context.name == summary.run_id:
            started = datetime.datetime.fromtimestamp(context.create_time_since_epoch / 1000, datetime.timezone.utc)
    ids = {entry.execution_id: name for name, entry in summary.components.items() if entry.execution_id is not None}
    durations = {ids[e.id]: (e.last_update_time_since_epoch - e.create_time_since_epoch) / 1000.0
                 for e in (store.get_executions_by_id(list(ids)) if ids else [])}
    return (started.strftime("%Y-%m-%d %H:%M:%S UTC") if started else None), durations


def _load_clip(clips_uri: str, row: dict) -> Clip:
    import soundfile  # pylint: disable=import-outside-toplevel

    samples, rate = soundfile.read(io.BytesIO(fs.read_bytes(fs.join(clips_uri, row["path"]))), dtype="float32")
    title = (f"{row['label_name']}: {row['clip_id']}, {row['mode']}, {row['num_speakers']} speaker"
             f"{'s' if row['num_speakers'] > 1 else ''} ({', '.join(row['speakers'])})")
    return Clip(title, samples if samples.ndim == 1 else samples.mean(axis=1), rate)


def _example_clips(facts: Facts, clips_uri: str) -> List[Clip]:
    """The first female and the first male clip, of the test split when there is one: those are the clips
    the model is judged on."""
    chosen = []
    for label in ("female", "male"):
        candidates = sorted((r for r in facts.manifest or [] if r["label_name"] == label),
                            key=lambda r: (r["split"] != "test", r["split"], r["index"]))
        if candidates:
            chosen.append(candidates[0])
    clips = [attempt(facts, "data", f"read clip {row['path']}", _load_clip, clips_uri, row) for row in chosen]
    return [clip for clip in clips if clip]


def _anomalies(anomalies_uri: str) -> Dict[str, List[str]]:
    from tfx.types import artifact_utils, standard_artifacts  # pylint: disable=import-outside-toplevel

    from components.anomaly_gate.executor import read_anomalies  # pylint: disable=import-outside-toplevel

    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = anomalies_uri
    # The split names are the artifact's folders (Split-<name>), so no MLMD lookup is needed.
    artifact.split_names = artifact_utils.encode_split_names(
        [name[len("Split-"):] for name in fs.listdir(anomalies_uri) if name.startswith("Split-")])
    return read_anomalies(artifact)


def _evaluation(evaluation_uri: str) -> Evaluation:
    from pipeline import model_report  # pylint: disable=import-outside-toplevel

    config = json.loads(fs.read_text(fs.join(evaluation_uri, "eval_config.json")))["evalConfig"]
    threshold: Dict[str, Any] = {}
    for spec in config.get("metricsSpecs", []):
        for metric in spec.get("metrics", []):
            if metric.get("className") == "SparseCategoricalAccuracy":
                for per_slice in metric.get("perSliceThresholds", []):
                    threshold = per_slice.get("threshold", {})
    baseline = diff = None
    for record in model_report.load_metrics(evaluation_uri):
        if record.slice_key.single_slice_keys:
            continue
        for entry in record.metric_keys_and_values:
            if entry.key.name != ACCURACY_METRIC or not entry.value.HasField("double_value"):
                continue
            if entry.key.is_diff:
                diff = entry.value.double_value.value
            elif entry.key.model_name == "baseline":
                baseline = entry.value.double_value.value
    return Evaluation(floor=threshold.get("valueThreshold", {}).get("lowerBound"),
                      change=threshold.get("changeThreshold", {}).get("absolute"), baseline_accuracy=baseline,
                      difference=diff)


def _signatures(model_dir: str) -> List[Signature]:
    """Signature defs read from saved_model.pb (the proto only: nothing is loaded or traced)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=import-outside-toplevel

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString(fs.read_bytes(fs.join(model_dir, "saved_model.pb")))

    def tensors(infos) -> List[Tensor]:
        return [Tensor(name, tf.dtypes.as_dtype(info.dtype).name,
                       None if info.tensor_shape.unknown_rank else
                       [None if d.size < 0 else d.size for d in info.tensor_shape.dim])  # -1: any size
                for name, info in sorted(infos.items())]

    return [Signature(name, tensors(sig.inputs), tensors(sig.outputs))
            for graph in saved.meta_graphs for name, sig in sorted(graph.signature_def.items())
            if not name.startswith("__")]


def _model_settings(model_uri: str) -> dict:
    """The trained model's assets.extra/audioclf.json (it holds the trainer config it was trained with)."""
    from tfx.utils import path_utils  # pylint: disable=import-outside-toplevel

    from trainer import export  # pylint: disable=import-outside-toplevel

    return export.read_metadata(path_utils.serving_model_path(model_uri))


def _history(model_run_uri: str) -> Optional[dict]:
    from trainer import task  # pylint: disable=import-outside-toplevel

    return task.read_history(model_run_uri)


def _read_summary(output_dir: str) -> RunSummary:
    path = fs.join(output_dir, run_dir.SUMMARY)
    if not fs.isdir(output_dir):
        raise AudioClfError(f"{output_dir} does not exist; pass the --output folder of an `audioclf run`.")
    if not fs.exists(path) and fs.exists(fs.join(output_dir, run_dir.CONFIG)):
        # A run removes the previous summary when it starts and writes its own when it ends.
        raise AudioClfError(f"the last run into {output_dir} did not finish ({run_dir.SUMMARY} is missing: it was "
                            f"killed, or it is still running); see {fs.join(output_dir, run_dir.LOG)}, and run "
                            f"`audioclf run --output {output_dir}` again.")
    if not fs.exists(path):
        raise AudioClfError(f"{output_dir} holds no run to report on ({run_dir.SUMMARY} is missing); pass "
                            f"the --output folder of an `audioclf run`, or run `audioclf run --output {output_dir}`.")
    return summary_schema.load(path)


def gather(output_dir: str) -> Facts:
    """Reads everything the page shows; only a folder without a readable summary.json is an error."""
    from components.audio_synthesis.executor import read_manifest  # pylint: disable=import-outside-toplevel

    facts = Facts(output_dir, _read_summary(output_dir))
    facts.config = attempt(facts, "training", f"read {run_dir.CONFIG}", _read_json, fs.join(output_dir, run_dir.CONFIG))
    metadata = fs.join(output_dir, run_dir.METADATA)
    if fs.exists(metadata):
        facts.started, facts.durations = (attempt(facts, "pipeline", "read ML Metadata", _run_times, metadata,
                                                  facts.summary) or (None, {}))
    clips_uri = facts.uri(pipeline_def.AUDIO_SYNTHESIS, "clips")
    if clips_uri:
        facts.manifest = attempt(facts, "data", "read the clip manifest", read_manifest, clips_uri)
        if facts.manifest:
            facts.clips = _example_clips(facts, clips_uri)
    anomalies_uri = facts.uri(pipeline_def.EXAMPLE_VALIDATOR, "anomalies")
    if anomalies_uri:
        facts.anomalies = attempt(facts, "data", "read ExampleValidator's anomalies", _anomalies, anomalies_uri)
    run_uri = facts.uri(pipeline_def.TRAINER, "model_run")
    if run_uri:
        facts.history = attempt(facts, "training", "read training.json", _history, run_uri)
    model_uri = facts.uri(pipeline_def.TRAINER, "model")
    if model_uri and not facts.config:
        facts.model_settings = attempt(facts, "training", "read the model's settings", _model_settings, model_uri)
    evaluation_uri = facts.model.test.evaluation if facts.model.test else None
    if evaluation_uri:
        facts.evaluation = attempt(facts, "evaluation", "read the TFMA evaluation", _evaluation, evaluation_uri)
    if facts.model.pushed_model:
        facts.signatures = attempt(facts, "push", "read the pushed model's signatures", _signatures,
                                   facts.model.pushed_model)
    return facts
