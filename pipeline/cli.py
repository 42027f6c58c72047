"""The `audioclf` command: run the pipeline, classify recordings with its model, download LibriSpeech."""
import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import List, Optional

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)
from pipeline import logs
from pipeline.errors import EXIT_NOT_BLESSED, EXIT_USER_ERROR, find_user_message

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_CORPUS = REPO_ROOT / "data" / "librispeech-mini"


def _cmd_run(args) -> int:
    from pipeline import local_runner  # pylint: disable=import-outside-toplevel
    from pipeline.config import load_config  # pylint: disable=import-outside-toplevel

    overrides = list(args.set or [])
    config = load_config(args.config, overrides)
    config.beam.extra_args += list(args.beam_arg or [])
    summary = local_runner.run(config, args.data_root, args.output, enable_cache=not args.no_cache)
    model = summary["model"]
    test = model["test"] or {}
    print(json.dumps({"status": summary["status"], "summary": os.path.join(os.path.abspath(args.output), "summary.json"),
                      "clips": {s: v.get("clips") for s, v in summary["splits"].items()},
                      "components": {c: v["status"] for c, v in summary["components"].items()},
                      "test_accuracy": (test.get("metrics") or {}).get("overall", {}).get("sparse_categorical_accuracy"),
                      "blessed": model["blessed"], "pushed_model": model["pushed_model"]}, indent=1))
    if not model["blessed"]:
        reasons = "; ".join((test.get("validation") or {}).get("failures") or ["no blessing was recorded"])
        print(f"audioclf: the model was trained but NOT blessed, so nothing was pushed: {reasons}. "
              f"Details: {test.get('evaluation')}", file=sys.stderr)
        return EXIT_NOT_BLESSED
    print(f"audioclf: model blessed and pushed to {model['pushed_model']}; classify recordings with: "
          f"audioclf predict --model {model['pushed_model']} FILE...", file=sys.stderr)
    return 0


def _cmd_download(args) -> int:
    from pipeline import download  # pylint: disable=import-outside-toplevel

    root = download.download_subset(args.subset, args.dest, mirror=args.mirror, expected_sha256=args.sha256)
    print(f"LibriSpeech {args.subset} is ready under {root}; run: audioclf run --data-root {root} --output OUTPUT")
    return 0


def _cmd_predict(args) -> int:
    from pipeline import predict  # pylint: disable=import-outside-toplevel

    failed = predict.predict(args.model, args.files)
    if failed:
        print(f"audioclf: error: {failed} of {len(args.files)} file(s) could not be classified (see their "
              f"\"error\" lines)", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audioclf", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline locally with LocalDagRunner")
    run.add_argument("--data-root", default=str(BUNDLED_CORPUS),
                     help="LibriSpeech-layout folder (SPEAKERS.TXT + <subset>/<speaker>/<chapter>/*.flac); "
                          "default: the bundled librispeech-mini corpus")
    run.add_argument("--output", required=True, help="output folder: artifacts, metadata.sqlite, summary.json")
    run.add_argument("--config", help="YAML/JSON config file (any subset of the settings in pipeline/config.py)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one setting, e.g. synthesis.clip_seconds=5")
    run.add_argument("--beam-arg", action="append", metavar="ARG",
                     help="extra Beam pipeline argument, e.g. --beam-arg=--runner=DataflowRunner (repeatable)")
    run.add_argument("--no-cache", action="store_true", help="re-run every component even if its inputs are unchanged")
    run.set_defaults(func=_cmd_run)

    pr = sub.add_parser("predict", help="classify audio files with a pushed model; one JSON line per file")
    pr.add_argument("--model", required=True,
                    help="a pushed model (OUTPUT/serving/<version>) or the serving folder (its newest version is used)")
    pr.add_argument("files", nargs="+", metavar="FILE", help="audio files: WAV, FLAC, or anything ffmpeg reads")
    pr.set_defaults(func=_cmd_predict)

    dl = sub.add_parser("download", help="download and extract a LibriSpeech subset (OpenSLR resource 12)")
    dl.add_argument("--subset", required=True, help="e.g. train-clean-100, dev-clean, test-clean")
    dl.add_argument("--dest", required=True, help="folder to download into; the data root is DEST/LibriSpeech")
    dl.add_argument("--mirror", help="base URL holding <subset>.tar.gz (default: openslr.org, then its mirrors)")
    dl.add_argument("--sha256", help="expected SHA-256 (default: the published one for the subset)")
    dl.set_defaults(func=_cmd_download)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logs.setup(args.verbose)
    try:
        return args.func(args)
    except KeyboardInterrupt:
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
