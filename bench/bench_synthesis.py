"""How fast is clip synthesis? Ours (numpy, cached decodes) against the blog post's pydub way, and Beam scaling.

Measures, on 60 s clips of the train split of the bundled corpus (data/librispeech-mini):
  (a) ours, warm   - synthesize_clip with a warmed UtteranceCache + audio.encode_wav + writing the WAV, one core
  (a2)             - (a) in a child process whose glibc malloc keeps freed memory (shows the page-fault share)
  (b) ours, cold   - the same with a fresh cache per clip (every utterance decoded from FLAC)
  (c) decode+write - only decoding the utterances a clip uses, plus encoding and writing a 60 s WAV
  (d) pydub        - the original Colab post's way (AudioSegment/ffmpeg), on the same clip plans
  (e) Beam         - the project's SynthesizeClip DoFn on the DirectRunner with 1 and 2 worker processes

Run:  .venv/bin/python bench/bench_synthesis.py [--sample-rate 22050] [--quick] [--out FILE]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from bench import _util  # noqa: E402
from components.audio_synthesis import synthesis  # noqa: E402
from components.common import audio, fs, progress  # noqa: E402
from components.speaker_index import corpus  # noqa: E402
from pipeline.config import load_config  # noqa: E402

SPLIT = "train"
# glibc returns big freed blocks (numpy temporaries of a 60 s clip are MBs) to the kernel at once, so every
# clip page-faults fresh zeroed pages; these settings make it keep and reuse them (a2 measures the effect).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 32), "MALLOC_TRIM_THRESHOLD_": str(1 << 32),
              "MALLOC_TOP_PAD_": str(256 << 20)}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=os.path.join(_util.REPO_ROOT, "data", "librispeech-mini"))
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--clip-seconds", type=float, default=60.0)
    p.add_argument("--clips", type=int, default=120, help="clips for (a), (b), (c)")
    p.add_argument("--pydub-clips", type=int, default=25, help="clips for (d)")
    p.add_argument("--beam-clips", type=int, default=600, help="clips per Beam run in (e)")
    p.add_argument("--workers", default="1,2", help="Beam worker counts for (e)")
    p.add_argument("--beam-repeats", type=int, default=3, help="Beam runs per worker count, interleaved; medians reported")
    p.add_argument("--skip-beam", action="store_true")
    _util.add_idle_args(p)
    p.add_argument("--no-malloc-variant", action="store_true",
                   help="skip (a2): (a) again in a child process with glibc's malloc told to keep freed memory")
    p.add_argument("--warm-only", action="store_true", help=argparse.SUPPRESS)  # (a2)'s child: JSON on stdout
    p.add_argument("--quick", action="store_true", help="smoke check: tiny counts (not a measurement)")
    p.add_argument("--tmp-dir", default=None, help="where clips are written (default: the system temp dir)")
    p.add_argument("--out", default=None, help="Markdown file (default bench/results/synthesis_<rate>hz.md)")
    args = p.parse_args()
    if args.quick:
        args.clips, args.pydub_clips, args.beam_clips, args.beam_repeats = 8, 3, 40, 1
    if args.out is None:
        suffix = "_quick" if args.quick else ""
        args.out = os.path.join(_util.REPO_ROOT, "bench", "results", f"synthesis_{args.sample_rate}hz{suffix}.md")
    return args


# --------------------------------------------------------------------------------------------- ours


def clip_setup(data_root, sample_rate, clip_seconds):
    """(synthesis config, speaker index, train-split pools, seconds the index took) for clips of this length
    and rate; every part of this benchmark (and bench/stages.py) works on these."""
    config = load_config(overrides=[f"synthesis.clip_seconds={clip_seconds:g}", f"synthesis.sample_rate={sample_rate}"])
    start = time.perf_counter()
    index = corpus.build_index(data_root, config.corpus)
    index_s = time.perf_counter() - start
    return config.synthesis, index, synthesis.split_pools(index, SPLIT), index_s


def warm_cache(indices, pools, config, data_root, out_dir):
    """One UtteranceCache shared by all clips, filled by an untimed pass over the same clips: (a)'s setting."""
    shared = synthesis.UtteranceCache(config.sample_rate, config.cache_mb << 20)
    run_ours(indices, pools, config, lambda: shared, out_dir)
    return shared


def _parts(times, *names) -> str:
    """'synth 1.2 + encode 0.3 + write 0.1': the mean milliseconds of each column of `times` (seconds)."""
    return " + ".join(f"{name} {_util.ms(times[:, i]).mean():.1f}" for i, name in enumerate(names))


