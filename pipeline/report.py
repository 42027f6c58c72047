"""report.html: one self-contained page that shows what a run did, for a person to look at.

`audioclf run` writes it after summary.json at the end of every run (finished, not blessed or failed);
`audioclf report --output DIR` rebuilds it from DIR's summary.json, config.json, metadata.sqlite and the
artifacts they name. Sections: Data, Training, Evaluation, Push and the Pipeline's components, under a
banner that says how the run ended (and where and why it stopped). Pictures are PNG data URIs, the CSS
is inline, and there is no script, so the file can be mailed or archived on its own.

Every part is read on its own: an artifact that is missing (the run stopped before it) or unreadable
leaves a note in its section instead of a missing page.
"""
import collections
import dataclasses
import datetime
import html
import io
import json
import logging
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from components.common import fs
from components.common.stats import per_class_metrics, wilson_interval  # noqa: F401 (report API)
from pipeline import pipeline as pipeline_def
from pipeline import report_figures as figures
from pipeline import run_dir
from pipeline import summary as run_summary
from trainer.config import ACCURACY_METRIC
from pipeline.config import LABEL_NAMES, SPLITS
from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

# tf.distribute's class names as a person reads them.
STRATEGY_NAMES = {"_DefaultDistributionStrategy": "TensorFlow's default strategy (one device)",
                  "MirroredStrategy": "MirroredStrategy (the GPUs of one machine)",
                  "MultiWorkerMirroredStrategy": "MultiWorkerMirroredStrategy (several workers)"}
SECTIONS = (("data", "Data"), ("training", "Training"), ("evaluation", "Evaluation"), ("push", "Push"),
            ("pipeline", "Pipeline"))


def stopped_at(summary: dict) -> Optional[Tuple[Optional[str], str]]:
    """(component, error) of a failed run: the first component whose execution failed (None when the
    run failed outside any component); None for a run that did not fail."""
    if summary.get("status") != "failed":
        return None
    failed = [name for name, entry in summary.get("components", {}).items() if entry.get("status") == "failed"]
    return (failed[0] if failed else None), summary.get("error") or "no error message was recorded"


# ------------------------------------------------------------------------------------- config.json

def write_config(output_dir: str, config: Dict[str, Any]) -> str:
    """<output>/config.json: the whole config a run used, written atomically. It is also a valid
    `--config` file, so `audioclf run --config <output>/config.json` repeats the run's settings."""
    path = fs.join(output_dir, run_dir.CONFIG)
    fs.write_text(path, json.dumps(config, indent=1) + "\n")  # in PipelineConfig order: corpus, synthesis, ...
    return path


def _read_json(path: str) -> Optional[Any]:
    return json.loads(fs.read_text(path)) if fs.exists(path) else None


# ----------------------------------------------------------------------------------------- gathering

@dataclasses.dataclass
class Facts:
    """What the report shows, read from the run's files. A part that is missing is None; when it could
    not be read, the reason is in `problems` (section id -> notes)."""
    output_dir: str
    summary: dict
    config: Optional[dict] = None
    started: Optional[str] = None
    durations: Dict[str, float] = dataclasses.field(default_factory=dict)
    manifest: Optional[List[dict]] = None
    clips_uri: Optional[str] = None
    anomalies: Optional[Dict[str, List[str]]] = None
    history: Optional[dict] = None
    model_settings: Optional[dict] = None
    evaluation: Optional[dict] = None
    signatures: Optional[List[dict]] = None
    problems: Dict[str, List[str]] = dataclasses.field(default_factory=lambda: collections.defaultdict(list))

    def uri(self, component: str, key: str) -> Optional[str]:
        return run_dir.output_uri(self.summary.get("components", {}), component, key)

    def status(self, component: str) -> str:
        return self.summary.get("components", {}).get(component, {}).get("status", "not run")

    @property
    def model(self) -> dict:
        return self.summary.get("model") or {}


def _attempt(facts: Facts, section: str, what: str, work, *args):
    """Runs one reader or drawing; a failure becomes a note in its section, and the page is still written
    (a report that stops at the first unreadable artifact would hide everything else)."""
    try:
        return work(*args)
    except Exception as err:  # pylint: disable=broad-except
        log.warning("report: could not %s: %s", what, err)
        facts.problems[section].append(f"Could not {what}: {type(err).__name__}: {err}")
        return None


def _run_times(metadata_path: str, summary: dict) -> Tuple[Optional[str], Dict[str, float]]:
    """When the run started (UTC) and seconds per component execution, from ML Metadata."""
    store = run_summary.open_store(metadata_path)
    started = None
    for context in store.get_contexts_by_type("pipeline_run"):
        if context.name == summary.get("run_id"):
            started = datetime.datetime.fromtimestamp(context.create_time_since_epoch / 1000, datetime.timezone.utc)
    components = summary.get("components", {})
    ids = {entry["execution_id"]: name for name, entry in components.items() if "execution_id" in entry}
    durations = {ids[e.id]: (e.last_update_time_since_epoch - e.create_time_since_epoch) / 1000.0
                 for e in (store.get_executions_by_id(list(ids)) if ids else [])}
    return (started.strftime("%Y-%m-%d %H:%M:%S UTC") if started else None), durations


def _anomalies(anomalies_uri: str) -> Dict[str, List[str]]:
    from tfx.types import artifact_utils, standard_artifacts  # pylint: disable=import-outside-toplevel

    from components.anomaly_gate.executor import read_anomalies  # pylint: disable=import-outside-toplevel

    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = anomalies_uri
    # The split names are the artifact's folders (Split-<name>), so no MLMD lookup is needed.
    artifact.split_names = artifact_utils.encode_split_names(
        [name[len("Split-"):] for name in fs.listdir(anomalies_uri) if name.startswith("Split-")])
    return read_anomalies(artifact)


