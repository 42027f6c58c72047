"""The `audioclf` command: run the pipeline locally or on Kubeflow, classify recordings with its model,
download LibriSpeech."""
import argparse
import contextlib
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import List, Optional

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)
from pipeline import logs, memory, run_dir
from trainer.config import ACCURACY_METRIC
from components.common.errors import EXIT_NOT_BLESSED, EXIT_USER_ERROR, AudioClfError, find_user_message

REPO_ROOT = Path(__file__).resolve().parents[1]
# The corpora bundled in data/ (see their READMEs): `audioclf run` reads all of them unless told otherwise.
BUNDLED_CORPORA = [REPO_ROOT / "data" / name for name in
                   ("librispeech-mini", "speechocean762-adults", "vctk-mini", "commonvoice-mini")]


def _cmd_run(args) -> int:
    from pipeline import interrupts, run_lock  # pylint: disable=import-outside-toplevel

    interrupts.install()   # before anything starts a thread (see pipeline/interrupts.py)
    # A folder another command works in is refused before the slow imports (TensorFlow, TFX); a new
    # folder is locked by the runner once it has checked the data roots and made it.
    output = os.path.abspath(args.output)
    with run_lock.hold(output, "run") if os.path.isdir(output) else contextlib.nullcontext():
        return _run(args)


def _run(args) -> int:
    from pipeline import local_runner  # pylint: disable=import-outside-toplevel
    from pipeline.config import load_config  # pylint: disable=import-outside-toplevel

    overrides = list(args.set or [])
    config = load_config(args.config, overrides)
    config.beam.extra_args += list(args.beam_arg or [])
    memory.check_local(config)
    sources = list(args.data_root or []) or config.corpus.sources or [str(p) for p in BUNDLED_CORPORA]
    summary = local_runner.run(config, sources, args.output, enable_cache=not args.no_cache)
    model = summary.model
    output = os.path.abspath(args.output)
    print(json.dumps({"status": summary.status, "summary": run_dir.path(output, run_dir.SUMMARY),
                      "report": run_dir.path(output, run_dir.REPORT),
                      "clips": {s: v.clips for s, v in summary.splits.items()},
                      "components": {c: v.status for c, v in summary.components.items()},
                      "test_accuracy": model.test_metric(ACCURACY_METRIC),
                      "real_speech": _real_speech_status(model.real_speech),
                      "blessed": model.blessed, "pushed_model": model.pushed_model}, indent=1))
    if not model.blessed:
        print(f"audioclf: the model was trained but NOT blessed, so nothing was pushed: "
              f"{'; '.join(model.not_blessed_reasons())}. Details: {model.test.evaluation if model.test else None}",
              file=sys.stderr)
        return EXIT_NOT_BLESSED
    print(f"audioclf: model blessed and pushed to {model.pushed_model}; classify recordings with: "
          f"audioclf predict --model {model.pushed_model} FILE...", file=sys.stderr)
    return 0


def _real_speech_status(result) -> Optional[dict]:
    """Real-utterance accuracy of the model and the pitch rule, overall and per corpus."""
    if not result:
        return None
    rule = result.pitch_rule.by_corpus
    return {"utterances": result.utterances, "speakers": result.speakers,
            "gate": "passed" if result.gate.passed else "failed",
            "accuracy": {name: {"model": scores.accuracy, "pitch_rule": rule[name].accuracy, "n": scores.n}
                         for name, scores in result.model.items()}}


def _cmd_report(args) -> int:
    from components.common import fs  # pylint: disable=import-outside-toplevel
    from pipeline import run_lock  # pylint: disable=import-outside-toplevel

    # Not while a run works in the folder (it writes report.html itself when it ends), nor two at once;
    # refused before the slow imports. A remote folder has no OS lock; a missing one gets gather's message.
    local = not fs.is_remote(args.output) and os.path.isdir(args.output)
    with run_lock.hold(os.path.abspath(args.output), "report") if local else contextlib.nullcontext():
        from pipeline import report  # pylint: disable=import-outside-toplevel

        print(report.write_report(args.output))
    return 0