def run_ours(indices, pools, config, cache_factory, out_dir):
    """Per-clip (synth, encode, write) seconds and the clip metadata; cache_factory() per clip or shared."""
    rate = config.sample_rate
    times, metas = [], []
    out_dir = tempfile.mkdtemp(dir=out_dir)
    for i in indices:
        cache = cache_factory()
        t0 = time.perf_counter()
        samples, meta = synthesis.synthesize_clip(SPLIT, i, pools, config, cache.get)
        t1 = time.perf_counter()
        data = audio.encode_wav(samples, rate)
        t2 = time.perf_counter()
        fs.write_bytes(os.path.join(out_dir, f"clip-{i:06d}.wav"), data)  # a new file per clip, as the DoFn
        t3 = time.perf_counter()
        times.append((t1 - t0, t2 - t1, t3 - t2))
        metas.append(meta)
    shutil.rmtree(out_dir)
    return np.asarray(times), metas


def run_decode_write(metas, data_root, rate, length, out_dir):
    """Per clip: decode each distinct utterance it uses, then encode + write a clip-length WAV."""
    times = []
    out_dir = tempfile.mkdtemp(dir=out_dir)
    silence = np.zeros(length, dtype=np.float32)
    for meta in metas:
        paths = sorted({u["path"] for u in meta["utterances"]})
        t0 = time.perf_counter()
        for rel in paths:
            audio.decode_audio(os.path.join(data_root, rel), rate)
        t1 = time.perf_counter()
        data = audio.encode_wav(silence, rate)
        fs.write_bytes(os.path.join(out_dir, f"{meta['clip_id']}.wav"), data)
        t2 = time.perf_counter()
        times.append((t1 - t0, t2 - t1, len(paths)))
    shutil.rmtree(out_dir)
    return np.asarray(times)


# -------------------------------------------------------------------------------------------- pydub


def pydub_clip(meta, data_root, rate, clip_ms, path):
    """The Colab post's way, driven by the plan synthesize_clip made (same files, offsets, speeds, gains)."""
    from pydub import AudioSegment  # pylint: disable=import-outside-toplevel

    clip = AudioSegment.silent(duration=clip_ms, frame_rate=rate)
    for u in meta["utterances"]:
        seg = AudioSegment.from_file(os.path.join(data_root, u["path"]))  # FLAC through ffmpeg
        seg = seg._spawn(seg.raw_data, overrides={"frame_rate": int(seg.frame_rate * u["speed"])})
        seg = seg.set_frame_rate(rate)
        seg = seg.apply_gain(u["gain_db"])
        clip = clip.overlay(seg, position=int(round(u["at_s"] * 1000)))
    clip.export(path, format="wav")


def run_pydub(metas, data_root, rate, clip_seconds, out_dir):
    times = []
    out_dir = tempfile.mkdtemp(dir=out_dir)
    for meta in metas:
        t0 = time.perf_counter()
        pydub_clip(meta, data_root, rate, int(round(clip_seconds * 1000)), os.path.join(out_dir, f"{meta['clip_id']}.wav"))
        times.append(time.perf_counter() - t0)
    shutil.rmtree(out_dir)
    return np.asarray(times)


# --------------------------------------------------------------------------------------------- Beam


