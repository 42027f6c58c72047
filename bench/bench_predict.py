"""How fast does `audioclf predict` classify, as a multiple of real time on ONE core?

The process pins itself to one CPU (sched_setaffinity, as `taskset -c <first usable core>`) before anything
else is imported, and sets TF's intra-op and inter-op thread pools to 1 before TF starts. It then loads
pipeline.predict.Classifier(--model) and measures, warm (after one untimed call):
  (a) long audio - classify_samples on one long recording (default 300 s) made by concatenating the
                   utterances of data/librispeech-mini in path order, decoded at the model's rate with
                   components.common.audio.decode_audio beforehand: model time only (windowing, the
                   classify_audio signature in batches of classifier.WINDOW_BATCH windows, averaging)
  (b) utterances - each corpus file (a few seconds each) one by one: classify_file end to end (read,
                   decode, resample, classify), and its two halves apart (decode_audio only; classify_samples
                   on the decoded audio); --repeats passes over the files, interleaved
  (c) a folder     - the same files in one `audioclf predict` call (pipeline.predict.classify_paths, output
                   to memory): decoded one by one, consecutive files' windows sharing the model's calls;
                   --repeats passes, each after the matching pass of (b)
Figures are seconds of audio per second of compute ("x real time"), best of --repeats (median beside it),
against the goal of GOAL_X x real time on one core.

Run:  .venv/bin/python bench/bench_predict.py --model DIR [--long-seconds 300] [--files 0] [--quick] [--out FILE]
"""
import os

if __name__ == "__main__" and hasattr(os, "sched_setaffinity"):  # one core, before numpy/TF start thread pools
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import glob  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from bench import _util  # noqa: E402

WINDOW_BATCH = 16  # trainer.classifier.WINDOW_BATCH, read after TensorFlow's threads are set (see below)

GOAL_X = 300  # x real time on one core


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a pushed model folder (OUTPUT/serving/<version>) or a serving folder")
    p.add_argument("--data-root", default=os.path.join(_util.REPO_ROOT, "data", "librispeech-mini"))
    p.add_argument("--long-seconds", type=float, default=300.0, help="length of the long recording of (a)")
    p.add_argument("--files", type=int, default=0, help="utterances for (b), in path order (0: all)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls of (a) and passes of (b)")
    p.add_argument("--quick", action="store_true", help="smoke check: 30 s, 5 files, 1 repeat (not a measurement)")
    _util.add_idle_args(p)
    p.add_argument("--out", default=None, help="Markdown file (default bench/results/predict.md)")
    args = p.parse_args()
    if args.quick:
        args.long_seconds, args.files, args.repeats = 30.0, 5, 1
    if args.out is None:
        args.out = _util.results_path("predict", args.quick)
    return args


def timed(fn, *a):
    start = time.perf_counter()
    fn(*a)
    return time.perf_counter() - start


def one_thread_classifier(model_dir):
    """pipeline.predict.Classifier with TensorFlow's intra-op and inter-op pools set to one thread first."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from trainer import classifier  # pylint: disable=import-outside-toplevel
    assert classifier.WINDOW_BATCH == WINDOW_BATCH
    return classifier.Classifier(model_dir)


def corpus_files(data_root):
    paths = sorted(glob.glob(os.path.join(data_root, "**", "*.flac"), recursive=True))
    if not paths:
        raise SystemExit(f"no .flac files under {data_root}")
    return paths


def utterance_passes(classifier, files, decoded, repeats, parts=("e2e", "decode", "model"), folder=False):
    """`repeats` passes over the files, parts interleaved per file so a slow moment hits all alike:
    {part: [[seconds per file] per pass]}; e2e = classify_file, decode = decode_audio only, model =
    classify_samples on the decoded audio; with `folder`, also "folder": [[seconds of the whole pass]]
    per pass, `audioclf predict`'s classify_paths over all the files after each pass of the others."""
    import io  # pylint: disable=import-outside-toplevel
    from components.common import audio  # pylint: disable=import-outside-toplevel
    from pipeline.predict import classify_paths  # pylint: disable=import-outside-toplevel
    calls = {"e2e": lambda path, samples: classifier.classify_file(path),
             "decode": lambda path, samples: audio.decode_audio(path, classifier.sample_rate),
             "model": lambda path, samples: classifier.classify_samples(samples)}
    out = {k: [] for k in parts + (("folder",) if folder else ())}
    for _ in range(repeats):
        t = {k: [] for k in parts}
        for path, samples in zip(files, decoded):
            for k in parts:
                t[k].append(timed(calls[k], path, samples))
        for k in parts:
            out[k].append(t[k])
        if folder:
            lines = io.StringIO()
            out["folder"].append([timed(classify_paths, classifier, files, lines)])
            answers = lines.getvalue().splitlines()
            if len(answers) != len(files) or any('"error"' in line for line in answers):
                raise SystemExit(f"bench: error: classify_paths did not classify every file: {lines.getvalue()[:500]}")
    return out


