"""bench.stages, the report half: the measured results as table rows, the Markdown report with the
machine it ran on, and the README table between its markers (bench/stages.py runs the stages)."""
import json
import os
import statistics
import sys
import time
import types
from importlib import metadata

from bench import _util
from bench.bench_training import steady_cores
from pipeline.summary_schema import RunSummary
from trainer.config import ACCURACY_METRIC

README_START, README_END = "<!-- bench:stages:start -->", "<!-- bench:stages:end -->"
NO_GPU = "no GPU on this machine: not measured"


def _ms(values):
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    return statistics.mean(values) * 1e3, p90 * 1e3


def _num(x):
    """Three significant digits below 100 (0.0421, 4.21, 42.1), whole numbers above."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _minutes(seconds):
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s" if seconds >= 59.5 else f"{seconds:.0f} s"


def _rate_of(epoch_seconds, examples):
    return statistics.median(examples / t for t in epoch_seconds)


def result_rows(results, settings):
    """(key, stage, result text) per stage; the result starts with a bold number, or says why not measured."""
    rows = []

    def res(key):
        entry = results.get(key)
        if entry is None:
            return None, "not run (--only)"
        if "skipped" in entry:
            return None, entry["skipped"]
        if "error" in entry:
            return None, f"FAILED: {entry['error']} (log: {entry['log']})"
        return entry.get("result", {}), None

    demo = results.get("demo", {})
    if "wall_s" in demo and "error" not in demo:
        summ = RunSummary.model_validate(demo["summary"])
        model = summ.model
        accuracy = model.test_metric(ACCURACY_METRIC)
        clips = sum(v.clips or 0 for v in summ.splits.values())
        text = (f"**{_minutes(demo['wall_s'])}** wall: {clips} clips, "
                f"{model.training.epochs_run if model.training else '?'} epochs, test accuracy "
                f"{accuracy if accuracy is not None else '?'}, {'blessed' if model.blessed else 'NOT blessed'}"
                + ("" if demo["rc"] == 0 else f" (exit status {demo['rc']})"))
    else:
        text = res("demo")[1]
    rows.append(("demo", "whole demo (`audioclf run`)", text))

    one, why = res("synthesis_one_core")
    ours_ms = None
    if one is not None:
        totals = [sum(t) for t in one["times"]]
        ours_ms = totals
        mean, p90 = _ms(totals)
        parts = [statistics.mean(t[i] for t in one["times"]) * 1e3 for i in range(3)]
        text = (f"**{mean:.1f} ms** per {settings['clip_seconds']:g} s clip on one core (p90 {p90:.1f}; "
                f"{len(totals)} clips, warm cache: synth {parts[0]:.1f} + encode {parts[1]:.1f} + write {parts[2]:.1f})")
    else:
        text = why
    rows.append(("synthesis_one_core", "synthesis, ours, 1 pinned core", text))

    pydub, why = res("synthesis_pydub")
    if pydub is not None:
        k = len(pydub["times"])
        mean, p90 = _ms(pydub["times"])
        same = statistics.mean(ours_ms[:k]) * 1e3
        text = (f"**{mean:.0f} ms** per clip on one core (p90 {p90:.0f}; {k} clips): **{mean / same:.1f}x** ours "
                f"on the same {k} clip plans ({same:.1f} ms)")
    else:
        text = why
    rows.append(("synthesis_pydub", "synthesis, blog post's pydub way, 1 pinned core", text))

    beam = {}
    for workers in (1, 2):
        b, why = res(f"synthesis_beam_{workers}")
        if b is not None:
            beam[workers] = b
            text = (f"**{_num(b['throughput'])} clips/s**, **{b['ms_per_clip_core']:.1f} ms** per clip per core "
                    f"({b['clips']} clips; steady state between first and last clip; wall {b['wall_s']:.1f} s incl. "
                    f"worker start-up, first clip done at {b['first_finish_s']:.1f} s)")
            if workers == 2 and 1 in beam:
                text += f"; {b['throughput'] / beam[1]['throughput']:.2f}x the 1-worker throughput"
        else:
            text = why
        rows.append((f"synthesis_beam_{workers}", f"synthesis, Beam DirectRunner, {workers} worker(s)", text))

    eg, why = res("example_gen")
    if eg is not None:
        mb = eg["wav_bytes"] / 1e6
        text = (f"**{_num(mb / eg['wall_s'])} MB/s** of WAV, **{_num(eg['clips'] / eg['wall_s'])} clips/s** ({eg['clips']} "
                f"clips of {eg['clip_seconds']:g} s at {eg['sample_rate']} Hz, {_num(mb)} MB WAV -> "
                f"{_num(eg['tfrecord_bytes'] / 1e6)} MB GZIP TFRecords ({eg['encoding']}) in {eg['wall_s']:.1f} s, "
                f"wall time of Executor.Do incl. Beam start-up; {' '.join(eg['beam_args'])})")
    else:
        text = why
    rows.append(("example_gen", "AudioExampleGen (executor, Beam)", text))

    inp, why = res("input")
    if inp is not None:
        n = inp["examples_per_epoch"]
        shape = "x".join(str(d) for d in inp["feature_shape"])
        text = (f"**{_num(_rate_of(inp['warm_s'], n))} examples/s** raw audio -> features [{shape}] (cache={inp['cache']!r}, "
                f"epochs after the first, median); first pass from disk {_num(n / inp['cold_s'])}/s; make_dataset "
                f"alone {_num(_rate_of(inp['alone_warm_s'], n))}/s ({inp['clip_s']:g} s clips)")
    else:
        text = why
    rows.append(("input", "tf.data input + kapre front end, CPU", text))

    for key, stage in (("training", "training, `model.fit`, CPU"), ("gpu_training", "training, `model.fit`, GPU")):
        t, why = res(key)
        if t is not None and "not_measured" in t:
            text = t["not_measured"]
        elif t is not None:
            n = t["steps"] * t["batch"]
            rate = _rate_of(t["epoch_s"][1:], n)
            text = (f"**{_num(rate)} examples/s** (median of epochs 2-{len(t['epoch_s'])}, {t['steps']} steps of "
                    f"{t['batch']}; epoch 1 {t['epoch_s'][0]:.1f} s not counted; {t['params']:,} parameters)")
            if t.get("epoch_cpu_s") and len(t["epoch_s"]) > 1:   # CPU seconds / wall seconds of epochs 2+
                text += f"; **{steady_cores(t['epoch_s'], t['epoch_cpu_s']):.2f} cores** busy in epochs 2+"
                if t.get("own_cores") is not None:
                    text += f" ({t['own_cores']:.2f} over the whole fit, epoch 1's tracing included)"
            elif t.get("own_cores") is not None:   # CPU seconds / wall seconds of the whole timed fit
                text += f"; **{t['own_cores']:.2f} cores** busy in `model.fit` (all epochs)"
            gpu = results[key].get("gpu_summary")
            if gpu:
                text += (f"; GPU utilisation mean **{gpu['util_mean']:.0f} %** (max {gpu['util_max']:.0f} %), "
                         f"memory used max {gpu['memory_max_mib']:.0f} MiB ({gpu['samples']} samples"
                         + (", whole stage" if gpu["whole_stage"] else ", epochs 2+") + ")")
        else:
            text = why
        rows.append((key, stage, text))

    pr, why = res("predict")
    if pr is not None:
        best, med = min(pr["totals_s"]), statistics.median(pr["totals_s"])
        text = (f"**{pr['audio_s'] / best:.0f}x** real time on one core ({pr['files']} files, {pr['audio_s']:.0f} s of "
                f"audio, classify_file end to end; best of {len(pr['totals_s'])}, median {pr['audio_s'] / med:.0f}x; "
                f"{best / pr['files'] * 1e3:.1f} ms per file; TF threads {pr['threads'][0]}+{pr['threads'][1]})")
    else:
        text = why
    rows.append(("predict", "`predict`, 1 pinned core", text))
    return rows


def memory_cells(entry):
    if not entry or "peak_pss_mb" not in entry or entry.get("result", {}).get("not_measured"):
        return "-", "-"
    return (f"{entry['peak_pss_mb']:.0f}",
            f"{entry['peak_rss_mb']:.0f} / {entry['max_rss_mb']:.0f} ({entry['peak_processes']} "
            f"process{'es' if entry['peak_processes'] != 1 else ''})")


def load_cells(entry):
    res = (entry or {}).get("result") or {}
    if "other_cores" not in res:
        if entry and "meter" in entry:
            m = entry["meter"]
            return f"{m.own_cores:.2f} / {m.other_cores:.2f} (whole stage)"
        return "-"
    return f"{res['own_cores']:.2f} / {res['other_cores']:.2f}"


def machine_summary(gpus):
    usable = len(os.sched_getaffinity(0))
    return (f"{_util.cpu_model()}, {usable} cores, {_util.ram_gib():.0f} GiB RAM, {_util.os_name()}, "
            f"Python {sys.version.split()[0]}, TensorFlow {_tf_version()}, GPU: {', '.join(gpus) or 'none'}")


def _tf_version():
    try:
        return metadata.version("tensorflow")
    except metadata.PackageNotFoundError:
        return "not installed"


def build_report(runner, args, load_before, load_after, total_s, gpus, commit):
    results = runner.results
    rows = result_rows(results, runner.settings)
    lines = ["# Every stage of audioclf, one run on this machine", ""]
    if args.quick:
        lines += _util.QUICK_NOTE
    lines += ["Machine:", ""] + _util.machine_lines([
        f"tensorflow {_tf_version()}; GPU: {', '.join(gpus) or 'none (no nvidia-smi or no GPU)'}",
        f"git commit: {commit}",
        f"load average before / after: {' '.join(f'{v:.2f}' for v in load_before)} / "
        f"{' '.join(f'{v:.2f}' for v in load_after)}",
        f"benchmark wall time: {_minutes(total_s)}; "
        f"settings: {json.dumps({k: v for k, v in runner.settings.items() if k != 'demo_args'})}"
        + (f"; demo args: {' '.join(runner.settings['demo_args'])}" if runner.settings["demo_args"] else ""),
    ]) + [""]
    table_rows = []
    for key, stage, text in rows:
        entry = results.get(key)
        pss, others = memory_cells(entry)
        wall = f"{entry['wall_s']:.1f}" if entry and "wall_s" in entry else "-"
        table_rows.append([stage, text, pss, others, wall, load_cells(entry)])
    lines += [_util.table(["stage", "result", "peak memory MB (tree PSS)", "tree RSS MB / largest process MB",
                           "stage wall s", "CPU cores: ours / rest of machine"], table_rows), ""]
    lines += [
        "How each figure is measured (every stage in its own subprocess, one after the other):",
        "",
        "- **peak memory**: the stage process and all its descendants (Beam's SDK worker processes, ffmpeg) are "
        "listed every 0.2 s with psutil and their PSS (proportional set size, /proc/<pid>/smaps_rollup: shared pages "
        "split between the processes sharing them) summed; the column is the highest sum seen. The RSS sum counts "
        "shared pages (TensorFlow's libraries in every worker) once per process, an upper bound; the largest process is "
        "os.wait4's ru_maxrss, the kernel's exact peak of the single largest process. A peak shorter than 0.2 s can be "
        "missed by the sums, not by ru_maxrss.",
        "- **synthesis, one core / pydub**: the stage process is pinned to one CPU (sched_setaffinity before it "
        "starts, so all its threads); bench/bench_synthesis.py parts (a) and (d): one 60 s clip = synthesize_clip "
        "with a warmed UtteranceCache + encode_wav + writing a new WAV; pydub = AudioSegment/ffmpeg on the same clip "
        "plans (files, offsets, speeds, gains), export(wav). The ratio is from this run.",
        "- **synthesis, Beam**: part (e) of bench_synthesis.py: the project's SynthesizeClip DoFn in Create -> "
        "Reshuffle -> ParDo on the DirectRunner (multi_processing); steady clips/s = (clips - 1) / (last - first "
        "clip finish time); ms per clip per core = workers / steady clips/s.",
        "- **AudioExampleGen**: the component's Executor.Do run directly (not a stand-in DoFn) on the demo's clips "
        "with the default config's Beam arguments; MB/s = WAV bytes read / wall time of Do, Beam worker start-up "
        "included (as a pipeline run pays it).",
        "- **tf.data input**: trainer.input.make_dataset(training=True) as the Trainer makes it, one iterator pulled "
        "inside a tf.function that also applies the real model's front end (trainer.model.build_model up to the "
        "`segments` framing layer: mel spectrogram in dB, mean normalization, delta, framing) to each batch, "
        "traced beforehand; GPU hidden.",
        "- **training**: model.fit of trainer.model.build_model on the demo's train split with its trainer settings, "
        "one device, one pass per epoch; epoch 1 (tracing, cache fill) not counted. CPU: GPU hidden "
        "(CUDA_VISIBLE_DEVICES=''); cores busy = the process's CPU seconds over wall seconds in epochs 2+. "
        "GPU: nvidia-smi utilization.gpu and memory.used sampled every 0.2 s, over "
        "epochs 2+.",
        "- **predict**: the process pinned to one CPU, TensorFlow with 1 intra-op and 1 inter-op thread, the demo's "
        "pushed model; classify_file (decode, resample, window, classify) on each corpus file after one untimed "
        "call; x real time = seconds of audio / seconds of compute.",
        "- **demo**: `audioclf run --output <fresh temp dir>` (GPU visible if any), wall time of the process.",
        "- **CPU cores**: CPU seconds / wall seconds of the timed part (the whole stage where marked): ours = the "
        "stage's processes, rest of machine = everything else busy meanwhile (/proc/stat).",
        "",
    ]
    warn = []
    for key, stage, _ in rows:
        entry = results.get(key) or {}
        res = entry.get("result") or {}
        other = res.get("other_cores", entry["meter"].other_cores if "meter" in entry else 0.0)
        warn.append((stage, types.SimpleNamespace(other_cores=other)))
    lines += _util.load_warnings(warn)
    return "\n".join(lines), rows


def readme_block(rows, results, gpus, quick, total_s, commit):
    table = [[stage, text, memory_cells(results.get(key))[0]] for key, stage, text in rows]
    return "\n".join([
        f"All stages in one run of `.venv/bin/python -m bench.stages{' --quick' if quick else ''}` ({_minutes(total_s)}; "
        f"full report with how each figure is measured: `bench/results/stages{'_quick' if quick else ''}.md`) on "
        f"{machine_summary(gpus)}; {time.strftime('%Y-%m-%d', time.gmtime())}, commit {commit}:",
        "",
        _util.table(["stage", "result", "peak memory MB (process tree PSS)"], table),
    ])


def update_readme(path, block):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if README_START not in text or README_END not in text:
        raise SystemExit(f"{path}: no {README_START} ... {README_END} markers to put the table between")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{README_START}\n{block}\n{README_END}{tail}")