def _evaluation(evaluation_uri: str) -> dict:
    """The thresholds the Evaluator applied (its eval_config.json) and the baseline's test accuracy."""
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
    return {"floor": threshold.get("valueThreshold", {}).get("lowerBound"),
            "change": threshold.get("changeThreshold", {}).get("absolute"), "baseline_accuracy": baseline,
            "difference": diff}


def _signatures(model_dir: str) -> List[dict]:
    """Signature defs read from saved_model.pb (the proto only: nothing is loaded or traced)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=import-outside-toplevel

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString(fs.read_bytes(fs.join(model_dir, "saved_model.pb")))

    def tensors(infos) -> List[dict]:
        return [{"name": name, "dtype": tf.dtypes.as_dtype(info.dtype).name,
                 "shape": None if info.tensor_shape.unknown_rank else
                 [None if d.size < 0 else d.size for d in info.tensor_shape.dim]}  # -1: any size
                for name, info in sorted(infos.items())]

    return [{"name": name, "inputs": tensors(sig.inputs), "outputs": tensors(sig.outputs)}
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


def _read_summary(output_dir: str) -> dict:
    path = fs.join(output_dir, run_dir.SUMMARY)
    if not fs.isdir(output_dir):
        raise AudioClfError(f"{output_dir} does not exist; pass the --output folder of an `audioclf run`.")
    if not fs.exists(path):
        raise AudioClfError(f"{output_dir} holds no run to report on ({run_dir.SUMMARY} is missing); pass "
                            f"the --output folder of an `audioclf run`, or run `audioclf run --output {output_dir}`.")
    try:
        return json.loads(fs.read_text(path))
    except ValueError as err:
        raise AudioClfError(f"{path} is not valid JSON ({err}); run `audioclf run --output {output_dir}` again to "
                            f"rewrite it.") from err


def gather(output_dir: str) -> Facts:
    """Reads everything the page shows; only a folder without a readable summary.json is an error."""
    from components.audio_synthesis.executor import read_manifest  # pylint: disable=import-outside-toplevel

    facts = Facts(output_dir, _read_summary(output_dir))
    facts.config = _attempt(facts, "training", f"read {run_dir.CONFIG}", _read_json, fs.join(output_dir, run_dir.CONFIG))
    metadata = fs.join(output_dir, run_dir.METADATA)
    if fs.exists(metadata):
        facts.started, facts.durations = (_attempt(facts, "pipeline", "read ML Metadata", _run_times, metadata,
                                                   facts.summary) or (None, {}))
    facts.clips_uri = facts.uri(pipeline_def.AUDIO_SYNTHESIS, "clips")
    if facts.clips_uri:
        facts.manifest = _attempt(facts, "data", "read the clip manifest", read_manifest, facts.clips_uri)
    anomalies_uri = facts.uri(pipeline_def.EXAMPLE_VALIDATOR, "anomalies")
    if anomalies_uri:
        facts.anomalies = _attempt(facts, "data", "read ExampleValidator's anomalies", _anomalies, anomalies_uri)
    run_uri = facts.uri(pipeline_def.TRAINER, "model_run")
    if run_uri:
        facts.history = _attempt(facts, "training", "read training.json", _history, run_uri)
    model_uri = facts.uri(pipeline_def.TRAINER, "model")
    if model_uri and not facts.config:
        facts.model_settings = _attempt(facts, "training", "read the model's settings", _model_settings, model_uri)
    evaluation_uri = (facts.model.get("test") or {}).get("evaluation")
    if evaluation_uri:
        facts.evaluation = _attempt(facts, "evaluation", "read the TFMA evaluation", _evaluation, evaluation_uri)
    if facts.model.get("pushed_model"):
        facts.signatures = _attempt(facts, "push", "read the pushed model's signatures", _signatures,
                                    facts.model["pushed_model"])
    return facts


# ------------------------------------------------------------------------------------ HTML helpers

class Raw(str):
    """Markup built here from escaped parts: inserted as is."""


def _e(value: Any) -> str:
    return value if isinstance(value, Raw) else html.escape(str(value), quote=True)


def _join(parts: Iterable[str]) -> Raw:
    return Raw("".join(_e(p) for p in parts))


def _tag(name: str, content: Any = "", **attrs: Any) -> Raw:
    attributes = "".join(f' {key.rstrip("_").replace("_", "-")}="{_e(value)}"' for key, value in attrs.items()
                         if value is not None)
    return Raw(f"<{name}{attributes}>{_e(content)}</{name}>")


def _num(value: Optional[float], digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pct(value: Optional[float], digits: int = 1) -> str:
    return "—" if value is None else f"{100.0 * value:.{digits}f} %"


def _ci(successes: int, trials: int) -> str:
    interval = wilson_interval(successes, trials)
    return "—" if interval is None else f"{100 * interval[0]:.1f}–{100 * interval[1]:.1f} %"


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Iterable[int] = (),
           row_class=None) -> Raw:
    """numeric: column indexes aligned right in tabular figures."""
    numeric = set(numeric)

    def cells(values, cell):
        return _join(_tag(cell, v, class_="num" if i in numeric else None) for i, v in enumerate(values))

    body = _join(_tag("tr", cells(r, "td"), class_=row_class(r) if row_class else None) for r in rows)
    return _tag("table", _join([_tag("thead", _tag("tr", cells(headers, "th"))), _tag("tbody", body)]))


def _facts_list(pairs: Iterable[Tuple[str, Any]]) -> Raw:
    return _tag("dl", _join(_join([_tag("dt", k), _tag("dd", v)]) for k, v in pairs), class_="facts")


def _code(text: Any) -> Raw:
    return _tag("code", text)


def _note(text: Any, kind: str = "muted") -> Raw:
    return _tag("p", text, class_=f"note {kind}")


def _picture(picture: Optional[figures.Picture], caption: str) -> Raw:
    """The figure with its caption; nothing when it could not be drawn (the section notes why)."""
    if picture is None:
        return Raw("")
    image = Raw(f'<img src="{picture.data_uri}" width="{picture.width_px}" alt="{_e(picture.alt)}">')
    return _tag("figure", _join([image, _tag("figcaption", caption)]))


def _problems(facts: Facts, section: str) -> Raw:
    return _join(_note(p, "bad") for p in facts.problems.get(section, []))


def _not_reached(facts: Facts, what: str) -> Raw:
    stop = stopped_at(facts.summary)
    where = f" The run stopped at {stop[0]}." if stop and stop[0] else (" The run failed." if stop else "")
    return _note(f"{what}.{where}")


def _section(section_id: str, title: str, content: Any) -> Raw:
    return _tag("section", _join([_tag("h2", _join([title, _tag("a", "#", href=f"#{section_id}", class_="anchor")])),
                                  content]), id=section_id)


def _draw(facts: Facts, section: str, what: str, draw, *args) -> Optional[figures.Picture]:
    return _attempt(facts, section, f"draw {what}", draw, *args)


# ------------------------------------------------------------------------------------------ header

def run_status(summary: dict) -> Tuple[str, str, List[str]]:
    """(css kind, headline, detail lines) of the banner."""
    stop = stopped_at(summary)
    if stop:
        component, error = stop
        return "bad", f"Failed at {component}" if component else "Failed", [error]
    model = summary.get("model") or {}
    test = model.get("test") or {}
    accuracy = (test.get("metrics") or {}).get("overall", {}).get(ACCURACY_METRIC)
    if model.get("blessed") and model.get("pushed"):
        return "ok", "Blessed and pushed", [_accuracies(model, accuracy) + f"; pushed to {model.get('pushed_model')}"]
    if model.get("blessed") is False:
        from pipeline.model_report import not_blessed_reasons  # pylint: disable=import-outside-toplevel
        return "warn", "Not blessed: nothing was pushed", [_accuracies(model, accuracy) + "."] + not_blessed_reasons(model)
    if model.get("blessed"):
        return "warn", "Blessed but not pushed", ["The Pusher did not push the blessed model."]
    return "warn", "Finished without a blessing", ["No blessing was recorded: the Evaluator did not run."]


def _header(facts: Facts) -> Raw:
    summary = facts.summary
    kind, headline, details = run_status(summary)
    banner = _tag("div", _join([_tag("strong", headline, class_="headline"),
                                _join(_tag("p", line) for line in details)]), class_=f"banner {kind}", role="status")
    meta = _facts_list([("run", summary.get("run_id") or "—"), ("started", facts.started or "—"),
                        ("output", _code(facts.output_dir)), ("pipeline", summary.get("pipeline") or "—")])
    strip = _tag("ol", _join(_tag("li", name, class_=f"step {entry.get('status', 'not run').replace(' ', '-')}",
                                  title=entry.get("status", "not run"))
                             for name, entry in summary.get("components", {}).items()), class_="steps")
    toc = _tag("nav", _join(_tag("a", title, href=f"#{sid}") for sid, title in SECTIONS), class_="toc")
    return _join([_tag("h1", "audioclf run report"), meta, banner, strip, toc])


# -------------------------------------------------------------------------------------------- data

def _speech_seconds(row: dict) -> float:
    """Seconds of the clip covered by at least one utterance (overlaps counted once)."""
    spans = sorted((u["at_s"], min(u["at_s"] + u["seconds"], row["duration_s"])) for u in row.get("utterances", []))
    covered, end = 0.0, 0.0
    for start, stop in spans:
        covered += max(0.0, stop - max(start, end))
        end = max(end, stop)
    return covered


def _mean_range(values: Sequence[float]) -> str:
    if not values:
        return "—"
    return f"{sum(values) / len(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def _corpus_part(facts: Facts) -> Raw:
    corpus = facts.summary.get("corpus")
    if not corpus:
        return _not_reached(facts, "No speaker index was written")
    skipped = corpus.get("skipped_files") or []
    synthesis_skips = sorted({f for row in facts.manifest or [] for f in row.get("skipped_files", [])})
    parts = [_facts_list([("speakers", corpus["speakers"]), ("audio files", corpus["files"]),
                          (f"speakers younger than {corpus.get('min_age', 0):g} left out", corpus.get("minors_left_out", 0)),
                          ("skipped files (unreadable header)", len(skipped)),
                          ("skipped while mixing (undecodable)", len(synthesis_skips))])]
    rows = []
    for name, c in (corpus.get("corpora") or {}).items():
        per_split = c.get("speakers_per_split") or {}
        split_text = ", ".join(f"{split} {sum(per_split.get(split, {}).values())}" for split in SPLITS)
        left_out = "; ".join([f"{n} {why}" for why, n in (c.get("read_skipped") or {}).items()] + list(c.get("notes") or []))
        rows.append((Raw(f"{html.escape(name)}<br>{_code(c['root'])}"), c["format"], c["speakers"], c["files"],
                     f"{c['seconds'] / 60:.1f}", f"{c['split']}: {split_text}", c.get("minors_left_out", 0),
                     left_out or "—"))
    if rows:
        parts.append(_table(["corpus", "format", "speakers", "files", "minutes", "speaker split", "minors left out",
                             "left out while reading"], rows, numeric=(2, 3, 4, 6)))
    if skipped or synthesis_skips:
        rows = ([(f["path"], f.get("reason", "")) for f in skipped]
                + [(f, "could not be decoded") for f in synthesis_skips])
        parts.append(_table(["skipped file", "reason"], rows))
    return _join(parts)


def _speakers_part(facts: Facts) -> Raw:
    splits = facts.summary.get("splits") or {}
    rows = []
    for split in SPLITS:
        groups = splits.get(split, {}).get("speakers_in_split")
        if groups is None:
            continue
        female, male = len(groups.get("F", [])), len(groups.get("M", []))
        used = splits[split].get("speaker_ids")
        rows.append((split, female, male, female + male, "—" if used is None else len(used)))
    if not rows:
        return _not_reached(facts, "No speakers were split")
    return _table(["split", "female", "male", "total", "used in clips"], rows, numeric=(1, 2, 3, 4))


def _utterance_seconds(row: dict) -> float:
    return sum(u["seconds"] for u in row.get("utterances", []))


def _clips_part(facts: Facts) -> Raw:
    heading = _tag("h3", "Clips per split, label, mode and number of speakers")
    if not facts.manifest:
        return _join([heading, _not_reached(facts, "No clips were made")])
    rows = facts.manifest
    labels = [name for name in LABEL_NAMES if any(r["label_name"] == name for r in rows)]
    modes = sorted({r["mode"] for r in rows})
    counts = sorted({r["num_speakers"] for r in rows})
    table = []
    for split in SPLITS:
        split_rows = [r for r in rows if r["split"] == split]
        per = {key: collections.Counter(r[key] for r in split_rows) for key in ("label_name", "mode", "num_speakers")}
        table.append([split, len(split_rows)] + [per["label_name"][n] for n in labels] + [per["mode"][m] for m in modes]
                     + [per["num_speakers"][n] for n in counts])
    headers = ["split", "clips"] + labels + modes + [f"{n} speaker{'s' if n > 1 else ''}" for n in counts]
    return _join([heading, _table(headers, table, numeric=range(1, len(headers)))])


def _durations_part(facts: Facts) -> Raw:
    if not facts.manifest:
        return Raw("")
    rows = facts.manifest
    table = []
    for split in SPLITS:
        split_rows = [r for r in rows if r["split"] == split]
        table.append((split, ", ".join(f"{d:g}" for d in sorted({r["duration_s"] for r in split_rows})) or "—",
                      _mean_range([_speech_seconds(r) for r in split_rows]),
                      _mean_range([_utterance_seconds(r) for r in split_rows]),
                      _mean_range([float(len(r["utterances"])) for r in split_rows])))
    modes = sorted({r["mode"] for r in rows})
    composition = _draw(
        facts, "data", "the clip composition picture", figures.clip_composition,
        {m: dict(collections.Counter(r["num_speakers"] for r in rows if r["mode"] == m)) for m in modes},
        {m: [_utterance_seconds(r) for r in rows if r["mode"] == m] for m in modes},
        max(r["duration_s"] for r in rows))
    return _join([
        _tag("h3", "Durations"),
        _note("Seconds per clip: mean (min–max). Speech: time covered by at least one utterance; utterance "
              "audio: the utterances' lengths added up (overlapping speakers count twice)."),
        _table(["split", "clip length (s)", "speech (s)", "utterance audio (s)", "utterances"], table,
               numeric=(1, 2, 3, 4)),
        _picture(composition, "Left: clips by number of speakers and mode. Right: utterance audio per clip; "
                              "beyond the clip length the speakers talk at the same time."),
    ])


def _load_clip(clips_uri: str, row: dict):
    import soundfile  # pylint: disable=import-outside-toplevel

    samples, rate = soundfile.read(io.BytesIO(fs.read_bytes(fs.join(clips_uri, row["path"]))), dtype="float32")
    title = (f"{row['label_name']}: {row['clip_id']}, {row['mode']}, {row['num_speakers']} speaker"
             f"{'s' if row['num_speakers'] > 1 else ''} ({', '.join(row['speakers'])})")
    return title, samples if samples.ndim == 1 else samples.mean(axis=1), rate


def _spectrogram_part(facts: Facts) -> Raw:
    if not facts.manifest:
        return Raw("")
    chosen = []
    for label in ("female", "male"):
        # A test clip when there is one: those are the clips the model is judged on.
        candidates = sorted((r for r in facts.manifest if r["label_name"] == label),
                            key=lambda r: (r["split"] != "test", r["split"], r["index"]))
        if candidates:
            chosen.append(candidates[0])
    clips = [_attempt(facts, "data", f"read clip {row['path']}", _load_clip, facts.clips_uri, row) for row in chosen]
    clips = [clip for clip in clips if clip]
    if not clips:
        return Raw("")
    picture = _draw(facts, "data", "the spectrogram picture", figures.mel_spectrograms, clips)
    return _join([_tag("h3", "What the clips look like"),
                  _picture(picture, "Mel spectrograms (dB) of the first female and first male clip of the test "
                                    "split.")])


def _anomalies_part(facts: Facts) -> Raw:
    parts: List[Any] = [_tag("h3", "Anomalies (ExampleValidator)")]
    if facts.anomalies is None:
        parts.append(_not_reached(facts, "ExampleValidator did not check the examples"))
    elif not any(facts.anomalies.values()):
        splits = ", ".join(sorted(facts.anomalies))
        parts.append(_note(f"None: every split ({splits}) matches the curated schema.", "good"))
    else:
        order = sorted(facts.anomalies, key=lambda s: (SPLITS.index(s) if s in SPLITS else len(SPLITS), s))
        rows = [(split, line) for split in order for line in facts.anomalies[split] or ["none"]]
        parts.append(_table(["split", "anomaly"], rows, row_class=lambda r: None if r[1] == "none" else "bad"))
    return _join(parts)


def _data_section(facts: Facts) -> Raw:
    return _section("data", "Data", _join([
        _problems(facts, "data"),
        _tag("h3", "Corpus"), _corpus_part(facts),
        _tag("h3", "Speakers per split"), _speakers_part(facts),
        _clips_part(facts), _durations_part(facts), _spectrogram_part(facts), _anomalies_part(facts)]))


# ---------------------------------------------------------------------------------------- training

def _flatten(values: dict, prefix: str = "") -> List[Tuple[str, str]]:
    rows = []
    for key, value in values.items():
        if isinstance(value, dict) and value and key not in ("clips", "split_fractions", "node_selector"):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", json.dumps(value)))
    return rows


# Settings a local run does not use (audioclf compile/submit/schedule do): folded away, still there.
FOLDED_CONFIG_SECTIONS = ("kubeflow",)


def _config_grid(config: dict) -> Raw:
    """One small table per section, in two columns."""
    top = [(key, json.dumps(value)) for key, value in config.items() if not isinstance(value, dict)]
    blocks = []
    for name, values in config.items():
        if not isinstance(values, dict):
            continue
        table = _table(["setting", "value"], _flatten(values))
        if name in FOLDED_CONFIG_SECTIONS:
            blocks.append(_tag("details", _join([_tag("summary", f"{name} ({len(_flatten(values))} settings, used "
                                                                 f"on a Kubeflow cluster only)"), table])))
        else:
            blocks.append(_tag("div", _join([_tag("h4", name), table])))
    return _join([_facts_list(top) if top else Raw(""), _tag("div", _join(blocks), class_="config")])


def _config_part(facts: Facts) -> Raw:
    heading = _tag("h3", "Config")
    if facts.config:
        return _join([heading, _note(f"The whole PipelineConfig of this run, from {run_dir.CONFIG} (which "
                                     f"`audioclf run --config` takes as it is)."), _config_grid(facts.config)])
    parts: List[Any] = [heading, _note(f"The config was not recorded for this run (no {run_dir.CONFIG}: runs write it "
                                       f"from this version of audioclf on).", "warn")]
    if facts.model_settings and facts.model_settings.get("trainer"):
        parts += [_note("The trainer settings below come from the model's assets.extra/audioclf.json."),
                  _config_grid({"trainer": facts.model_settings["trainer"]})]
    return _join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _training_facts(training: dict, trainer_config: dict, best_eval: Optional[float], averaged: bool) -> Raw:
    planned, patience = trainer_config.get("epochs"), trainer_config.get("patience")
    watched = training.get("early_stopping_metric", "accuracy")   # runs before the setting watched accuracy
    if training.get("stopped_early"):
        stopping = (f"stopped early after {training['epochs_run']}" + (f" of {planned}" if planned else "")
                    + " epochs" + (f" (no better eval {watched} for {patience} epochs)" if patience else ""))
    else:
        stopping = f"ran all {training['epochs_run']} epochs" + (f" (patience {patience})" if patience else "")
    strategy = STRATEGY_NAMES.get(training["strategy"], training["strategy"])
    return _facts_list([
        ("strategy", f"{strategy} with {_plural(training['replicas'], 'replica')}"),
        ("global batch", f"{training['global_batch']} clips "
                         f"({_plural(training['steps_per_epoch'], 'step')} per epoch)"),
        ("clips", f"{training['train_clips']} train, {training['eval_clips']} eval"),
        ("early stopping", stopping),
        ("best epoch", f"{training['best_epoch']} (by eval {watched}): eval accuracy {_pct(best_eval)}; "
                       f"the model keeps its weights")
        if not averaged else
        ("weights kept", f"the moving average of the weights over all {training['epochs_run']} epochs: eval accuracy "
                         f"{_pct(best_eval)} (best single epoch: {training['best_epoch']})")])


def _training_section(facts: Facts) -> Raw:
    training, history = facts.model.get("training"), facts.history
    if not training or not history:
        body = _not_reached(facts, "No model was trained")
        return _section("training", "Training", _join([_problems(facts, "training"), body, _config_part(facts)]))
    best = int(training["best_epoch"])
    values = history.get("history", {})

    def at(key: str, epoch: int) -> Optional[float]:
        series = values.get(key) or []
        return series[epoch - 1] if epoch <= len(series) else None

    trainer_config = (facts.config or {}).get("trainer") or (facts.model_settings or {}).get("trainer") or {}
    curves = _draw(facts, "training", "the training curves picture", figures.training_curves, values, best)
    rows = [(e, _num(at("loss", e)), _pct(at(ACCURACY_METRIC, e)), _num(at("val_loss", e)), _pct(at("val_" + ACCURACY_METRIC, e)))
            for e in range(1, len(values.get("loss", [])) + 1)]
    # With a weight average the model is no one epoch: its eval accuracy is the final report's.
    averaged = training.get("kept_weights") == "average"
    best_eval = training.get("best_eval_accuracy") if averaged else at("val_" + ACCURACY_METRIC, best)
    return _section("training", "Training", _join([
        _problems(facts, "training"), _training_facts(training, trainer_config, best_eval, averaged),
        _picture(curves, "Loss and accuracy per epoch on the train and eval splits; the dotted line marks the best "
                         "epoch (by the eval value early stopping watches), "
                         + ("though the model keeps the weight average." if averaged else "whose weights are restored.")),
        _table(["epoch", "train loss", "train accuracy", "eval loss", "eval accuracy"], rows, numeric=(0, 1, 2, 3, 4),
               row_class=lambda r: "best" if r[0] == best else None),
        _config_part(facts)]))


# -------------------------------------------------------------------------------------- evaluation

def _slices_part(metrics: Dict[str, dict]) -> Raw:
    rows = []
    for name, values in metrics.items():
        count = int(values.get("example_count") or 0)
        accuracy = values.get(ACCURACY_METRIC)
        correct = round(accuracy * count) if accuracy is not None else 0
        rows.append((name.replace("=", " = "), count, _pct(accuracy),
                     _ci(correct, count) if accuracy is not None else "—"))
    return _table(["slice", "clips", "accuracy", "95 % CI (Wilson)"], rows, numeric=(1, 2, 3),
                  row_class=lambda r: "total" if r[0] == "overall" else None)


def _baseline_part(facts: Facts, accuracy: Optional[float]) -> Raw:
    validation = (facts.model.get("test") or {}).get("validation") or {}
    evaluation = facts.evaluation or {}
    if not validation.get("compared_with_baseline"):
        return _note("First model, no baseline: no blessed model existed yet, so only the accuracy floor applied.")
    baseline = evaluation.get("baseline_accuracy")
    difference = evaluation.get("difference")
    if difference is None and baseline is not None and accuracy is not None:
        difference = accuracy - baseline
    return _facts_list([("baseline model", _code(facts.model.get("baseline_model") or "—")),
                        ("baseline accuracy", _pct(baseline)), ("this model", _pct(accuracy)),
                        ("difference", "—" if difference is None else f"{100 * difference:+.1f} points")])


def _accuracies(model: dict, clip_accuracy: Optional[float]) -> str:
    """The banner's figures: test-clip accuracy (TFMA) and, when measured, real-utterance accuracy."""
    text = f"Test-clip accuracy {_pct(clip_accuracy)}"
    real = model.get("real_speech")
    if real:
        text += (f"; real test utterances {_pct(real['model']['overall']['accuracy'])} "
                 f"(pitch rule {_pct(real['pitch_rule']['overall']['accuracy'])})")
    return text


