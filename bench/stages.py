"""One benchmark for every stage of the pipeline, measured on this machine in one run.

Stages, in the order they run (each in its own subprocess, watched from here: bench/monitor.py):
  demo                `audioclf run --output <fresh temp dir>` with the default config on the bundled corpus
                      and an empty F0 cache (evaluator.f0_cache in the temp dir): a first run's wall time;
                      its output (clips, Examples, model) feeds the stages below
  synthesis, 1 core   ours: synthesize_clip + encode_wav + write, warm UtteranceCache, 60 s clips, the process
                      pinned to one CPU before it starts (bench_synthesis.run_ours, part (a) there)
  synthesis, pydub    the blog post's pydub/ffmpeg way on the same clip plans, pinned the same way
                      (bench_synthesis.run_pydub, part (d)); ratio to ours on the same clips
  synthesis, Beam     the SynthesizeClip DoFn on the DirectRunner, multi_processing, 1 and 2 workers
                      (bench_synthesis.run_beam, part (e)): steady clips/s and ms per clip per core
  AudioExampleGen     the real executor (Executor.Do) on the demo's clips with the default Beam settings
                      (DirectRunner, 2 worker processes): WAV MB/s and clips/s over its wall time
  tf.data input       trainer.input.make_dataset (training mode) and the model's kapre front end (mel
                      spectrogram, mean normalization, delta, framing: trainer/model.py up to the conv blocks)
                      in one tf.function: examples/s from raw audio to model features (bench_training)
  training            model.fit of the real model on the demo's train split, CPU, epoch 1 not counted
  predict             classify_file on every corpus file, one pinned core, TF with 1+1 threads (bench_predict)
  training, GPU       the training stage on the GPU with nvidia-smi sampled beside it (only with a GPU)

Every stage reports the peak memory of its process tree (PSS summed over the stage process and its
children, sampled every 0.2 s) and the largest single process's peak RSS (os.wait4).

Run:  .venv/bin/python -m bench.stages              # ~10 min on 2 cores; bench/results/stages.md + README table
      .venv/bin/python -m bench.stages --quick      # smoke run (~2 min): bench/results/stages_quick.md
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pipeline  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before any TensorFlow import)
from bench import _util, monitor  # noqa: E402
from pipeline import run_dir as run_folder, summary_schema  # noqa: E402
from bench.stages_report import NO_GPU, README_END, README_START  # noqa: E402,F401  (tests and README)
from bench.stages_report import build_report, machine_summary, readme_block, result_rows, update_readme  # noqa: E402

README = os.path.join(_util.REPO_ROOT, "README.md")
DATA_ROOT = os.path.join(_util.REPO_ROOT, "data", "librispeech-mini")

FULL = dict(clip_seconds=60.0, sample_rate=16000, one_core_clips=120, pydub_clips=25, beam_clips=3000,
            input_epochs=3, train_epochs=3, predict_files=0, predict_repeats=3, demo_args=[],
            example_gen_beam_args=None)  # None: the default config's (DirectRunner, 2 worker processes)
# --quick: every stage runs for real on tiny counts; the demo on tests/tiny.yaml with Beam in memory.
QUICK = dict(clip_seconds=60.0, sample_rate=16000, one_core_clips=6, pydub_clips=2, beam_clips=12,
             input_epochs=2, train_epochs=2, predict_files=4, predict_repeats=1,
             example_gen_beam_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"],
             demo_args=["--config", os.path.join(_util.REPO_ROOT, "tests", "tiny.yaml"),
                        "--set", "synthesis.clips={train: 8, eval: 4, test: 4}",
                        "--set", "beam.direct_running_mode=in_memory", "--set", "beam.direct_num_workers=1"])


# ------------------------------------------------------------------------------ stages (in subprocesses)


def _measure(p, fn, label):
    """_util.measure with the run's idle settings; the meter flattened for JSON."""
    result, meter = _util.measure(fn, label, wait_idle=p["wait_idle"], retries=p["retries"])
    return result, {"own_cores": meter.own_cores, "other_cores": meter.other_cores, "timed_s": meter.wall}