def run_beam(index, config, clips, workers, tmp_root):
    """One DirectRunner run; returns wall seconds and the per-clip timing records."""
    import apache_beam as beam  # pylint: disable=import-outside-toplevel
    from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=import-outside-toplevel

    from bench.beam_timing import TimedSynthesizeClip, write_lines  # pylint: disable=import-outside-toplevel

    work_dir = tempfile.mkdtemp(prefix=f"bench-beam{workers}-", dir=tmp_root)
    try:
        index_dir = os.path.join(work_dir, "speaker_index")
        out_dir = os.path.join(work_dir, "clips")
        os.makedirs(index_dir)
        for split in ("train", "eval", "test"):
            os.makedirs(os.path.join(out_dir, split))
        with open(os.path.join(index_dir, "speaker_index.json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(index))
        results = os.path.join(work_dir, "timing.jsonl")
        options = PipelineOptions(["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                                   f"--direct_num_workers={workers}"])
        start = time.time()
        meter = _util.CpuMeter().__enter__()
        with beam.Pipeline(options=options) as pipeline:
            _ = (pipeline
                 | "ClipIds" >> beam.Create([(SPLIT, i) for i in range(clips)])
                 | "Distribute" >> beam.Reshuffle()
                 | "Synthesize" >> beam.ParDo(TimedSynthesizeClip(index_dir, config, False, out_dir, progress.WorkerCount()))
                 | "Collect" >> beam.combiners.ToList()
                 | "Write" >> beam.Map(write_lines, results))
        wall = time.time() - start
        meter.__exit__(None, None, None)
        with open(results, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        written = len(os.listdir(os.path.join(out_dir, SPLIT)))
        return wall, start, records, written, meter
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)  # the clips are ~2 MB each


def beam_summary(workers, clips, wall, start, records, written, meter):
    finished = np.sort([r["finished"] for r in records])
    span = finished[-1] - finished[0]
    throughput = (len(finished) - 1) / span if span > 0 else float("nan")
    pids = {}
    for r in records:
        pids.setdefault(r["pid"], []).append(r)
    in_dofn = np.mean([r["process_s"] for r in records]) * 1e3
    setup = max(r["setup_s"] for r in records)
    return {"workers": workers, "clips": len(records), "written": written, "wall_s": wall,
            "first_finish_s": finished[0] - start, "last_finish_s": finished[-1] - start, "span_s": span,
            "throughput": throughput, "ms_per_clip_core": workers * 1e3 / throughput,
            "in_dofn_ms": in_dofn, "setup_s": setup,
            "per_pid": sorted(len(v) for v in pids.values()), "requested": clips, "meter": meter}


# ---------------------------------------------------------------------------------------------- main


def main():
    args = parse_args()
    rate = args.sample_rate
    syn, index, pools, index_s = clip_setup(args.data_root, rate, args.clip_seconds)
    length = int(round(syn.clip_seconds * rate))
    data_root = os.path.abspath(args.data_root)  # the index holds full paths; joining keeps them
    n_speakers = sum(len(v) for v in pools.values())
    n_files = sum(len(f) for v in pools.values() for f in v.values())
    indices = list(range(args.clips))
    tmp = tempfile.mkdtemp(prefix="bench-synthesis-", dir=args.tmp_dir)
    print(f"index built in {index_s:.2f} s; {SPLIT}: {n_speakers} speakers, {n_files} files; "
          f"{args.clips} clips of {syn.clip_seconds:g} s at {rate} Hz", flush=True)
    if args.warm_only:
        shared = warm_cache(indices, pools, syn, data_root, tmp)
        warm, _ = run_ours(indices, pools, syn, lambda: shared, tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        print("WARM_JSON " + json.dumps(warm.tolist()))
        return
    load_before = os.getloadavg()

    def measured(fn, label):
        return _util.measure(fn, label, wait_idle=not args.no_wait_idle, retries=args.retries)

    meters = {}
    old_affinity = _util.pin_to_one_core()
    try:
        # (a) warm: one shared cache, filled by an untimed pass over the same clips.
        shared = warm_cache(indices, pools, syn, data_root, tmp)
        (warm, metas), meters["a"] = measured(lambda: run_ours(indices, pools, syn, lambda: shared, tmp), "(a)")
        print("(a) warm done", flush=True)
        warm_malloc = None
        if not args.no_malloc_variant:
            import subprocess  # pylint: disable=import-outside-toplevel
            cmd = [sys.executable, os.path.abspath(__file__), "--warm-only", "--data-root", args.data_root,
                   "--sample-rate", str(rate), "--clip-seconds", f"{args.clip_seconds:g}", "--clips", str(args.clips)]
            if args.tmp_dir:
                cmd += ["--tmp-dir", args.tmp_dir]
            done, meters["a2"] = measured(lambda: subprocess.run(cmd, env={**os.environ, **MALLOC_ENV}, check=True,
                                                                 capture_output=True, text=True), "(a2)")
            line = [out for out in done.stdout.splitlines() if out.startswith("WARM_JSON ")][-1]
            warm_malloc = np.asarray(json.loads(line[len("WARM_JSON "):]))
            print("(a2) warm, malloc tuned done", flush=True)
        # (b) cold: a fresh cache per clip.
        (cold, _), meters["b"] = measured(lambda: run_ours(
            indices, pools, syn, lambda: synthesis.UtteranceCache(rate, syn.cache_mb << 20), tmp), "(b)")
        print("(b) cold done", flush=True)
        # (c) decode + write only.
        decode_write, meters["c"] = measured(lambda: run_decode_write(metas, data_root, rate, length, tmp), "(c)")
        print("(c) decode+write done", flush=True)
        # (d) pydub on the first clips' plans (one untimed clip first, so ffmpeg/pydub are loaded).
        pydub_metas = metas[:args.pydub_clips]
        run_pydub(pydub_metas[:1], data_root, rate, syn.clip_seconds, tmp)
        pydub, meters["d"] = measured(lambda: run_pydub(pydub_metas, data_root, rate, syn.clip_seconds, tmp), "(d)")
        print("(d) pydub done", flush=True)
    finally:
        _util.unpin(old_affinity)
        shutil.rmtree(tmp, ignore_errors=True)

    # (e) Beam, with every core available again. Workers import bench.beam_timing from the repo root.
    beam_rows = []
    if not args.skip_beam:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [_util.REPO_ROOT, os.environ.get("PYTHONPATH")] if p)
        for repeat in range(args.beam_repeats):
            for workers in [int(w) for w in args.workers.split(",")]:
                result, _ = measured(lambda: run_beam(index, syn, args.beam_clips, workers, args.tmp_dir),
                                     f"(e) {workers} worker(s)")
                row = beam_summary(workers, args.beam_clips, *result)
                row["repeat"] = repeat + 1
                beam_rows.append(row)
                print(f"(e) run {repeat + 1}, {workers} worker(s): wall {row['wall_s']:.1f} s, "
                      f"{row['throughput']:.1f} clips/s", flush=True)
    load_after = os.getloadavg()

    # ------------------------------------------------------------------------------------- report
    warm_total, cold_total = _util.ms(warm.sum(axis=1)), _util.ms(cold.sum(axis=1))
    dw_total = _util.ms(decode_write[:, 0] + decode_write[:, 1])
    pydub_ms = _util.ms(pydub)
    k = len(pydub_ms)
    warm_same, cold_same = warm_total[:k], cold_total[:k]
    n_utt = np.array([len(m["utterances"]) for m in metas])
    n_sim = sum(m["mode"] == synthesis.SIMULTANEOUS for m in metas)

    lines = [f"# Clip synthesis benchmark ({syn.clip_seconds:g} s clips, {rate} Hz)", ""]
    if args.quick:
        lines += _util.QUICK_NOTE
    lines += ["Machine:", ""] + _util.machine_lines([
        f"numpy {np.__version__}, ffmpeg-backed pydub for (d)",
        f"load average before / after: {' '.join(f'{v:.2f}' for v in load_before)} / "
        f"{' '.join(f'{v:.2f}' for v in load_after)}",
        f"corpus: {data_root} ({SPLIT} split: {n_speakers} speakers, {n_files} files); speaker index built in {index_s:.2f} s",
        f"clips: {SPLIT} 0..{args.clips - 1}: {n_sim} simultaneous / {len(metas) - n_sim} sequential, "
        f"{n_utt.mean():.1f} utterances per clip on average (min {n_utt.min()}, max {n_utt.max()})",
        "(a)-(d) run pinned to one CPU (os.sched_setaffinity); every clip is written to a new file in a temp dir "
        "(fs.write_bytes, temp name + rename, as the DoFn does; pydub: export()), deleted after each part",
    ]) + [""]

    rows = [
        ["(a) ours, warm cache (synth + encode_wav + write)", len(warm_total), *_util.mean_p90(warm_total),
         _parts(warm, "synth", "encode", "write"),
         meters["a"].summary()],
        *([["(a2) = (a), glibc malloc keeping freed memory (see note)", len(warm_malloc),
             *_util.mean_p90(_util.ms(warm_malloc.sum(axis=1))),
             _parts(warm_malloc, "synth", "encode", "write"),
             meters["a2"].summary()]] if warm_malloc is not None else []),
        ["(b) ours, cold cache (every utterance decoded)", len(cold_total), *_util.mean_p90(cold_total),
         _parts(cold, "synth incl. decode", "encode", "write"),
         meters["b"].summary()],
        ["(c) decode the clip's utterances + encode/write a WAV only", len(dw_total), *_util.mean_p90(dw_total),
         f"decode {_util.ms(decode_write[:, 0]).mean():.1f} ({decode_write[:, 2].mean():.1f} files) + "
         f"encode/write {_util.ms(decode_write[:, 1]).mean():.1f}",
         meters["c"].summary()],
        ["(d) blog post's pydub way (same clip plans)", k, *_util.mean_p90(pydub_ms),
         f"ours on the same {k} clips: warm {warm_same.mean():.1f}, cold {cold_same.mean():.1f}",
         meters["d"].summary()],
    ]
    lines += ["## One core, ms per clip", "",
              _util.table(["method", "clips", "mean ms", "p90 ms", "breakdown (mean ms)",
                           "CPU cores: ours / rest of machine"], rows), ""]
    if warm_malloc is not None:
        lines += ["(a2) is a diagnostic, not the project's setting: (a) repeated in a child process started with "
                  + ", ".join(f"`{k}={v}`" for k, v in MALLOC_ENV.items()) + ", so that glibc reuses freed memory "
                  "instead of unmapping it; the difference to (a) is the kernel time spent page-faulting fresh zeroed "
                  "pages for the clip's multi-MB numpy temporaries.", ""]
    lines += [f"pydub / ours (same {k} clips, same run): **{pydub_ms.mean() / warm_same.mean():.1f}x** vs warm, "
              f"**{pydub_ms.mean() / cold_same.mean():.1f}x** vs cold.", ""]

    if beam_rows:
        brow = []
        for b in beam_rows:
            m = b["meter"]
            brow.append([b["repeat"], b["workers"], f"{b['clips']} ({b['written']} WAVs)", f"{b['wall_s']:.1f}",
                         f"{b['first_finish_s']:.1f} / {b['last_finish_s']:.1f}", f"{b['throughput']:.1f}",
                         f"{b['ms_per_clip_core']:.1f}", f"{b['in_dofn_ms']:.1f}",
                         "+".join(str(c) for c in b["per_pid"]),
                         f"{m.self_cores:.2f} / {m.child_cores:.2f} / {m.other_cores:.2f}"])
        lines += [f"## Beam DirectRunner (multi_processing), project's SynthesizeClip DoFn, {args.beam_clips} clips", "",
                  _util.table(["run", "workers", "clips", "wall s (incl. start-up)", "first / last clip done at s",
                               "steady clips/s", "ms per clip per core", "DoFn process() ms/clip",
                               "clips per worker process", "CPU cores: runner / workers / rest of machine"], brow), ""]
        by_n = {}
        for b in beam_rows:
            by_n.setdefault(b["workers"], []).append(b)
        med = {n: {"throughput": float(np.median([b["throughput"] for b in v])),
                   "wall_s": float(np.median([b["wall_s"] for b in v])),
                   "in_dofn_ms": float(np.median([b["in_dofn_ms"] for b in v]))} for n, v in by_n.items()}
        summary = [[n, len(by_n[n]), f"{m['wall_s']:.1f}", f"{m['throughput']:.1f}", f"{n * 1e3 / m['throughput']:.1f}",
                    f"{m['in_dofn_ms']:.1f}"] for n, m in sorted(med.items())]
        lines += [f"Medians over {args.beam_repeats} interleaved run(s):", "",
                  _util.table(["workers", "runs", "wall s", "steady clips/s", "ms per clip per core",
                               "DoFn process() ms/clip"], summary), ""]
        if 1 in med and 2 in med:
            one, two = med[1], med[2]
            best = {n: max(b["throughput"] for b in v) for n, v in by_n.items()}
            lines += ["Speed-up with 2 workers (medians): steady-state throughput "
                      f"**{two['throughput'] / one['throughput']:.2f}x**, "
                      f"wall time **{one['wall_s'] / two['wall_s']:.2f}x** (best runs: throughput "
                      f"{best[2] / best[1]:.2f}x).", ""]
        lines += ["steady clips/s = (clips - 1) / (last finish - first finish), from time.time() stamped in the DoFn; "
                  "ms per clip per core = workers / steady clips/s. CPU cores = CPU seconds / wall seconds of the run: "
                  "runner = this process (pipeline, Reshuffle, data plane), workers = the SDK worker processes, "
                  "rest of machine = everything else busy meanwhile (/proc/stat). The clips are deleted after each run.", ""]
    busy = [(f"({name})", m.other_cores) for name, m in meters.items()]
    busy += [(f"(e) run {b['repeat']} with {b['workers']} worker(s)", b["meter"].other_cores) for b in beam_rows]
    busy = [(name, c) for name, c in busy if c > _util.OTHER_LOAD_WARN]
    if busy:
        lines += ["**Warning: other processes were using the machine during " +
                  ", ".join(f"{name} ({c:.2f} cores)" for name, c in busy) +
                  "; those figures are slowed down by them.** Re-run on an idle machine.", ""]
    _util.write_report(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