def _scored(scores: Optional[dict]) -> str:
    if not scores or not scores.get("n"):
        return "—"
    low, high = scores["ci95"]
    return f"{_pct(scores['accuracy'])} ({_pct(low, 0)}–{_pct(high, 0)})"


def _real_speech_part(real: Optional[dict]) -> Raw:
    if not real:
        return _note("Not measured: the Evaluator wrote no real-speech result.")
    rule = real["pitch_rule"]
    names = [n for n in real["model"] if n != "overall"] + ["overall"]
    baseline = real.get("baseline_model") or {}
    rows = [(n, real["model"][n]["n"], real["speakers_per_corpus"].get(n, real["speakers"]) if n != "overall"
             else real["speakers"], _scored(real["model"][n]), _scored(rule[n]), _scored(baseline.get(n)))
            for n in names]
    gate = real["gate"]
    conditions = _tag("ul", _join(_tag("li", ("✓ " if c["passed"] else "✗ ") + c["text"],
                                       class_="good" if c["passed"] else "bad") for c in gate["conditions"]))
    per_class = [(label, _num(real["model"]["overall"]["per_class"][label]["precision"]),
                  _num(real["model"]["overall"]["per_class"][label]["recall"]),
                  _num(rule["overall"]["per_class"][label]["precision"]),
                  _num(rule["overall"]["per_class"][label]["recall"]), real["model"]["overall"]["per_class"][label]["support"])
                 for label in ("female", "male")]
    wrong = [(w["path"], w["corpus"], w["truth"], f"{w['label']} {w['probability']:.2f}" if w["label"] else "—",
              "—" if w["f0"] is None else f"{w['f0']:.0f}", "right" if w["pitch_rule_right"] else "wrong")
             for w in real["wrong"][:30]]
    return _join([
        _tag("p", _join([f"{real['utterances']} utterances ({real['seconds'] / 60:.1f} min) of {real['speakers']} test "
                         f"speakers, each classified whole as ", _code("audioclf predict"), " does. Pitch rule: median "
                         f"F0 above {rule['threshold_hz']:.1f} Hz = female, the threshold fitted on {rule['fit_utterances']} "
                         f"utterances of {rule['fit_speakers']} train speakers ({rule['no_f0']} test utterances without "
                         f"F0, counted wrong). Accuracy with its 95 % Wilson interval."]), class_="lead"),
        _table(["corpus", "utterances", "speakers", "model", "pitch rule", "latest blessed model"], rows,
               numeric=(1, 2, 3, 4, 5), row_class=lambda r: "total" if r[0] == "overall" else None),
        _table(["class", "model precision", "model recall", "pitch-rule precision", "pitch-rule recall", "support"],
               per_class, numeric=(1, 2, 3, 4, 5)),
        _tag("p", _join(["Gate: ", _tag("strong", "passed" if gate["passed"] else "FAILED",
                                        class_="good" if gate["passed"] else "bad")])), conditions,
        _tag("details", _join([_tag("summary", f"Utterances the model got wrong: {real['wrong_count']}"
                                               + (" (first 30)" if real["wrong_count"] > 30 else "")),
                               _table(["file", "corpus", "truth", "model", "F0 Hz", "pitch rule"], wrong)]))
        if wrong else _note("The model got every test utterance right."),
    ])


