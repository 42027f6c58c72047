"""`summary.json`: what a run did, read back from ML Metadata and the artifacts it published.

Per component: status (complete, cached, failed, not run) and output artifact URIs. Per split: clips,
speaker ids and label counts. The model: training, test metrics, blessing and the pushed model
(pipeline/model_report.py). Written for successful, failed and interrupted runs alike, in the shape of
pipeline/summary_schema.py.
"""
import collections
import logging
import os
from typing import Dict, List, NamedTuple, Optional

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.audio_synthesis.executor import read_manifest, skipped_utterances as synthesis_skips
from components.common import fs
from components.speaker_index.executor import read_index
from pipeline import model_report
from pipeline import pipeline as pipeline_def
from pipeline import run_dir
from pipeline.config import LABEL_NAMES, SPLITS
from pipeline.summary_schema import (ComponentRun, CorpusPart, RunSummary, SkippedFile, SkippedUtterances, SplitPart,
                                     output_uri)

log = logging.getLogger(__name__)

_STATES = {metadata_store_pb2.Execution.COMPLETE: "complete", metadata_store_pb2.Execution.CACHED: "cached",
           metadata_store_pb2.Execution.FAILED: "failed", metadata_store_pb2.Execution.RUNNING: "running",
           metadata_store_pb2.Execution.NEW: "new", metadata_store_pb2.Execution.CANCELED: "canceled"}


def open_store(metadata_path: str, writable: bool = False) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = (metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE if writable else
                                     metadata_store_pb2.SqliteMetadataSourceConfig.READONLY)
    return metadata_store.MetadataStore(config)


def abandon_orphans(metadata_path: str) -> List[str]:
    """Marks the executions an earlier run left RUNNING (it was interrupted or killed) as abandoned: state
    CANCELED, custom property `abandoned` = 1. Only call it while holding the output folder's lock (no
    other run can be using the store then). Returns "Component (execution N)" for each, and logs them."""
    if not os.path.exists(metadata_path):
        return []
    store = open_store(metadata_path, writable=True)
    orphans = [e for e in store.get_executions() if e.last_known_state == metadata_store_pb2.Execution.RUNNING]
    names = []
    for execution in orphans:
        nodes = [c for c in store.get_contexts_by_execution(execution.id) if c.type == "node"]
        names.append(f"{nodes[0].name.split('.', 1)[1] if nodes else execution.type} (execution {execution.id})")
        execution.last_known_state = metadata_store_pb2.Execution.CANCELED
        execution.custom_properties["abandoned"].int_value = 1
    if orphans:
        store.put_executions(orphans)
        log.warning("marked %d execution(s) that an interrupted or killed run left RUNNING in %s as abandoned "
                    "(CANCELED): %s", len(orphans), metadata_path, ", ".join(names))
    return names


class RunRecord(NamedTuple):
    """The latest run in a store: its id, its components and the custom properties of their output artifacts
    (component -> output key -> property -> value; the blessing and the push are read from these)."""
    run_id: Optional[str]
    components: Dict[str, ComponentRun]
    properties: Dict[str, Dict[str, dict]]


def component_outputs(store) -> RunRecord:
    """Component id -> status and artifact URIs, for the latest run in the store (one pipeline per store)."""
    runs = store.get_contexts_by_type("pipeline_run")
    if not runs:
        return RunRecord(None, {}, {})
    latest = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    result = RunRecord(latest.name, {}, {})
    executions = store.get_executions_by_context(latest.id)
    events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
    artifacts = {a.id: a for a in store.get_artifacts_by_id(list({ev.artifact_id for ev in events}))} if events else {}
    for execution in sorted(executions, key=lambda e: e.id):
        nodes = [c for c in store.get_contexts_by_execution(execution.id) if c.type == "node"]
        component = nodes[0].name.split(".", 1)[1] if nodes else execution.type
        outputs: Dict[str, List[str]] = collections.defaultdict(list)
        inputs: Dict[str, List[str]] = collections.defaultdict(list)
        properties: Dict[str, dict] = {}
        for ev in events:
            if ev.execution_id == execution.id and ev.type == metadata_store_pb2.Event.INPUT and ev.artifact_id in artifacts:
                inputs[ev.path.steps[0].key if ev.path.steps else "input"].append(artifacts[ev.artifact_id].uri)
            if ev.execution_id == execution.id and ev.type in (metadata_store_pb2.Event.OUTPUT,
                                                                metadata_store_pb2.Event.DECLARED_OUTPUT):
                key = ev.path.steps[0].key if ev.path.steps else "output"
                artifact = artifacts.get(ev.artifact_id)
                if artifact is not None and artifact.state == metadata_store_pb2.Artifact.LIVE:
                    outputs[key].append(artifact.uri)
                    properties[key] = {name: _value(v) for name, v in artifact.custom_properties.items()}
        result.components[component] = ComponentRun(
            status=_STATES.get(execution.last_known_state, "unknown"), execution_id=execution.id,
            inputs=dict(inputs), outputs=dict(outputs))
        result.properties[component] = properties
    return result