def stage_synthesis_one_core(p):
    from bench import bench_synthesis as bs  # pylint: disable=import-outside-toplevel
    syn, index, pools, _ = bs.clip_setup(p["data_root"], p["sample_rate"], p["clip_seconds"])
    tmp = tempfile.mkdtemp(prefix="synthesis-", dir=p["tmp"])
    indices = list(range(p["clips"]))
    shared = bs.warm_cache(indices, pools, syn, p["data_root"], tmp)
    (times, metas), meter = _measure(p, lambda: bs.run_ours(indices, pools, syn, lambda: shared, tmp), "synthesis")
    shutil.rmtree(tmp, ignore_errors=True)
    return {"times": times.tolist(), "metas": metas, "affinity": sorted(os.sched_getaffinity(0)), **meter}


def stage_synthesis_pydub(p):
    from bench import bench_synthesis as bs  # pylint: disable=import-outside-toplevel
    data_root = os.path.abspath(p["data_root"])
    tmp = tempfile.mkdtemp(prefix="pydub-", dir=p["tmp"])
    bs.run_pydub(p["metas"][:1], data_root, p["sample_rate"], p["clip_seconds"], tmp)  # loads pydub, ffmpeg
    times, meter = _measure(p, lambda: bs.run_pydub(p["metas"], data_root, p["sample_rate"], p["clip_seconds"], tmp),
                            "pydub")
    shutil.rmtree(tmp, ignore_errors=True)
    return {"times": times.tolist(), "affinity": sorted(os.sched_getaffinity(0)), **meter}


def stage_synthesis_beam(p):
    from bench import bench_synthesis as bs  # pylint: disable=import-outside-toplevel
    syn, index, _, _ = bs.clip_setup(p["data_root"], p["sample_rate"], p["clip_seconds"])
    run, meter = _measure(p, lambda: bs.run_beam(index, syn, p["clips"], p["workers"], p["tmp"]),
                          f"Beam, {p['workers']} worker(s)")
    summary = bs.beam_summary(p["workers"], p["clips"], *run)
    summary.pop("meter")
    return {**summary, **meter}


def stage_example_gen(p):
    from pathlib import Path  # pylint: disable=import-outside-toplevel

    from tfx.types import standard_artifacts  # pylint: disable=import-outside-toplevel

    from components.audio_example_gen import executor  # pylint: disable=import-outside-toplevel
    from components.audio_synthesis.executor import read_manifest  # pylint: disable=import-outside-toplevel
    from components.common import audio  # pylint: disable=import-outside-toplevel
    from components.common.artifacts import AudioClips  # pylint: disable=import-outside-toplevel
    from components.common.testing import artifact, run_beam_executor  # pylint: disable=import-outside-toplevel
    from pipeline.config import load_config  # pylint: disable=import-outside-toplevel

    config = load_config()  # the Beam settings (and examples section) of a plain `audioclf run`
    beam_args = p["beam_args"] or config.beam_pipeline_args()
    rows = read_manifest(p["clips_uri"])
    paths = [os.path.join(p["clips_uri"], r["path"]) for r in rows]
    wav_bytes = sum(os.path.getsize(path) for path in paths)
    frames, rate = audio.audio_info(paths[0])
    clips = AudioClips()
    clips.uri = p["clips_uri"]

    def run():
        out = tempfile.mkdtemp(prefix="examples-", dir=p["tmp"])
        examples = artifact(standard_artifacts.Examples, Path(out) / "examples")
        start = time.perf_counter()
        run_beam_executor(executor.Executor, beam_args, {executor.CLIPS_KEY: [clips]},
                          {executor.EXAMPLES_KEY: [examples]},
                          {executor.EXAMPLES_CONFIG_KEY: config.section_json("examples")})
        wall = time.perf_counter() - start
        written = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(examples.uri) for f in files)
        shutil.rmtree(out, ignore_errors=True)
        return wall, written

    (wall, written), meter = _measure(p, run, "AudioExampleGen")
    return {"wall_s": wall, "clips": len(rows), "wav_bytes": wav_bytes, "tfrecord_bytes": written,
            "clip_seconds": frames / rate, "sample_rate": rate, "beam_args": beam_args,
            "encoding": config.examples.audio_encoding, **meter}


def stage_input(p):
    from bench import bench_training as bt  # pylint: disable=import-outside-toplevel
    examples, s, _ = bt.run_settings(p["run"], [])
    batch = s["trainer"].batch_size_per_replica
    files, n, pass_steps = bt.train_split(examples, batch)
    dataset = bt.training_dataset(files, s)
    features = bt.front_end(s)
    (alone_cold, alone_warm), _ = _measure(
        p, lambda: bt.time_input(dataset, pass_steps, pass_steps, p["epochs"], batch), "input alone")
    (cold, warm), meter = _measure(
        p, lambda: bt.time_input(dataset, pass_steps, pass_steps, p["epochs"], batch, features), "input + front end")
    return {"examples_per_epoch": pass_steps * batch, "train_examples": n, "batch": batch, "cold_s": cold,
            "warm_s": warm, "alone_cold_s": alone_cold, "alone_warm_s": alone_warm, "cache": s["trainer"].cache,
            "feature_shape": list(features.output_shape[1:]), "clip_s": s["clip_samples"] / s["sample_rate"], **meter}