def _blessing_part(facts: Facts) -> Raw:
    model = facts.model
    validation = (model.get("test") or {}).get("validation") or {}
    evaluation = facts.evaluation or {}
    floor, change = evaluation.get("floor"), evaluation.get("change")
    rules = [f"accuracy on the whole test split ≥ {floor:g}" if floor is not None else "accuracy floor: not recorded"]
    if change is not None:
        allowed = max(0.0, -change) if abs(change) > 1e-6 else 0.0
        rules.append(f"no drop against the baseline larger than {allowed:g}")
    else:
        rules.append("no regression check (no baseline)")
    if model.get("real_speech"):
        rules.append("and the real-speech gate above")
    decision = {True: "blessed", False: "NOT blessed"}.get(model.get("blessed"), "not recorded")
    parts = [_facts_list([("decision", _tag("strong", decision, class_="good" if model.get("blessed") else "bad")),
                          ("thresholds", "; ".join(rules))])]
    real_failures = ((model.get("real_speech") or {}).get("gate") or {}).get("failures") or []
    if validation.get("failures") or real_failures:
        parts.append(_tag("ul", _join(_tag("li", f) for f in list(validation.get("failures") or []) + real_failures),
                          class_="reasons"))
    return _join(parts)


def _accuracy_part(correct: int, total: int) -> Raw:
    return _tag("p", _join(["Test accuracy ", _tag("strong", _pct(correct / total if total else None)),
                            f" ({correct} of {total} clips right); 95 % confidence interval {_ci(correct, total)} "
                            f"(Wilson score interval)."]), class_="lead")


