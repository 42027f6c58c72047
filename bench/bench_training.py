"""Is the tf.data input the bottleneck of training? Input rate alone against training throughput.

On the train split of a finished `audioclf run` (its Examples artifact: gzip TFRecord shards at
<examples>/Split-train/*), with the settings the run's model was trained with (sample rate, clip length,
classes, audio encoding and trainer config, read from the exported model's assets.extra/audioclf.json;
`--set trainer.key=value` changes them):
  (a) input alone - trainer.input.make_dataset(training=True, the run's cache (default "memory"), shuffle,
                    repeat) pulled batch by batch inside a tf.function (as model.fit pulls it), no model:
                    the first (cold) pass over the split (reads, gunzips, parses and fills the cache), then
                    `--input-epochs` epochs from the cache; examples/s
  (b) training    - trainer.model.build_model + compile_model, model.fit(fresh dataset, steps_per_epoch,
                    epochs) on one device (the default strategy; no validation or callbacks); examples/s of
                    every epoch after the first (the first traces the step and fills the cache)
and the ratio (a) / (b): input at several times the training rate means the input is not the bottleneck.

Run:  .venv/bin/python bench/bench_training.py --run OUTPUT [--steps N] [--epochs 4] [--set trainer.k=v]
      [--quick] [--out FILE]
"""
import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench import _util  # noqa: E402
from pipeline import run_dir as run_folder, summary_schema  # noqa: E402
from pipeline.config import clip_samples, label_names, load_config  # noqa: E402

NOT_BOTTLENECK = 3.0  # input rate / training rate at or above which the input is not the bottleneck


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a finished `audioclf run` output folder (holds summary.json)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="trainer.* settings over the model's (e.g. trainer.batch_size_per_replica=32)")
    p.add_argument("--steps", type=int, default=0, help="steps per epoch (0: one pass over the train split)")
    p.add_argument("--epochs", type=int, default=4, help="training epochs; the first is not counted")
    p.add_argument("--input-epochs", type=int, default=3, help="timed epochs of (a) after the cold pass")
    p.add_argument("--intra-op-threads", type=int, default=0, help="TF intra-op threads (0: TF's default)")
    p.add_argument("--inter-op-threads", type=int, default=0, help="TF inter-op threads (0: TF's default)")
    p.add_argument("--quick", action="store_true", help="smoke check: 2 steps, 2 epochs (not a measurement)")
    _util.add_idle_args(p)
    p.add_argument("--out", default=None, help="Markdown file (default bench/results/training.md)")
    args = p.parse_args()
    if args.quick:
        args.steps, args.epochs, args.input_epochs = 2, 2, 2
    if args.epochs < 2:
        p.error("--epochs must be >= 2 (the first epoch is not counted)")
    if args.out is None:
        args.out = _util.results_path("training", args.quick)
    return args


def run_settings(run_dir, overrides):
    """(examples dir, settings dict, where they came from): the exported model's metadata when there is
    one (pushed model, else the Trainer's Format-Serving), else the pipeline config with `overrides`."""
    from trainer import export  # pylint: disable=import-outside-toplevel
    summary = summary_schema.load(os.path.join(run_dir, run_folder.SUMMARY))
    examples = summary.output_uri(run_folder.EXAMPLE_GEN, "examples")
    model = summary.model
    for model_dir in (model.pushed_model, model.model and os.path.join(model.model, "Format-Serving")):
        if model_dir and os.path.exists(os.path.join(model_dir, export.MODEL_METADATA_FILE)):
            meta = export.read_metadata(model_dir)
            bad = [o for o in overrides if not o.startswith("trainer.")]
            if bad:
                raise SystemExit(f"--set {bad[0]}: only trainer.* settings can change; the rest is fixed by the run's model")
            base = [f"trainer.{k}={json.dumps(v)}" for k, v in meta["trainer"].items()]
            trainer = load_config(None, base + list(overrides)).trainer
            return examples, dict(trainer=trainer, sample_rate=meta["sample_rate"], clip_samples=meta["clip_samples"],
                                  num_classes=len(meta["label_names"]), encoding=meta["audio_encoding"]), model_dir
    config = load_config(None, overrides)  # no exported model: the --set values must match the run's
    return examples, dict(trainer=config.trainer, sample_rate=config.synthesis.sample_rate,
                          clip_samples=clip_samples(config.synthesis), num_classes=len(label_names(config)),
                          encoding=config.examples.audio_encoding), "pipeline config defaults + --set (no exported model)"