def main():
    args = parse_args()
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from components.common import audio  # pylint: disable=import-outside-toplevel

    classifier = one_thread_classifier(args.model)
    rate = classifier.sample_rate
    paths = corpus_files(args.data_root)

    # (a) one long recording: utterances end to end (cycling through the corpus if it is too short)
    want = int(round(args.long_seconds * rate))
    parts, have, i = [], 0, 0
    while have < want:
        parts.append(audio.decode_audio(paths[i % len(paths)], rate))
        have, i = have + len(parts[-1]), i + 1
    long_audio = np.concatenate(parts)[:want].astype(np.float32)
    classifier.classify_samples(long_audio)  # warm-up
    long_times, long_meter = _util.measure(
        lambda: [timed(classifier.classify_samples, long_audio) for _ in range(args.repeats)],
        "long audio", wait_idle=not args.no_wait_idle, retries=args.retries)
    windows = len(classifier.windows(long_audio)[1])

    # (b) the utterances one by one
    files = paths[:args.files] if args.files else paths
    decoded = [audio.decode_audio(p, rate) for p in files]
    utt_s = sum(len(d) for d in decoded) / rate
    classifier.classify_file(files[0])  # warm-up

    utt_times, utt_meter = _util.measure(lambda: utterance_passes(classifier, files, decoded, args.repeats, folder=True),
                                         "utterances", wait_idle=not args.no_wait_idle, retries=args.retries)

    def row(part, audio_s, totals, per_file=None):
        best, med = min(totals), statistics.median(totals)
        x = audio_s / best
        return [part, f"{audio_s:.1f}", f"{best:.3f} ({med:.3f})", f"**{x:.0f}x** ({audio_s / med:.0f}x)",
                per_file or "-", "yes" if x >= GOAL_X else "**no**"]

    rows = [row(f"(a) long audio, model only ({windows} windows)", want / rate, long_times,
                f"{min(long_times) / windows * 1e3:.1f} ms per window")]
    for key, name in (("e2e", "(b) utterances, classify_file end to end"),
                      ("decode", "(b) utterances, decode_audio only"),
                      ("model", "(b) utterances, classify_samples only")):
        totals = [sum(p) for p in utt_times[key]]
        best = utt_times[key][int(np.argmin(totals))]
        per_file = f"{np.mean(best) * 1e3:.1f} / {np.percentile(best, 90) * 1e3:.1f} ms (mean / p90)"
        rows.append(row(name, utt_s, totals, per_file))
    folder = [p[0] for p in utt_times["folder"]]
    rows.append(row("(c) the same files as one folder: `audioclf predict` (classify_paths) end to end", utt_s, folder,
                    f"{min(folder) / len(files) * 1e3:.1f} ms per file"))

    lengths = [len(d) / rate for d in decoded]
    native = sorted({audio.audio_info(p)[1] for p in files})
    stored = f"stored at {'/'.join(map(str, native))} Hz" + ("" if native == [rate] else f", resampled to {rate} Hz")
    lines = [f"# audioclf predict speed on one core ({rate} Hz model, {classifier.clip_samples / rate:g} s windows)", ""]
    if args.quick:
        lines += _util.QUICK_NOTE
    lines += ["Machine:", ""] + _util.machine_lines([
        f"tensorflow {tf.__version__}, numpy {np.__version__}",
        f"one core: CPU affinity {sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '(not pinned)'}; "
        f"TF threads intra-op {tf.config.threading.get_intra_op_parallelism_threads()}, inter-op "
        f"{tf.config.threading.get_inter_op_parallelism_threads()}",
        f"model: {classifier.model_dir} ({len(classifier.label_names)} classes; trainer config "
        f"{classifier.metadata.get('trainer')}); windows of {classifier.clip_samples} samples in batches of "
        f"{WINDOW_BATCH}",
        f"(a) {want / rate:g} s: {i} utterances of {args.data_root} concatenated (path order), decoded at {rate} Hz "
        f"beforehand; one untimed call, then {args.repeats} timed calls",
        f"(b) {len(files)} files ({utt_s:.1f} s of audio, {min(lengths):.1f}-{max(lengths):.1f} s each, mean "
        f"{np.mean(lengths):.1f} s; {stored}); one untimed classify_file, then {args.repeats} passes",
        f"CPU cores (ours / rest of machine): (a) {long_meter.summary()}, (b) {utt_meter.summary()}",
    ]) + [""]
    lines += [_util.table(["part", "seconds of audio", "compute s best (median)", "x real time best (median)",
                           "per window / file", f">= {GOAL_X}x"], rows), ""]
    from trainer.classifier import WINDOW_CUT  # pylint: disable=import-outside-toplevel  # loaded by now
    lines += [f"Predict's cut: {WINDOW_CUT}. A file's audio after its last full window is heard in one more "
              "whole window (on its last clip, or padded when the file is shorter than a clip), so (b)'s model cost "
              "per second of audio is higher than (a)'s.", ""]
    lines += _util.load_warnings((("(a)", long_meter), ("(b)", utt_meter)))
    _util.write_report(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