def _per_class_part(classes: List[dict], total: int) -> Raw:
    # As sklearn's zero_division=0: a ratio without a denominator counts as 0 in the average.
    macro = [sum(c[k] or 0.0 for c in classes) / len(classes) for k in ("precision", "recall", "f1")]
    rows = [(c["label"], _num(c["precision"]), _num(c["recall"]), _num(c["f1"]), c["support"]) for c in classes]
    rows.append(("macro average", *(_num(v) for v in macro), total))
    undefined = any(c["precision"] is None or c["recall"] is None for c in classes)
    return _join([_tag("h3", "Per class"),
                  _table(["class", "precision", "recall", "F1", "support"], rows, numeric=(1, 2, 3, 4),
                         row_class=lambda r: "total" if r[0] == "macro average" else None),
                  _note("— : the class was never predicted (or has no clips); it counts as 0 in the macro "
                        "average.") if undefined else Raw("")])


def _evaluation_section(facts: Facts) -> Raw:
    test = facts.model.get("test")
    if not test:
        return _section("evaluation", "Evaluation", _join([_problems(facts, "evaluation"),
                                                           _not_reached(facts, "The model was not evaluated")]))
    metrics = test.get("metrics") or {}
    matrix = test.get("confusion_matrix")
    parts: List[Any] = [_problems(facts, "evaluation")]
    if matrix:
        labels = LABEL_NAMES[:len(matrix)]
        correct, total = sum(matrix[i][i] for i in range(len(matrix))), sum(map(sum, matrix))
        picture = _draw(facts, "evaluation", "the confusion matrix picture", figures.confusion_matrix, matrix, labels)
        parts += [_accuracy_part(correct, total),
                  _tag("div", _join([_picture(picture, "Rows: true class; columns: predicted."),
                                     _tag("div", _per_class_part(per_class_metrics(matrix, labels), total))]),
                       class_="side")]
    parts += [_tag("h3", "Slices (TFMA)"), _slices_part(metrics),
              _tag("h3", "Against the previous blessed model"),
              _baseline_part(facts, metrics.get("overall", {}).get(ACCURACY_METRIC)),
              _tag("h3", "Real speech: whole utterances of the test speakers, beside the pitch rule"),
              _real_speech_part(facts.model.get("real_speech")),
              _tag("h3", "Blessing"), _blessing_part(facts)]
    return _section("evaluation", "Evaluation", _join(parts))