def train_split(examples, batch):
    """(file pattern of the train split, its number of examples, steps of one pass over it)."""
    from trainer import input as input_lib  # pylint: disable=import-outside-toplevel
    files = os.path.join(examples, "Split-train", "*")
    n = input_lib.count_records(files)
    return files, n, max(1, math.ceil(n / batch))


def training_dataset(files, s):
    """A function making the training input as the Trainer makes it (cache, shuffle, repeat, batch)."""
    from trainer import input as input_lib  # pylint: disable=import-outside-toplevel
    config = s["trainer"]

    def dataset():
        return input_lib.make_dataset(files, s["encoding"], s["clip_samples"], config.batch_size_per_replica,
                                      training=True, cache=config.cache or None, shuffle_buffer=config.shuffle_buffer,
                                      seed=config.seed)
    return dataset


def front_end(s):
    """The real model's layers from raw audio to what its conv blocks take (channel reshape, kapre mel
    spectrogram in dB, mean normalization, delta, framing into segments): trainer.model.build_model cut
    before the first Conv3D, so it is exactly the model's feature computation."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trainer import model as model_lib  # pylint: disable=import-outside-toplevel
    model = model_lib.build_model(s["trainer"], s["sample_rate"], s["clip_samples"], s["num_classes"])
    return tf.keras.Model(model.inputs, model.get_layer("segments").output, name="front_end")


def time_input(dataset, pass_steps, steps, epochs, batch, features=None):
    """Seconds of the cold pass (pass_steps batches) and of each later epoch (steps batches) of one iterator
    pulled inside a tf.function, as model.fit pulls it. `features` (e.g. front_end()) is applied to every
    batch inside the same tf.function; its output is summed so the work cannot be pruned."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    iterator = iter(dataset())

    @tf.function(input_signature=[tf.TensorSpec([], tf.int64)])
    def pull(count):
        total, checksum = tf.constant(0, tf.int64), tf.constant(0.0)
        for _ in tf.range(count):
            audio, label = next(iterator)
            if features is not None:
                checksum += tf.reduce_sum(features(audio, training=False))
            total += tf.size(label, out_type=tf.int64)
        return total, checksum

    pull.get_concrete_function()  # traced now, so no timing below includes tracing
    start = time.perf_counter()
    total, _ = pull(tf.constant(pass_steps, tf.int64))
    assert int(total) == pass_steps * batch
    cold = time.perf_counter() - start
    warm = []
    for _ in range(epochs):
        start = time.perf_counter()
        pull(tf.constant(steps, tf.int64))
        warm.append(time.perf_counter() - start)
    return cold, warm