def _cmd_download(args) -> int:
    from pipeline import download, resumable_http  # pylint: disable=import-outside-toplevel

    limits = resumable_http.Limits(min_bytes_per_s=args.min_speed_kbps * 1000,
                                   deadline_s=args.timeout_minutes * 60 if args.timeout_minutes else None)
    root = download.download_subset(args.subset, args.dest, mirror=args.mirror, expected_sha256=args.sha256,
                                    max_extracted_bytes=int(args.max_extracted_gb * 10**9) if args.max_extracted_gb else None,
                                    max_compression_ratio=args.max_ratio or None, limits=limits)
    print(f"LibriSpeech {args.subset} is ready under {root}; run: audioclf run --data-root {root} --output OUTPUT")
    return 0


def _cmd_predict(args) -> int:
    from pipeline import predict  # pylint: disable=import-outside-toplevel
    from pipeline.config import load_config  # pylint: disable=import-outside-toplevel

    serving = load_config(args.config, list(args.set or [])).serving   # the limits (serving.max_file_mb, ...)
    files = predict.expand(args.files)   # folders -> their audio files
    failed = predict.predict(args.model, files, serving=serving)
    if failed:
        print(f"audioclf: error: {failed} of {len(files)} file(s) could not be classified (see their "
              f"\"error\" lines)", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


def _cmd_serve(args) -> int:
    """Starts serving/server.py from the server's own environment (.venv-serving, made by `make setup`)."""
    from pipeline.config import load_config  # pylint: disable=import-outside-toplevel

    config = load_config(args.config, list(args.set or []) + ([f"serving.http_port={args.port}"] if args.port else []))
    serving = config.serving
    python = Path(os.environ.get("AUDIOCLF_SERVING_PYTHON") or REPO_ROOT / ".venv-serving" / "bin" / "python")
    if not python.exists():
        raise AudioClfError(f"the model server's environment is missing ({python}); run `make setup` (it creates "
                            f".venv-serving from requirements/serving-lock.txt) or set AUDIOCLF_SERVING_PYTHON.")
    command = [str(python), "-m", "serving.server", "--model", os.path.abspath(args.model),
               "--model-name", serving.model_name, "--port", str(serving.http_port),
               "--max-request-mb", str(serving.max_request_mb), "--max-audio-seconds", str(serving.max_audio_seconds),
               "--min-audio-seconds", str(serving.min_audio_seconds), "--max-recordings", str(serving.max_recordings)]
    # The server imports the checkout's serving/, trainer/ and components/common, nothing installed.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    sys.stdout.flush()
    os.execve(command[0], command, env)   # the server owns the terminal and its signals from here
    return 0  # not reached


def _cmd_compile(args) -> int:
    from pipeline.kubeflow import compiler  # pylint: disable=import-outside-toplevel
    from pipeline.config import load_config  # pylint: disable=import-outside-toplevel

    config = load_config(args.config, list(args.set or []))
    memory.check_pods(config)
    spec = compiler.compile_pipeline(config, args.output, image=args.image, pipeline_root=args.pipeline_root)
    params = spec["root"]["inputDefinitions"]["parameters"]
    print(json.dumps({"pipeline": os.path.abspath(args.output), "image": args.image or config.kubeflow.image,
                      "pipeline_root": spec["defaultPipelineRoot"], "trainer_launcher": config.kubeflow.trainer_launcher,
                      "deploy": config.kubeflow.deploy or "none",
                      "parameters": {name: p["defaultValue"] for name, p in sorted(params.items())}}, indent=1))
    return 0


def _package(args, folder: str) -> tuple:
    """The compiled pipeline to send (--package, or compiled now from the config) and its config."""
    from pipeline.kubeflow import compiler  # pylint: disable=import-outside-toplevel
    from pipeline.config import load_config  # pylint: disable=import-outside-toplevel

    config = load_config(args.config, list(args.set or []))
    memory.check_pods(config)
    if args.package:
        return args.package, config
    path = os.path.join(folder, "pipeline.yaml")
    compiler.compile_pipeline(config, path, image=args.image, pipeline_root=args.pipeline_root)
    return path, config


def _cmd_submit(args) -> int:
    from pipeline.kubeflow import connection, parameters, runs  # pylint: disable=import-outside-toplevel

    with tempfile.TemporaryDirectory(prefix="audioclf-submit-") as folder:
        package, config = _package(args, folder)
        params = parameters.parse_params(list(args.param or []), package)
        client = connection.connect(args.host, namespace=args.namespace)
        result = runs.submit(client, package, args.experiment or config.kubeflow.experiment, params,
                             run_name=args.run_name)
    print(json.dumps(result, indent=1))
    return 0


def _cmd_schedule(args) -> int:
    from pipeline.kubeflow import connection, cron, parameters, runs  # pylint: disable=import-outside-toplevel

    cron.normalize_cron(args.cron)  # a bad expression stops here, before compiling or connecting
    if args.max_concurrency < 1:
        raise AudioClfError(f"--max-concurrency {args.max_concurrency}: use 1 or more.")
    with tempfile.TemporaryDirectory(prefix="audioclf-schedule-") as folder:
        package, config = _package(args, folder)
        params = parameters.parse_params(list(args.param or []), package)
        client = connection.connect(args.host, namespace=args.namespace)
        result = runs.schedule(client, package, args.experiment or config.kubeflow.experiment, args.cron,
                               args.max_concurrency, params, pipeline_name=config.name, job_name=args.name)
    print(json.dumps(result, indent=1))
    return 0


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML/JSON config file (any subset of the settings in pipeline/config.py)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one setting, e.g. synthesis.clip_seconds=5")


def _add_compile_args(parser: argparse.ArgumentParser) -> None:
    _add_config_args(parser)
    parser.add_argument("--image", help="container image of every step (default: kubeflow.image, made by docker/build.sh)")
    parser.add_argument("--pipeline-root",
                        help="artifact root the pods share, e.g. gs://bucket/root (default: kubeflow.pipeline_root)")


def _add_kfp_args(parser: argparse.ArgumentParser) -> None:
    _add_compile_args(parser)
    parser.add_argument("--host", required=True, help="Kubeflow Pipelines API endpoint, e.g. http://localhost:8080 "
                                                      "(auth: KFP_TOKEN, else kfp's in-cluster/kube-config credentials)")
    parser.add_argument("--namespace", help="Kubeflow profile namespace (multi-user installs)")
    parser.add_argument("--experiment", help="experiment name (default: kubeflow.experiment); created if missing")
    parser.add_argument("--param", action="append", metavar="NAME=VALUE",
                        help="run-time parameter: data_root, train_clips, eval_clips, test_clips, epochs, accuracy_floor")
    parser.add_argument("--package", help="an already compiled pipeline (.yaml) instead of compiling from the config")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audioclf", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline locally with LocalDagRunner")
    run.add_argument("--data-root", action="append", metavar="ROOT",
                     help="a corpus to read (repeat for several; they are combined): LibriSpeech, VCTK, Kaldi data "
                          "dir, Common Voice, or a CSV manifest (path,speaker,gender[,age]); the layout is detected. "
                          "Default: corpus.sources, else every corpus bundled in data/")
    run.add_argument("--output", required=True, help="output folder: artifacts, metadata.sqlite, summary.json")
    _add_config_args(run)
    run.add_argument("--beam-arg", action="append", metavar="ARG",
                     help="extra Beam pipeline argument, e.g. --beam-arg=--runner=DataflowRunner (repeatable)")
    run.add_argument("--no-cache", action="store_true", help="re-run every component even if its inputs are unchanged")
    run.set_defaults(func=_cmd_run)

    rep = sub.add_parser("report", help="rebuild OUTPUT/report.html (data, training, evaluation, push) from a run's outputs")
    rep.add_argument("--output", required=True, help="the --output folder of an `audioclf run` (finished or failed)")
    rep.set_defaults(func=_cmd_report)

    comp = sub.add_parser("compile", help="compile the pipeline for Kubeflow Pipelines v2 (KubeflowV2DagRunner)")
    comp.add_argument("--output", required=True, help="the PipelineSpec file to write (*.yaml)")
    _add_compile_args(comp)
    comp.set_defaults(func=_cmd_compile)

    submit = sub.add_parser("submit", help="create a Kubeflow Pipelines run of the pipeline")
    _add_kfp_args(submit)
    submit.add_argument("--run-name", help="run name (default: generated by KFP)")
    submit.set_defaults(func=_cmd_submit)

    sched = sub.add_parser("schedule", help="create a recurring Kubeflow Pipelines run (scheduled retraining)")
    _add_kfp_args(sched)
    sched.add_argument("--cron", required=True,
                       help="when to retrain: cron with seconds as KFP wants it (\"0 0 3 * * *\") or 5-field cron")
    sched.add_argument("--max-concurrency", type=int, default=1, help="runs of this schedule at once (default 1)")
    sched.add_argument("--name", help="recurring run name (default: <pipeline>-retrain)")
    sched.set_defaults(func=_cmd_schedule)

    pr = sub.add_parser("predict", help="classify audio files with a pushed model; one JSON line per file")
    pr.add_argument("--model", required=True,
                    help="a pushed model (OUTPUT/serving/<version>) or the serving folder (its newest version is used)")
    pr.add_argument("files", nargs="+", metavar="FILE",
                    help="audio files (WAV, FLAC, or anything ffmpeg reads), or folders: their audio files, "
                         "recursively, sorted. Limits: serving.max_file_mb, serving.min/max_audio_seconds")
    _add_config_args(pr)
    pr.set_defaults(func=_cmd_predict)

    srv = sub.add_parser("serve", help="serve a pushed model over HTTP: KServe's V1 :predict and Open Inference (V2)")
    srv.add_argument("--model", required=True,
                     help="a pushed model (OUTPUT/serving/<version>) or the serving folder (its newest version is used)")
    srv.add_argument("--port", type=int, help="HTTP port (default: serving.http_port, 8080)")
    _add_config_args(srv)
    srv.set_defaults(func=_cmd_serve)

    dl = sub.add_parser("download", help="download and extract a LibriSpeech subset (OpenSLR resource 12)")
    dl.add_argument("--subset", required=True, help="e.g. train-clean-100, dev-clean, test-clean")
    dl.add_argument("--dest", required=True, help="folder to download into; the data root is DEST/LibriSpeech")
    dl.add_argument("--mirror", help="base URL holding <subset>.tar.gz (default: openslr.org, then its mirrors)")
    dl.add_argument("--sha256", help="expected SHA-256 (default: the published one for the subset)")
    dl.add_argument("--max-extracted-gb", type=float, default=100.0,
                    help="refuse an archive that unpacks to more than this (default 100; 0: no limit)")
    dl.add_argument("--max-ratio", type=float, default=10.0,
                    help="refuse an archive that unpacks to more than this many times its size (default 10; LibriSpeech "
                         "is about 1; 0: no limit)")
    dl.add_argument("--min-speed-kbps", type=float, default=10.0,
                    help="break off and resume a transfer slower than this many kB/s over a minute (default 10; 0: off)")
    dl.add_argument("--timeout-minutes", type=float, default=0.0,
                    help="give up (keeping the partial file) if the download takes longer (default 0: no limit)")
    dl.set_defaults(func=_cmd_download)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logs.setup(args.verbose)
    try:
        return args.func(args)
    except KeyboardInterrupt as stop:
        from pipeline import interrupts  # pylint: disable=import-outside-toplevel

        if isinstance(stop, interrupts.RunInterrupted):   # a run's summary and report say where it stopped
            print(f"audioclf: {stop}", file=interrupts.terminal(), flush=True)
            interrupts.exit_after_interrupt(stop.exit_code)   # does not return
        print("audioclf: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # pylint: disable=broad-except
        message = find_user_message(err)
        if message is None:
            traceback.print_exc()
            print(f"audioclf: internal error: {type(err).__name__}: {err}", file=sys.stderr)
            return 1
        print(f"audioclf: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