# -------------------------------------------------------------------------------------------- push

def _shape(shape: Optional[List[Optional[int]]]) -> str:
    return "unknown" if shape is None else "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"


def _tensors(tensors: List[dict]) -> Raw:
    return _join(_join([_code(t["name"]), f" {t['dtype']} {_shape(t['shape'])}", Raw("<br>")]) for t in tensors)


def _push_section(facts: Facts) -> Raw:
    model = facts.model
    if not model.get("pushed"):
        stop = stopped_at(facts.summary)
        if model.get("blessed") is False:
            why = "Not pushed: the model was not blessed (see Evaluation)."
        elif stop:
            why = f"Not pushed: the run stopped at {stop[0] or 'an unknown step'} before the Pusher."
        else:
            why = f"Not pushed (Pusher: {facts.status(pipeline_def.PUSHER)})."
        return _section("push", "Push", _join([_problems(facts, "push"), _note(why, "warn")]))
    rows = [(s["name"], _tensors(s["inputs"]), _tensors(s["outputs"])) for s in facts.signatures or []]
    return _section("push", "Push", _join([
        _problems(facts, "push"),
        _facts_list([("pushed model", _code(model["pushed_model"])),
                     ("classify with", _code(f"audioclf predict --model {model['pushed_model']} FILE..."))]),
        _tag("h3", "Signatures"), _table(["signature", "inputs", "outputs"], rows) if rows else Raw("")]))


