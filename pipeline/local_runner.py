"""Runs the pipeline on this machine with LocalDagRunner (sqlite metadata under the output folder).

A run holds the output folder's lock (pipeline/run_lock.py) from start to end, removes the previous
run's summary.json and report.html before it starts, marks executions that an interrupted or killed run
left RUNNING as abandoned, and logs everything to run.log. Ctrl-C or SIGTERM (pipeline/interrupts.py)
stop it with a summary and a report that say where it was interrupted.
"""
import contextlib
import logging
import os
from typing import Optional, Sequence, Union

from tfx import v1 as tfx

from pipeline import interrupts, logs, run_lock
from pipeline import pipeline as pipeline_def
from pipeline import report as run_report
from pipeline import run_dir
from pipeline import summary as run_summary
from pipeline.summary_schema import RunSummary
from components.speaker_index import corpus
from pipeline.config import PipelineConfig
from components.common.errors import AudioClfError, find_user_message


log = logging.getLogger(__name__)


def run(config: PipelineConfig, data_roots: Union[str, Sequence], output_dir: str,
        enable_cache: bool = True) -> RunSummary:
    """Runs the pipeline and writes <output_dir>/config.json, summary.json and report.html; returns the
    summary.

    On failure the summary and the report are still written (status "failed", with the error), then the
    error is re-raised for the caller; on SIGINT/SIGTERM too (status "interrupted"), then
    interrupts.RunInterrupted is raised with a one-line message. Another command working in output_dir
    is an AudioClfError.
    """
    output_dir = os.path.abspath(output_dir)
    sources = [corpus.to_source(s) for s in ([data_roots] if isinstance(data_roots, str) else data_roots)]
    for i, source in enumerate(sources):
        if "://" not in source.root:
            if not os.path.exists(source.root):
                raise AudioClfError(f"data root {source.root} does not exist; pass a corpus folder (LibriSpeech, VCTK, "
                                    f"Kaldi data dir, Common Voice) or a CSV manifest, or run `audioclf download`.")
            sources[i] = corpus.Source(os.path.abspath(source.root), source.format, source.name)
    data_root = corpus.encode_sources(sources)
    os.makedirs(output_dir, exist_ok=True)
    with run_lock.hold(output_dir, "run"):
        return _run_locked(config, data_root, sources, output_dir, enable_cache)


def _run_locked(config: PipelineConfig, data_root: str, sources: list, output_dir: str,
                enable_cache: bool) -> RunSummary:
    # The previous run's summary and report go first: whatever happens to this run (even SIGKILL), they
    # must not be read as this run's.
    for name in (run_dir.SUMMARY, run_dir.REPORT):
        with contextlib.suppress(FileNotFoundError):
            os.remove(run_dir.path(output_dir, name))
    # Before running: `audioclf report` shows the settings of a run that failed, too.
    run_report.write_config(output_dir, config.to_dict())
    metadata_path = run_dir.path(output_dir, run_dir.METADATA)
    log_path = run_dir.path(output_dir, run_dir.LOG)
    with contextlib.suppress(FileNotFoundError):
        os.remove(log_path)
    with logs.to_file(log_path):
        run_summary.abandon_orphans(metadata_path)
        pipeline = pipeline_def.create_pipeline(
            config, pipeline_def.default_parameters(config, data_root),
            pipeline_root=run_dir.path(output_dir, run_dir.PIPELINE_ROOT),
            serving_dir=config.pusher.serving_dir or run_dir.path(output_dir, run_dir.SERVING),
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path),
            enable_cache=enable_cache)
        log.info("running pipeline %s on %s into %s (beam: %s)", config.name, ", ".join(s.root for s in sources),
                 output_dir, " ".join(config.beam_pipeline_args()))
        with interrupts.catch(log_path):
            try:
                tfx.orchestration.LocalDagRunner().run(pipeline)
            except interrupts.RunInterrupted as stop:
                interrupts.handled()
                # The summary says where it stopped; the executions left RUNNING are marked abandoned by the
                # next run into this folder (as those of a killed run).
                log.info("the run was interrupted by %s", stop.name, exc_info=True)
                summary = run_summary.write_summary(output_dir, metadata_path, config.name, interrupted=stop.name)
                write_report(output_dir)
                raise interrupts.RunInterrupted(stop.signum, _interrupted_message(output_dir, summary, stop.name)) \
                    from None
            except Exception as err:
                message = find_user_message(err) or f"{type(err).__name__}: {err}"
                run_summary.write_summary(output_dir, metadata_path, config.name, error=message)
                write_report(output_dir)
                raise
        summary = run_summary.write_summary(output_dir, metadata_path, config.name)
        write_report(output_dir)
    return summary


def _interrupted_message(output_dir: str, summary: RunSummary, signal_name: str) -> str:
    where = ""
    if summary.interrupted_at:
        started = summary.components[summary.interrupted_at].execution_id is not None
        where = f" at {summary.interrupted_at}" + ("" if started else " (before it started)")
    return (f"interrupted by {signal_name}{where}; what it had done is in {run_dir.path(output_dir, run_dir.SUMMARY)} "
            f"and {run_dir.path(output_dir, run_dir.REPORT)}, details in {run_dir.path(output_dir, run_dir.LOG)}")


def write_report(output_dir: str) -> Optional[str]:
    """Writes report.html; returns its path, or None when it could not be rendered. A report failure is
    logged, never raised: it must not hide the run's own result or error."""
    try:
        path = run_report.write_report(output_dir)
    except Exception:  # pylint: disable=broad-except
        log.warning("could not write the run report (rebuild it with `audioclf report --output %s`)", output_dir,
                    exc_info=True)
        return None
    # The root logger, as "running pipeline" above: the quiet log filter (pipeline/logs.py) shows its
    # one-line INFO messages, and this line is where a person learns where to look.
    log.info("run report: %s", path)
    return path