def time_training(dataset, s, steps, epochs):
    """model.fit of the real model on one device: (seconds of each epoch, time.time() at each epoch's
    start and at the end of the last, parameter count, CPU seconds of this process in each epoch).
    CPU seconds / wall seconds of an epoch is the cores it kept busy: epoch 1 also traces the step and
    fills the cache, much of it on one thread, so the later epochs say what training itself uses."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trainer import model as model_lib  # pylint: disable=import-outside-toplevel
    config = s["trainer"]
    tf.keras.utils.set_random_seed(config.seed)
    model = model_lib.compile_model(
        model_lib.build_model(config, s["sample_rate"], s["clip_samples"], s["num_classes"]), config)
    times, stamps, cpu = [], [], []

    def cpu_seconds():
        t = os.times()
        return t.user + t.system

    def begin(epoch, logs):
        stamps.append(time.time())
        cpu.append(cpu_seconds())
        times.append(time.perf_counter())

    def end(epoch, logs):
        times[-1] = time.perf_counter() - times[-1]
        cpu[-1] = cpu_seconds() - cpu[-1]

    timer = tf.keras.callbacks.LambdaCallback(on_epoch_begin=begin, on_epoch_end=end)
    model.fit(dataset(), epochs=epochs, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    return times, stamps + [time.time()], model.count_params(), cpu


def steady_cores(epoch_s, epoch_cpu_s) -> float:
    """Cores busy in epochs 2+ (CPU seconds over wall seconds, summed): what training keeps busy once traced."""
    return sum(epoch_cpu_s[1:]) / sum(epoch_s[1:])


def main():
    args = parse_args()
    examples, s, source = run_settings(args.run, args.set)
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)

    config = s["trainer"]
    batch = config.batch_size_per_replica
    files, n, pass_steps = train_split(examples, batch)  # one pass over the split, as training's default epoch
    steps = args.steps or pass_steps
    dataset = training_dataset(files, s)

    def input_alone():
        return time_input(dataset, pass_steps, steps, args.input_epochs, batch)

    def training():
        times, _, params, cpu = time_training(dataset, s, steps, args.epochs)
        return times, params, cpu

    wait = not args.no_wait_idle
    (cold, warm), input_meter = _util.measure(input_alone, "input", wait_idle=wait, retries=args.retries)
    (epochs, params, epoch_cpu), train_meter = _util.measure(training, "training", wait_idle=wait,
                                                             retries=args.retries)

    cold_rate = pass_steps * batch / cold
    warm_rates = [steps * batch / t for t in warm]
    train_rates = [steps * batch / t for t in epochs[1:]]
    input_rate, train_rate = statistics.median(warm_rates), statistics.median(train_rates)
    ratio, cold_ratio = input_rate / train_rate, cold_rate / train_rate
    verdict = ("**input is not the bottleneck**" if ratio >= NOT_BOTTLENECK
               else "**the input may limit training**" if ratio < 1.5 else "**input is only a little faster than training**")

    clip_s = s["clip_samples"] / s["sample_rate"]
    threads = (f"TF threads: intra-op {tf.config.threading.get_intra_op_parallelism_threads()}, inter-op "
               f"{tf.config.threading.get_inter_op_parallelism_threads()} (0 = TF's default: all usable cores)")
    lines = [f"# Training input rate vs training throughput ({n} train clips of {clip_s:g} s at {s['sample_rate']} Hz)", ""]
    if args.quick:
        lines += _util.QUICK_NOTE
    lines += ["Machine:", ""] + _util.machine_lines([
        f"tensorflow {tf.__version__}; {threads}; devices: "
        f"{', '.join(d.device_type for d in tf.config.list_logical_devices())}",
        f"run: {os.path.abspath(args.run)}; examples: {files} ({s['encoding']})",
        f"settings from: {source}; --set: {' '.join(args.set) or '(none)'}",
        f"trainer config: {json.dumps(dataclasses.asdict(config), sort_keys=True)}",
        f"model: {params:,} parameters; batch {batch} (one device, default strategy); {steps} steps per epoch "
        f"({steps * batch} examples); one pass over the split = {pass_steps} steps",
        f"(a) make_dataset(training=True, cache={config.cache or None!r}, shuffle_buffer={config.shuffle_buffer}), one "
        f"iterator pulled inside a tf.function (traced beforehand): a cold pass of {pass_steps} steps, then "
        f"{args.input_epochs} epochs of {steps} steps{' from the cache' if config.cache else ''}; median epoch reported",
        f"(b) model.fit(fresh dataset, steps_per_epoch={steps}, epochs={args.epochs}, verbose=0), no validation, no "
        f"callbacks but an epoch timer; epoch 1 (tracing, cache fill) not counted; median of the others reported",
        f"CPU cores (ours / rest of machine): (a) {input_meter.summary()}, (b) {train_meter.summary()}",
    ]) + [""]
    def each(times):
        return f"{statistics.median(times):.3f} (" + ", ".join(f"{t:.3f}" for t in times) + ")"

    cold_part = f"cold first pass (disk, gunzip, parse{', cache fill' if config.cache else ''})"
    warm_part = "from cache" if config.cache else "later epochs (no cache: from disk)"
    rows = [[f"(a) input alone, {cold_part}", f"{cold:.2f}", f"{cold_rate:.1f}", f"{cold_rate * clip_s:.0f}", "-"],
            [f"(a) input alone, {warm_part}: median (each epoch)", each(warm), f"{input_rate:.1f}",
             f"{input_rate * clip_s:.0f}", "-"],
            ["(b) training, epoch 1 (not counted)", f"{epochs[0]:.2f}", f"{steps * batch / epochs[0]:.1f}", "-",
             f"{epoch_cpu[0] / epochs[0]:.2f}"],
            ["(b) training, epochs 2+: median (each epoch)", each(epochs[1:]), f"{train_rate:.1f}",
             f"{train_rate * clip_s:.0f}", f"{steady_cores(epochs, epoch_cpu):.2f}"]]
    lines += [_util.table(["part", "seconds per epoch", "examples/s", "seconds of audio/s",
                           "cores busy (CPU s / wall s)"], rows), ""]
    lines += [f"Input (later epochs) / training: **{ratio:.1f}x** ({verdict}, threshold {NOT_BOTTLENECK:g}x); "
              f"cold first pass / training: {cold_ratio:.1f}x"
              + (" (the first epoch may wait for the input)." if cold_ratio < NOT_BOTTLENECK else "."), "",
              "(a) runs with the whole machine to itself; in training the input pipeline shares the cores with the "
              "model, so the ratio is an upper bound on the input's headroom.", ""]
    lines += _util.load_warnings((("(a)", input_meter), ("(b)", train_meter)))
    _util.write_report(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