# ---------------------------------------------------------------------------------------- pipeline

def _pipeline_section(facts: Facts) -> Raw:
    rows = []
    for name, entry in facts.summary.get("components", {}).items():
        seconds = facts.durations.get(name)
        outputs = _join(_join([_code(uri), Raw("<br>")]) for uris in entry.get("outputs", {}).values() for uri in uris)
        rows.append((name, _tag("span", entry.get("status", "not run"),
                                class_=f"status {entry.get('status', 'not run').replace(' ', '-')}"),
                     "—" if seconds is None else f"{seconds:.1f}", outputs))
    table = _table(["component", "status", "seconds", "outputs"], rows, numeric=(2,))
    return _section("pipeline", "Pipeline", _join([_problems(facts, "pipeline"), table]))


# -------------------------------------------------------------------------------------------- page

CSS = """
:root{--fg:#1d2330;--muted:#5d6675;--line:#e2e5ea;--soft:#f5f6f8;--accent:#2f5fb3;
--ok:#17663a;--okbg:#e7f5ec;--warn:#8a5a00;--warnbg:#fff4d6;--bad:#a8231a;--badbg:#fdeceb}
*{box-sizing:border-box}
body{margin:0;background:var(--soft);color:var(--fg);
font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Helvetica,Arial,sans-serif}
main{max-width:1060px;margin:0 auto;padding:28px 40px 64px;background:#fff;min-height:100vh}
h1{font-size:26px;margin:0 0 10px;letter-spacing:-.01em}
h2{font-size:20px;margin:44px 0 14px;padding-bottom:6px;border-bottom:2px solid var(--line)}
h3{font-size:15.5px;margin:26px 0 8px}
a{color:var(--accent)} a.anchor{margin-left:8px;color:var(--line);text-decoration:none;font-weight:400}
h2:hover a.anchor{color:var(--muted)}
code{font:12.5px/1.4 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;background:var(--soft);
padding:1px 5px;border-radius:4px;word-break:break-all}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:8px 0 14px}
.facts dt{color:var(--muted)} .facts dd{margin:0}
.banner{margin:18px 0 14px;padding:14px 18px;border-radius:8px;border-left:6px solid}
.banner .headline{font-size:19px;display:block;margin-bottom:2px} .banner p{margin:4px 0 0;word-break:break-word}
.banner.ok{background:var(--okbg);border-color:var(--ok)} .banner.ok .headline{color:var(--ok)}
.banner.warn{background:var(--warnbg);border-color:#d49a00} .banner.warn .headline{color:var(--warn)}
.banner.bad{background:var(--badbg);border-color:var(--bad)} .banner.bad .headline{color:var(--bad)}
.steps{list-style:none;display:flex;flex-wrap:wrap;gap:6px;padding:0;margin:0 0 12px}
.step{font-size:12px;padding:2px 9px;border-radius:12px;border:1px solid var(--line);background:var(--soft);
color:var(--muted)}
.step.complete,.status.complete{background:var(--okbg);border-color:#b6e0c4;color:var(--ok)}
.step.cached,.status.cached{background:#e9f0fb;border-color:#c3d5f2;color:var(--accent)}
.step.failed,.status.failed{background:var(--badbg);border-color:#f1b8b3;color:var(--bad);font-weight:600}
.status{font-size:12.5px;padding:1px 8px;border-radius:10px;border:1px solid var(--line);white-space:nowrap}
nav.toc{display:flex;gap:4px;padding:8px 0;border-top:1px solid var(--line);border-bottom:1px solid var(--line)}
nav.toc a{padding:3px 12px;border-radius:6px;text-decoration:none;font-weight:600}
nav.toc a:hover{background:var(--soft)}
table{border-collapse:collapse;margin:8px 0 16px;font-size:14px}
th,td{padding:5px 12px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600;font-size:13px;color:#394150}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.best td,tr.total td{font-weight:600} tr.best td{background:#eef7f0} tr.bad td{color:var(--bad)}
.config{columns:2 400px;column-gap:28px} .config>*{break-inside:avoid;padding-top:10px}
.config h4,.config summary{margin:0;font-size:14px;font-weight:600} .config summary{cursor:pointer}
.config table{width:100%;font-size:13px;margin-top:4px}
.config td{padding:3px 8px} .config td:first-child{white-space:nowrap;width:50%}
.config td:last-child{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;word-break:break-word}
figure{margin:14px 0 20px} figure img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:6px}
figcaption{color:var(--muted);font-size:13px;margin-top:4px}
.side{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start} .side figure{margin-top:6px}
.side>div{flex:1 1 300px;max-width:480px}
.note{color:var(--muted);margin:6px 0 10px} .note.good{color:var(--ok)} .note.warn{color:var(--warn)}
.note.bad{color:var(--bad)} strong.good{color:var(--ok)} strong.bad{color:var(--bad)}
li.good{color:var(--ok)} li.bad{color:var(--bad)}
p.lead{font-size:16px} ul.reasons{color:var(--bad);margin-top:0}
footer{margin-top:48px;color:var(--muted);font-size:12.5px}
"""


def render(facts: Facts) -> str:
    title = f"audioclf run report: {run_status(facts.summary)[1]}, {facts.summary.get('run_id') or 'no run id'}"
    body = _join([_header(facts), _data_section(facts), _training_section(facts), _evaluation_section(facts),
                  _push_section(facts), _pipeline_section(facts),
                  _tag("footer", f"Built from the run's {run_dir.SUMMARY}, {run_dir.CONFIG}, ML Metadata and "
                                 f"artifacts. Rebuild with: audioclf report --output {facts.output_dir}")])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>{body}</main></body></html>\n")


def write_report(output_dir: str) -> str:
    """Writes <output_dir>/report.html (atomically) and returns its path."""
    output_dir = output_dir if fs.is_remote(output_dir) else os.path.abspath(output_dir)
    page = render(gather(output_dir))
    path = fs.join(output_dir, run_dir.REPORT)
    fs.write_text(path, page)
    return path
