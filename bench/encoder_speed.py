"""Where the speaker encoder's predict time goes, on ONE core: is it loop overhead or arithmetic?

The fitted speaker head (trainer/speaker_head.py) needs trainer/speaker_encoder.py's three 256-unit LSTMs
over 160-frame windows, two windows per 4 s clip; they cost more than the whole conv model. This script
times that encoder (`SpeakerEmbedding.call` under tf.function, as the exported model runs it: since
2026-12-05 its LSTMs run as TensorFlow's fused kernel, BlockLSTMV2, one op per layer) at batches of 1, 3
and 16 clips against the Keras LSTM layers it ran until then (a while loop of about twenty small ops per
step) and rewrites of the stack that do the same arithmetic with less loop work:
  projected-scan     each layer's input projection for all frames as one matrix product, then tf.scan
                     over the frames for the recurrent part only
  projected-unrolled the same, with the 160 steps unrolled into the graph (what Keras' unroll=True buys)
  wavefront          the three layers advanced together, layer l at frame t - l: 162 steps of one batched
                     [3, rows, 512] x [3, 512, 1024] product instead of 480 steps of one layer each
and the Keras layers compiled by XLA (tf.function(jit_compile=True): fused gate arithmetic, no executor
work per op; XLA has no BlockLSTMV2). Last, for scale, the student encoder of
trainer/speaker_student.py (another network: timed with untrained weights, its output not compared) reading
the same windows.
Each variant's output is compared with the shipped layer's (max abs difference). Beside them: the LSTMs'
floating-point operations per clip, the rate they run at, and the rate of a plain float32 and bfloat16
matrix product of the same shape on this core: if the encoder already runs near the float32 product's
rate, no rewrite of the loop can make it much faster; only fewer operations (fewer or shorter windows,
a smaller encoder) or lower precision can.

Run:  .venv/bin/python -m bench.encoder_speed [--clip-seconds 4] [--window-step 160] [--seconds 3] [--quick]
      [--no-wait-idle] [--retries N] [--out FILE]
"""
import os

if __name__ == "__main__" and hasattr(os, "sched_setaffinity"):  # one core, before numpy/TF start thread pools
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import time  # noqa: E402
from typing import Optional, Sequence  # noqa: E402

import numpy as np  # noqa: E402

import pipeline  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported, as the trainer does)
from bench import _util  # noqa: E402

BATCHES = (1, 3, 16)
STUDENT = "distilled student conv128-gru256 (another network)"
SHIPPED = "shipped (fused kernel, BlockLSTMV2)"
KERAS = "Keras LSTM layers (shipped until 2026-12-05)"


def lstm_flops(windows: int, window_frames: int) -> float:
    """Multiply-adds x 2 of the three LSTMs' matrix products for one clip (the gates' elementwise work is
    under 1 % of it)."""
    from trainer import speaker_encoder as se  # pylint: disable=import-outside-toplevel
    per_window = 0.0
    width = se.N_MELS
    for _ in range(se.LAYERS):
        per_window += window_frames * 2.0 * (width + se.UNITS) * 4 * se.UNITS
        width = se.UNITS
    return windows * per_window


