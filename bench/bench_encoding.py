"""Which tf.train.Example audio encoding: "pcm16" (int16 bytes) or "float" (float_list)?

Synthesizes clips with the project's synthesize_clip (default 10 s, 16 kHz), writes them with
example_format.make_example into one GZIP TFRecord file per encoding, and reports bytes on disk per
clip and the read speed of a tf.data pipeline (TFRecordDataset -> parse_single_example -> float32
audio), best of 3 full passes.

Run:  .venv/bin/python bench/bench_encoding.py [--clips 100] [--quick] [--out FILE]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from bench import _util  # noqa: E402
from components.audio_synthesis import synthesis  # noqa: E402
from components.common import audio, example_format  # noqa: E402
from components.speaker_index import corpus  # noqa: E402
from pipeline.config import load_config  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=os.path.join(_util.REPO_ROOT, "data", "librispeech-mini"))
    p.add_argument("--clips", type=int, default=100)
    p.add_argument("--clip-seconds", type=float, default=10.0)
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="smoke check: 10 clips (not a measurement)")
    p.add_argument("--tmp-dir", default=None)
    _util.add_idle_args(p)
    p.add_argument("--out", default=None, help="Markdown file (default bench/results/encoding.md)")
    args = p.parse_args()
    if args.quick:
        args.clips = 10
    if args.out is None:
        args.out = _util.results_path("encoding", args.quick)
    return args


def make_clips(args):
    config = load_config(overrides=[f"synthesis.clip_seconds={args.clip_seconds:g}",
                                    f"synthesis.sample_rate={args.sample_rate}"])
    index = corpus.build_index(args.data_root, config.corpus)
    pools = synthesis.split_pools(index, "train")
    cache = synthesis.UtteranceCache(args.sample_rate, config.synthesis.cache_mb << 20)
    clips = []
    for i in range(args.clips):
        samples, meta = synthesis.synthesize_clip("train", i, pools, config.synthesis, cache.get)
        clips.append((audio.to_pcm16(samples), meta))
    return clips


def write_records(tf, clips, rate, encoding, path):
    start = time.perf_counter()
    serialized = 0
    with tf.io.TFRecordWriter(path, options=tf.io.TFRecordOptions(compression_type="GZIP")) as writer:
        for pcm, meta in clips:
            data = example_format.make_example(pcm, rate, meta, encoding).SerializeToString()
            serialized += len(data)
            writer.write(data)
    return time.perf_counter() - start, serialized


def dataset(tf, path, encoding, float_spec, num_samples):
    """float_spec: "bytes" for pcm16, "fixed" or "varlen" for float."""
    if encoding == "pcm16":
        spec = {example_format.AUDIO: tf.io.FixedLenFeature([], tf.string)}
    elif float_spec == "fixed":
        spec = {example_format.AUDIO: tf.io.FixedLenFeature([num_samples], tf.float32)}
    else:
        spec = {example_format.AUDIO: tf.io.VarLenFeature(tf.float32)}
    spec[example_format.LABEL] = tf.io.FixedLenFeature([], tf.int64)
    spec[example_format.NUM_SAMPLES] = tf.io.FixedLenFeature([], tf.int64)

    def parse(record):
        features = tf.io.parse_single_example(record, spec)
        raw = features[example_format.AUDIO]
        if encoding == "pcm16":
            samples = tf.cast(tf.io.decode_raw(raw, tf.int16, little_endian=True), tf.float32) / 32767.0
        elif float_spec == "fixed":
            samples = raw
        else:
            samples = tf.sparse.to_dense(raw)
        return samples, features[example_format.LABEL]

    return tf.data.TFRecordDataset(path, compression_type="GZIP").map(parse)


def check_first(ds, reference):
    """The decoded audio is what was written (float32 of the int16 samples)."""
    first = next(iter(ds))[0].numpy()
    np.testing.assert_allclose(first, reference, atol=1e-6)


def one_pass(ds):
    """A Python for loop over the dataset (eager): every element comes back to Python."""
    start = time.perf_counter()
    count = 0
    for _samples, _label in ds:
        count += 1
    return time.perf_counter() - start, count


def graph_counter(tf, ds):
    """A tf.function running a whole pass inside the TF runtime (dataset.reduce), as model.fit consumes a
    dataset; traced once here, so the timed calls do not include tracing."""
    fn = tf.function(lambda: ds.reduce(np.int64(0), lambda c, _element: c + 1))
    fn()
    return fn


def one_pass_graph(fn):
    start = time.perf_counter()
    count = int(fn().numpy())
    return time.perf_counter() - start, count


def main():
    args = parse_args()
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    clips = make_clips(args)
    num_samples = len(clips[0][0])
    reference = audio.from_pcm16(clips[0][0])
    audio_mb = sum(len(pcm) for pcm, _ in clips) * 4 / 1e6  # decoded float32 audio per pass
    audio_s = sum(len(pcm) for pcm, _ in clips) / args.sample_rate
    tmp = tempfile.mkdtemp(prefix="bench-encoding-", dir=args.tmp_dir)
    variants = [("pcm16", "bytes"), ("float", "fixed"), ("float", "varlen"), ("pcm16", "raw"), ("float", "raw")]
    modes = [("eager", one_pass), ("graph", one_pass_graph)]
    try:
        written = {}
        for encoding in ("pcm16", "float"):
            path = os.path.join(tmp, f"{encoding}.tfrecord.gz")
            write_s, serialized = write_records(tf, clips, args.sample_rate, encoding, path)
            written[encoding] = (path, write_s, serialized, os.path.getsize(path))
        datasets = []
        for encoding, spec in variants:
            if spec == "raw":  # GZIP read and record framing only: the floor under any parse
                datasets.append(tf.data.TFRecordDataset(written[encoding][0], compression_type="GZIP").map(lambda r: (r, 0)))
            else:
                datasets.append(dataset(tf, written[encoding][0], encoding, spec, num_samples))
                check_first(datasets[-1], reference)
        for ds in datasets:  # untimed warm-up pass
            one_pass(ds)
        graph_fns = [graph_counter(tf, ds) for ds in datasets]

        def timed_passes():
            out = {(v, m): [] for v in range(len(variants)) for m, _ in modes}
            for _ in range(args.passes):  # variants and modes interleaved, so a slow moment hits them all alike
                for v, ds in enumerate(datasets):
                    for mode, run in modes:
                        took, count = run(ds if mode == "eager" else graph_fns[v])
                        assert count == len(clips), (count, len(clips))
                        out[(v, mode)].append(took)
            return out

        times, meter = _util.measure(timed_passes, "reads", wait_idle=not args.no_wait_idle, retries=args.retries)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    n = len(clips)
    size_rows = [[e, f"{written[e][3] / n / 1e3:.1f}", f"{written[e][2] / n / 1e3:.1f}",
                  f"{written[e][3] / written[e][2]:.2f}", f"{written[e][1] * 1e3 / n:.1f}"] for e in ("pcm16", "float")]
    spec_name = {"bytes": "FixedLen [] string + decode_raw(int16) + cast/32767",
                 "fixed": f"FixedLen [{num_samples}] float32", "varlen": "VarLen float32 + sparse.to_dense",
                 "raw": "(no parse: GZIP TFRecord read only)"}
    read_rows, best = [], {}
    for v, (encoding, spec) in enumerate(variants):
        row = [encoding, spec_name[spec]]
        for mode, _ in modes:
            t = times[(v, mode)]
            b = min(t)
            best[(v, mode)] = b
            row += [f"{b * 1e3:.0f} ({np.median(t) * 1e3:.0f})", f"{n / b:.0f}",
                    f"{audio_mb / b:.0f}" if spec != "raw" else "-"]
        row.append(f"{written[encoding][3] / 1e6 / best[(v, 'graph')]:.0f}")
        read_rows.append(row)

    pcm_disk, float_disk = written["pcm16"][3], written["float"][3]
    verdict = []
    for mode, _ in modes:
        pcm_t = best[(0, mode)]
        float_t = min(best[(1, mode)], best[(2, mode)])
        faster = "pcm16" if pcm_t < float_t else "float"
        verdict.append(f"{mode}: {faster} reads {max(pcm_t, float_t) / min(pcm_t, float_t):.2f}x faster")
    smaller = "pcm16" if pcm_disk < float_disk else "float"
    graph_faster = "pcm16" if best[(0, "graph")] < min(best[(1, "graph")], best[(2, "graph")]) else "float"
    if smaller == graph_faster:
        head = (f"**{smaller} wins**: {max(pcm_disk, float_disk) / min(pcm_disk, float_disk):.2f}x smaller on disk "
                f"and faster to read than the best float variant ({'; '.join(verdict)}).")
    else:
        head = (f"**No clear winner**: {smaller} is smaller on disk, {graph_faster} reads faster in graph mode "
                f"({'; '.join(verdict)}).")

    lines = [f"# tf.train.Example audio encoding ({n} clips of {args.clip_seconds:g} s at {args.sample_rate} Hz)", ""]
    if args.quick:
        lines += _util.QUICK_NOTE
    lines += ["Machine:", ""] + _util.machine_lines([
        f"tensorflow {tf.__version__}, numpy {np.__version__}",
        "clips: synthesize_clip on the train split of data/librispeech-mini, int16 via audio.to_pcm16; one GZIP "
        "TFRecord file per encoding written with example_format.make_example; reads come from the page cache",
        f"read: TFRecordDataset(compression_type='GZIP').map(parse_single_example + decode to float32 audio); "
        f"eager = Python for loop over the dataset, graph = dataset.reduce in a tf.function traced beforehand "
        f"(whole pass in the TF runtime, as model.fit); "
        f"one untimed pass, then {args.passes} full passes of every variant and mode, interleaved; best (median) reported",
        f"CPU cores during the timed reads: ours {meter.own_cores:.2f}, rest of machine {meter.other_cores:.2f}",
        f"audio MB/s = decoded float32 audio ({audio_mb:.1f} MB, {audio_s:.0f} s of audio per pass)",
    ]) + [""]
    lines += ["## Size and write", "",
              _util.table(["encoding", "KB on disk per clip (GZIP)", "KB serialized per clip", "GZIP ratio",
                           "write ms/clip (make_example + serialize + GZIP)"], size_rows), ""]
    lines += ["## Read (all clips, one pass)", "",
              _util.table(["encoding", "parse", "eager ms best (median)", "eager examples/s", "eager audio MB/s",
                           "graph ms best (median)", "graph examples/s", "graph audio MB/s", "graph disk MB/s"], read_rows), ""]
    lines += [head, ""]
    lines += _util.load_warnings([("the timed reads", meter)])
    _util.write_report(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