def stage_training(p):
    from bench import bench_training as bt  # pylint: disable=import-outside-toplevel
    examples, s, _ = bt.run_settings(p["run"], [])
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    gpus = tf.config.list_physical_devices("GPU")
    if p["device"] == "gpu" and not gpus:
        return {"not_measured": "nvidia-smi lists a GPU but TensorFlow sees none (no CUDA libraries for it?): "
                                "not measured"}
    batch = s["trainer"].batch_size_per_replica
    files, n, pass_steps = bt.train_split(examples, batch)
    (times, stamps, params, cpu), meter = _measure(
        p, lambda: bt.time_training(bt.training_dataset(files, s), s, pass_steps, p["epochs"]), "training")
    return {"epoch_s": times, "epoch_cpu_s": cpu, "stamps": stamps, "params": params, "steps": pass_steps,
            "batch": batch, "train_examples": n, "gpus": [g.name for g in gpus], **meter}


def stage_predict(p):
    from bench import bench_predict as bp  # pylint: disable=import-outside-toplevel
    from components.common import audio  # pylint: disable=import-outside-toplevel
    classifier = bp.one_thread_classifier(p["model"])
    files = bp.corpus_files(p["data_root"])[:p["files"] or None]
    audio_s = 0.0
    for path in files:
        frames, rate = audio.audio_info(path)
        audio_s += frames / rate
    classifier.classify_file(files[0])  # warm-up (traces the signature's first call)
    times, meter = _measure(p, lambda: bp.utterance_passes(classifier, files, [None] * len(files), p["repeats"],
                                                           parts=("e2e",)), "predict")
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    return {"totals_s": [sum(t) for t in times["e2e"]], "files": len(files), "audio_s": audio_s,
            "affinity": sorted(os.sched_getaffinity(0)), "model_rate": classifier.sample_rate,
            "threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                        tf.config.threading.get_inter_op_parallelism_threads()], **meter}


STAGE_FUNCTIONS = {"synthesis_one_core": stage_synthesis_one_core, "synthesis_pydub": stage_synthesis_pydub,
                   "synthesis_beam": stage_synthesis_beam, "example_gen": stage_example_gen, "input": stage_input,
                   "training": stage_training, "predict": stage_predict}


def stage_main(name, params_path, result_path):
    with open(params_path, encoding="utf-8") as f:
        params = json.load(f)
    result = STAGE_FUNCTIONS[name](params)
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(result, f)


# ------------------------------------------------------------------------------------------ the runner


class Runner:
    """Runs the stages one after the other in subprocesses, each watched by monitor.run_monitored."""

    def __init__(self, args, settings, tmp):
        self.args, self.settings, self.tmp = args, settings, tmp
        self.core = min(os.sched_getaffinity(0))
        self.results = {}
        os.makedirs(os.path.join(tmp, "logs"), exist_ok=True)

    def env(self, gpu: bool):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        env["PYTHONPATH"] = os.pathsep.join(p for p in [_util.REPO_ROOT, env.get("PYTHONPATH")] if p)  # Beam workers
        if not gpu:
            env["CUDA_VISIBLE_DEVICES"] = ""  # CPU figures stay CPU figures on a GPU machine
        return env

    def run(self, key, label, cmd, gpu=False, pin=False, params=None, uses_gpu_sampler=False, after=None):
        """Runs one stage; self.results[key] = the monitor's figures + the stage's result (or its error).
        after(entry) completes the entry before its line is printed."""
        step = len(self.results) + 1
        print(f"[{step}] {label} ...", flush=True)
        if not self.args.no_wait_idle:
            _util.wait_for_idle(_util.OTHER_LOAD_WARN)
        log = os.path.join(self.tmp, "logs", f"{key}.log")
        result_path = os.path.join(self.tmp, f"{key}.result.json")
        if params is not None:
            params_path = os.path.join(self.tmp, f"{key}.params.json")
            with open(params_path, "w", encoding="utf-8") as f:
                json.dump({**params, "tmp": self.tmp, "wait_idle": not self.args.no_wait_idle,
                           "retries": self.args.retries}, f)
            cmd = [sys.executable, "-m", "bench.stages", "--stage", params["stage"], "--params", params_path,
                   "--result", result_path]
        watched = monitor.run_monitored(cmd, self.env(gpu), log, pin_core=self.core if pin else None,
                                        gpu=uses_gpu_sampler)
        entry = {"label": label, "log": log, **watched}
        if watched["rc"] != 0 and params is not None:
            entry["error"] = f"exit status {watched['rc']}"
        elif params is not None:
            with open(result_path, encoding="utf-8") as f:
                entry["result"] = json.load(f)
        self.results[key] = entry
        if after:
            after(entry)
        if "error" in entry:
            with open(log, encoding="utf-8", errors="replace") as f:
                tail = f.readlines()[-30:]
            print(f"    FAILED ({entry['error']}); last lines of {log}:\n" + "".join("      " + t for t in tail), flush=True)
        else:
            headline = {k: text for k, _, text in result_rows(self.results, self.settings)}.get(key, "")
            print(f"    done in {watched['wall_s']:.1f} s; peak memory {watched['peak_pss_mb']:.0f} MB (tree PSS): "
                  f"{headline}", flush=True)
        return entry

    def skip(self, key, label, why):
        print(f"[-] {label}: {why}", flush=True)
        self.results[key] = {"label": label, "skipped": why}


def demo_outputs(run_dir):
    """(summary, clips folder, model folder for predict) of a finished `audioclf run`."""
    summary = summary_schema.load(os.path.join(run_dir, run_folder.SUMMARY))
    clips = summary.output_uri(run_folder.AUDIO_SYNTHESIS, "clips")
    model = summary.model.pushed_model or os.path.join(summary.model.model, "Format-Serving")
    return summary, clips, model


def run_all(args, settings, tmp):
    """Every stage; returns the Runner with its results."""
    r = Runner(args, settings, tmp)
    s = settings
    wanted = set(args.only.split(",")) if args.only else None

    def want(key):
        return wanted is None or key in wanted

    run_dir = args.run
    if run_dir:
        r.skip("demo", "demo (audioclf run)", f"not measured: --run {run_dir} given")
    elif want("demo"):
        run_dir = os.path.join(tmp, "demo")
        audioclf = os.path.join(os.path.dirname(sys.executable), "audioclf")
        cli = [audioclf] if os.path.exists(audioclf) else [sys.executable, os.path.join(_util.REPO_ROOT, "audioclf.py")]
        def read_summary(entry):
            if os.path.exists(os.path.join(run_dir, run_folder.SUMMARY)):
                entry["summary"] = demo_outputs(run_dir)[0].model_dump(mode="json")
            elif entry["rc"] != 0:
                entry["error"] = f"exit status {entry['rc']}, no summary.json"

        r.run("demo", "demo: audioclf run (default config, bundled corpus)",
              cli + ["run", "--output", run_dir, *s["demo_args"],   # an empty F0 cache: a first run's time
                     "--set", f"evaluator.f0_cache={os.path.join(tmp, 'f0-cache')}"], gpu=True, after=read_summary)
    common = {"data_root": args.data_root, "sample_rate": s["sample_rate"], "clip_seconds": s["clip_seconds"]}
    if want("synthesis"):
        one = r.run("synthesis_one_core", f"synthesis, ours, one core ({s['one_core_clips']} clips)",
                    None, pin=True, params={"stage": "synthesis_one_core", **common, "clips": s["one_core_clips"]})
        if "result" in one:
            metas = one["result"]["metas"][:s["pydub_clips"]]
            r.run("synthesis_pydub", f"synthesis, blog post's pydub way, one core ({len(metas)} clips)", None,
                  pin=True, params={"stage": "synthesis_pydub", **common, "metas": metas})
        else:
            r.skip("synthesis_pydub", "synthesis, pydub", "not measured: needs the clip plans of the one-core stage")
        for workers in (1, 2):
            r.run(f"synthesis_beam_{workers}", f"synthesis, Beam, {workers} worker(s), {s['beam_clips']} clips", None,
                  params={"stage": "synthesis_beam", **common, "clips": s["beam_clips"], "workers": workers})
    have_run = bool(run_dir) and os.path.exists(os.path.join(run_dir, run_folder.SUMMARY))
    if have_run:
        _, clips_uri, model_dir = demo_outputs(run_dir)
    for key, label, params in (
            ("example_gen", "AudioExampleGen executor on the demo's clips",
             lambda: {"stage": "example_gen", "clips_uri": clips_uri, "beam_args": s["example_gen_beam_args"]}),
            ("input", "tf.data input + kapre front end (demo's train split)",
             lambda: {"stage": "input", "run": run_dir, "epochs": s["input_epochs"]}),
            ("training", "training, model.fit on CPU (demo's train split)",
             lambda: {"stage": "training", "run": run_dir, "epochs": s["train_epochs"], "device": "cpu"}),
            ("predict", "predict, one core, corpus files",
             lambda: {"stage": "predict", "model": model_dir, "data_root": args.data_root,
                      "files": s["predict_files"], "repeats": s["predict_repeats"]})):
        if not want(key):
            continue
        if not have_run:
            r.skip(key, label, "not measured: the demo run failed (no summary.json)")
            continue
        r.run(key, label, None, pin=(key == "predict"), params=params())
    if want("training"):
        gpus = monitor.gpu_names()
        if not gpus:
            r.skip("gpu_training", "training on the GPU", NO_GPU)
        elif not have_run:
            r.skip("gpu_training", "training on the GPU", "not measured: the demo run failed (no summary.json)")
        else:
            r.run("gpu_training", "training, model.fit on the GPU", None, gpu=True, uses_gpu_sampler=True,
                  params={"stage": "training", "run": run_dir, "epochs": s["train_epochs"], "device": "gpu"})
    return r


# ------------------------------------------------------------------------------------------------ main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: tiny counts and a tiny demo (not a measurement)")
    p.add_argument("--out", default=None, help="Markdown report (default bench/results/stages[_quick].md)")
    p.add_argument("--update-readme", action=argparse.BooleanOptionalAction, default=None,
                   help="rewrite the table between the README's bench:stages markers (default: on, off with --quick)")
    p.add_argument("--readme", default=README, help=argparse.SUPPRESS)  # tests point it at a copy
    p.add_argument("--data-root", default=DATA_ROOT, help="corpus for synthesis and predict (default: bundled)")
    p.add_argument("--run", default=None, help="use this finished `audioclf run` output instead of running the "
                                               "demo (the demo row then says not measured)")
    p.add_argument("--only", default=None, help="comma-separated subset: demo,synthesis,example_gen,input,training,predict")
    p.add_argument("--tmp-dir", default=None, help="where the demo's output and the stages' files go (default: system temp)")
    p.add_argument("--keep-tmp", action="store_true", help="keep the demo's output and the stage logs")
    _util.add_idle_args(p)
    p.add_argument("--stage", help=argparse.SUPPRESS)
    p.add_argument("--params", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.update_readme is None:
        args.update_readme = not (args.quick or args.only or args.run)
    if args.out is None:
        args.out = _util.results_path("stages", args.quick)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.stage:
        stage_main(args.stage, args.params, args.result)
        return 0
    settings = dict(QUICK if args.quick else FULL)
    gpus = monitor.gpu_names()
    print(f"bench.stages: {machine_summary(gpus)}", flush=True)
    tmp = tempfile.mkdtemp(prefix="bench-stages-", dir=args.tmp_dir)
    load_before, start = os.getloadavg(), time.perf_counter()
    commit = _util.git_commit()   # the code measured: read before this run writes its report and the README
    failed = True
    try:
        runner = run_all(args, settings, tmp)
        gpu_entry = runner.results.get("gpu_training")
        if gpu_entry and gpu_entry.get("gpu_samples") and "result" in gpu_entry:
            stamps = gpu_entry["result"].get("stamps") or []
            window = (stamps[1], stamps[-1]) if len(stamps) > 2 else (None, None)
            gpu_entry["gpu_summary"] = monitor.gpu_summary(gpu_entry["gpu_samples"], *window)
        total_s = time.perf_counter() - start
        text, rows = build_report(runner, args, load_before, os.getloadavg(), total_s, gpus, commit)
        _util.write_report(args.out, text)
        if args.update_readme:
            update_readme(args.readme, readme_block(rows, runner.results, gpus, args.quick, total_s, commit))
            print(f"(table written into {args.readme})")
        failed = any("error" in e for e in runner.results.values())
    finally:
        if args.keep_tmp or failed:
            print(f"(stage files and logs kept in {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