def projected_stack(layer, unrolled: bool):
    """A function (audio -> embedding) doing what `layer.call` does, each LSTM as one input projection for
    all frames plus a recurrence over the frames (unrolled in the graph, or tf.scan); the windowing and the
    pooling are the layer's own (window_frames, pool_windows)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trainer import speaker_encoder as se  # pylint: disable=import-outside-toplevel
    units = se.UNITS

    def run_lstm(x, lstm, last_only):
        kernel, recurrent, bias = lstm.cell.kernel, lstm.cell.recurrent_kernel, lstm.cell.bias
        batch, frames = tf.shape(x)[0], x.shape[1]
        projected = tf.reshape(tf.matmul(tf.reshape(x, [-1, x.shape[2]]), kernel) + bias, [batch, frames, 4 * units])

        def step(state, z_in):
            h, c = state
            i, f, g, o = tf.split(z_in + tf.matmul(h, recurrent), 4, axis=1)   # Keras' gate order
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            return tf.sigmoid(o) * tf.tanh(c), c

        state = (tf.zeros([batch, units]), tf.zeros([batch, units]))
        if unrolled:
            outputs = []
            for t in range(frames):
                state = step(state, projected[:, t])
                outputs.append(state[0])
            return state[0] if last_only else tf.stack(outputs, axis=1)
        hs, _ = tf.scan(step, tf.transpose(projected, [1, 0, 2]), initializer=state)
        return hs[-1] if last_only else tf.transpose(hs, [1, 0, 2])

    def call(audio):   # the shipped layer's own framing and pooling around the rewritten LSTM stack
        x = layer.window_frames(audio)
        for n, lstm in enumerate(layer.lstms):
            x = run_lstm(x, lstm, n == len(layer.lstms) - 1)
        return layer.pool_windows(x)

    return call


def keras_stack(layer):
    """A function (audio -> embedding): the layer's framing and pooling around its Keras LSTM layers
    (speaker_encoder.keras_lstms: what SpeakerEmbedding ran until 2026-12-05, and still runs under a
    TPUStrategy)."""
    from trainer import speaker_encoder as se  # pylint: disable=import-outside-toplevel
    return lambda audio: layer.pool_windows(se.keras_lstms(layer.lstms, layer.window_frames(audio)))


def wavefront_stack(layer):
    """A function (audio -> embedding) doing what `layer.call` does with the three LSTMs advanced together:
    at step s layer 0 reads frame s, layer 1 layer 0's output of step s - 1, layer 2 layer 1's of step
    s - 2, as one batched matrix product per step (layer 0's input projection for all frames beforehand);
    fewer sequential steps, the same arithmetic."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trainer import speaker_encoder as se  # pylint: disable=import-outside-toplevel
    units, (first, second, third) = se.UNITS, layer.lstms
    stacked = tf.stack([tf.concat([first.cell.recurrent_kernel, tf.zeros_like(first.cell.recurrent_kernel)], 0),
                        tf.concat([second.cell.kernel, second.cell.recurrent_kernel], 0),
                        tf.concat([third.cell.kernel, third.cell.recurrent_kernel], 0)])     # [3, 512, 1024]
    upper_bias = tf.stack([second.cell.bias, third.cell.bias])[:, None, :]              # [2, 1, 1024]

    def call(audio):
        x = layer.window_frames(audio)
        rows, frames = tf.shape(x)[0], x.shape[1]
        projected = tf.einsum("ntf,fg->tng", x, first.cell.kernel) + first.cell.bias   # [frames, rows, 1024]
        projected = tf.concat([projected, tf.zeros([2, rows, 4 * units])], 0)          # steps past the last frame
        h, c, zero = tf.zeros([3, rows, units]), tf.zeros([3, rows, units]), tf.zeros([1, rows, units])
        for s in range(frames + 2):
            inputs = tf.concat([tf.concat([h[:1], zero], -1), tf.concat([h[:2], h[1:]], -1)], 0)   # [3, rows, 512]
            bias = tf.concat([projected[s][None], tf.broadcast_to(upper_bias, [2, rows, 4 * units])], 0)
            i, f, g, o = tf.split(tf.matmul(inputs, stacked) + bias, 4, axis=-1)   # Keras' gate order
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            if s < 2:   # a layer that has not started yet keeps its zero state
                started = tf.constant([1.0, float(s >= 1), 0.0])[:, None, None]
                h, c = h * started, c * started
        return layer.pool_windows(h[2])

    return call


def student_stack(layer):
    """A function (audio -> embedding): the distilled student layer trainer/speaker_student.py exports
    (untrained weights; the time does not depend on them) on the same clips and windows."""
    from trainer.speaker_student import StudentEmbedding  # pylint: disable=import-outside-toplevel
    student = StudentEmbedding(layer.clip_samples, window_step=layer.window_step)
    student.build((None, layer.clip_samples))
    return student.call


def per_call_seconds(fn, x, seconds: float) -> float:
    fn(x)   # trace and warm
    calls, start = 0, time.perf_counter()
    while True:
        fn(x)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / calls


def matmul_rate(dtype, rows: int, seconds: float) -> float:
    """GFLOP/s of a [rows, 512] x [512, 1024] product: an upper LSTM layer's step (input and recurrent
    products together) at `rows` sequences, one window each."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    a = tf.cast(tf.random.stateless_normal([rows, 512], [1, 2]), dtype)
    b = tf.cast(tf.random.stateless_normal([512, 1024], [3, 4]), dtype)
    fn = tf.function(lambda m: tf.matmul(m, b))
    return 2.0 * rows * 512 * 1024 / per_call_seconds(fn, a, seconds) / 1e9


def measure(clip_seconds: float, window_step: int, seconds: float, batches: Sequence[int] = BATCHES,
            wait_idle: bool = True, retries: int = 1, window_frames: int = 160) -> dict:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        threads = "TF threads intra-op 1, inter-op 1"
    except RuntimeError:   # TensorFlow already running in this process (a test): its pools stay; the report says so
        threads = (f"TF already initialized in this process: threads as they were (intra-op "
                   f"{tf.config.threading.get_intra_op_parallelism_threads()}, inter-op "
                   f"{tf.config.threading.get_inter_op_parallelism_threads()}; 0 = all cores)")
    from trainer import speaker_encoder as se  # pylint: disable=import-outside-toplevel
    clip = int(round(clip_seconds * se.SAMPLE_RATE))
    layer = se.SpeakerEmbedding(clip, window_step=window_step, window_frames=window_frames)
    layer.build((None, clip))
    spec = [tf.TensorSpec([None, clip], tf.float32)]
    variants = {SHIPPED: tf.function(layer.call, input_signature=spec),
                KERAS: tf.function(keras_stack(layer), input_signature=spec),
                "projected-scan": tf.function(projected_stack(layer, False), input_signature=spec),
                "projected-unrolled": tf.function(projected_stack(layer, True), input_signature=spec),
                "wavefront": tf.function(wavefront_stack(layer), input_signature=spec),
                KERAS + ", XLA-compiled": tf.function(keras_stack(layer), input_signature=spec, jit_compile=True),
                STUDENT: tf.function(student_stack(layer), input_signature=spec)}
    probe = tf.random.stateless_normal([3, clip], [5, 6]) * 0.1
    reference = variants[SHIPPED](probe).numpy()
    flops = lstm_flops(layer.windows, window_frames)
    rows = []
    for name, fn in variants.items():
        difference = None if name == STUDENT else float(np.abs(fn(probe).numpy() - reference).max())
        for batch in batches:
            x = tf.random.stateless_normal([batch, clip], [7, batch]) * 0.1
            (per_call, meter) = _util.measure(lambda: per_call_seconds(fn, x, seconds), f"{name} batch {batch}",
                                              wait_idle=wait_idle, retries=retries)
            rows.append({"variant": name, "batch": batch, "ms_per_call": round(per_call * 1e3, 2),
                         "ms_per_clip": round(per_call / batch * 1e3, 2),
                         "lstm_gflops": round(flops * batch / per_call / 1e9, 1),
                         "max_abs_difference": difference, "other_cores": round(meter.other_cores, 2)})
    return {"threads": threads, "cores": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "clip_seconds": clip_seconds, "window_step": window_step, "window_frames": window_frames,
            "windows_per_clip": layer.windows,
            "lstm_mflop_per_clip": round(flops / 1e6, 1), "rows": rows,
            "matmul_gflops": {f"{dtype} [{n}x512]x[512x1024]": round(matmul_rate(getattr(tf, dtype), n, seconds), 1)
                              for dtype in ("float32", "bfloat16")
                              for n in (layer.windows * min(batches), layer.windows * max(batches))}}


def markdown(result: dict, quick: bool) -> str:
    lines = ["# Speaker encoder speed on one core (trainer/speaker_encoder.py)", ""]
    if quick:
        lines += _util.QUICK_NOTE
    lines += ["Machine:", "", *_util.machine_lines([
        f"encoder: {result['clip_seconds']} s clips, window step {result['window_step']} frames, "
        f"{result['windows_per_clip']} windows of {result.get('window_frames', 160)} frames per clip; "
        f"the LSTMs' matrix products: "
        f"{result['lstm_mflop_per_clip']} MFLOP per clip",
        f"CPU affinity {result['cores']}; {result['threads']}"]), ""]
    lines += [_util.table(["LSTM stack", "clips per call", "ms per call", "ms per clip", "LSTM GFLOP/s",
                           "max abs difference from shipped", "other cores"],
                          [[r["variant"], r["batch"], r["ms_per_call"], r["ms_per_clip"], r["lstm_gflops"],
                            "-" if r["max_abs_difference"] is None else f"{r['max_abs_difference']:.1e}",
                            r["other_cores"]] for r in result["rows"]]), ""]
    lines += ["A plain matrix product on the same core, for scale:", "",
              _util.table(["product", "GFLOP/s"], [[k, v] for k, v in result["matmul_gflops"].items()]), ""]
    busy = [r for r in result["rows"] if r["other_cores"] > _util.OTHER_LOAD_WARN]
    if busy:
        lines += [f"**Warning: other processes used up to {max(r['other_cores'] for r in busy):.2f} cores during "
                  f"{len(busy)} of the timings; re-run on an idle machine.**", ""]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip-seconds", type=float, default=4.0, help="the model's clip length (r25: 4 s)")
    p.add_argument("--window-step", type=int, default=160, help="trainer.speaker_embedding_window_step")
    p.add_argument("--window-frames", type=int, default=160, help="trainer.speaker_embedding_window_frames")
    p.add_argument("--seconds", type=float, default=3.0, help="timing span per (variant, batch)")
    p.add_argument("--quick", action="store_true", help="smoke check: 2 s clips, batches 1 and 2, 0.2 s spans")
    _util.add_idle_args(p)
    p.add_argument("--out", default=None, help="Markdown file (default bench/results/encoder_speed.md)")
    args = p.parse_args(argv)
    idle = {"wait_idle": not args.no_wait_idle, "retries": args.retries}
    if args.quick:
        result = measure(2.0, args.window_step, 0.2, batches=(1, 2), window_frames=args.window_frames, **idle)
    else:
        result = measure(args.clip_seconds, args.window_step, args.seconds, window_frames=args.window_frames, **idle)
    _util.write_report(args.out or _util.results_path("encoder_speed", args.quick), markdown(result, args.quick), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