def _value(value: metadata_store_pb2.Value):
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind in ("int_value", "double_value", "string_value") else None


def corpus_summary(index: Optional[dict]) -> Optional[CorpusPart]:
    if index is None:
        return None
    return CorpusPart(corpora=index["corpora"], speakers=len(index["speakers"]),
                      files=sum(len(s["files"]) for s in index["speakers"].values()),
                      minors_left_out=sum(c["minors_left_out"] for c in index["corpora"].values()),
                      min_age=index["min_age"], skipped_files=index["skipped_files"])


SKIPPED_EXAMPLES = 5   # utterances named in the summary per run, of those skipped while mixing


def skipped_utterances(rows: Optional[List[dict]]) -> Optional[SkippedUtterances]:
    """The manifest's per-clip skips as distinct files, counted per reason, with the first few named."""
    if rows is None:
        return None
    why = synthesis_skips(rows)
    return SkippedUtterances(count=len(why), by_reason=dict(collections.Counter(why.values())),
                             examples=[SkippedFile(path=p, reason=r) for p, r in list(why.items())[:SKIPPED_EXAMPLES]])


def split_summary(index: Optional[dict], rows: Optional[List[dict]]) -> Dict[str, SplitPart]:
    """Per split: the index's speakers and, from the manifest's `rows` (None: AudioSynthesis did not run), the clips."""
    splits: Dict[str, dict] = {s: {} for s in SPLITS}
    if index is not None:
        for split in SPLITS:
            splits[split]["speakers_in_split"] = {g: ids for g, ids in index["splits"][split].items()}
    if rows is not None:
        for split in SPLITS:
            split_rows = [r for r in rows if r["split"] == split]
            used = sorted({s for r in split_rows for s in r["speakers"]}, key=lambda s: (len(s), s))
            labels = collections.Counter(LABEL_NAMES[r["label"]] for r in split_rows)
            modes = collections.Counter(r["mode"] for r in split_rows)
            splits[split].update({"clips": len(split_rows), "speaker_ids": used, "label_counts": dict(labels),
                                  "mode_counts": dict(modes)})
    return {split: SplitPart(**part) for split, part in splits.items()}


def write_summary(output_dir: str, metadata_path: str, pipeline_name: str, error: Optional[str] = None,
                  interrupted: Optional[str] = None) -> RunSummary:
    """Writes summary.json from the store; `error` for a failed run, `interrupted` (the signal's name) for a
    run stopped by a signal: the components it left running are "interrupted", the first is `interrupted_at`."""
    record = component_outputs(open_store(metadata_path)) if os.path.exists(metadata_path) else RunRecord(None, {}, {})
    components = record.components
    interrupted_at = None
    if interrupted:
        for name, entry in components.items():
            if entry.status == "running":
                entry.status = "interrupted"
                interrupted_at = interrupted_at or name
    for component in pipeline_def.COMPONENT_ORDER:
        components.setdefault(component, ComponentRun(status="not run"))
    if interrupted and interrupted_at is None:
        # Stopped between two components (one had finished, the next had no execution yet): the runner
        # was starting the first one of the run's order that has none. It has no execution to abandon.
        interrupted_at = next((c for c in pipeline_def.COMPONENT_ORDER if components[c].status == "not run"), None)
        if interrupted_at is not None:
            components[interrupted_at].status = "interrupted"

    index_uri = output_uri(components, pipeline_def.SPEAKER_INDEX, "speaker_index")
    index = read_index(index_uri) if index_uri else None
    clips_uri = output_uri(components, pipeline_def.AUDIO_SYNTHESIS, "clips")
    rows = read_manifest(clips_uri) if clips_uri else None
    summary = RunSummary(
        pipeline=pipeline_name,
        run_id=record.run_id,
        status="interrupted" if interrupted else ("failed" if error else "complete"),
        error=f"interrupted by {interrupted}" if interrupted else error,
        interrupted_at=interrupted_at,
        components={c: components[c] for c in pipeline_def.COMPONENT_ORDER} | {
            c: v for c, v in components.items() if c not in pipeline_def.COMPONENT_ORDER},
        corpus=corpus_summary(index),
        splits=split_summary(index, rows),
        model=model_report.model_summary(components, record.properties),
        skipped_utterances=skipped_utterances(rows),
    )
    fs.write_text(os.path.join(output_dir, run_dir.SUMMARY), summary.to_json())   # atomic
    return summary
