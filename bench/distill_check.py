"""Could a smaller speaker encoder, distilled from the GE2E one, keep its gender cue? Measured on a finished
k-fold run's folds, training no gender model.

`predict` spends most of its time in the in-model GE2E encoder (trainer/speaker_encoder.py): three LSTM
layers of 256 read 160 mel frames one after another, and at predict's 1-3 clips per call an LSTM step's
latency, not its arithmetic, sets the time (README, "Shorter encoder windows"). A student that reads a
window in parallel (1-D convolutions over the frames, then mean and standard deviation over time) is
trained to give each 1.6 s window the teacher's embedding (cosine loss), on the windows of the *train*
folds' utterances only: no gender label, and no test speaker's audio, reaches it. Then, exactly as
bench/window_check.py scores an encoder, every utterance is embedded as `predict` cuts it (4 s clips, two
windows of 160 frames each, averaged) and a logistic regression fitted on the other folds (C chosen inside
them, bench/embedding_check.py) is scored on each fold; the teacher is scored the same way beside it.

Run:  .venv/bin/python -m bench.distill_check --run r26 [--students conv128,conv256] [--epochs 8]
Writes bench/results/distill_check.md|json. The teacher's window embeddings and the clips' mel frames are
kept in .cache/distill/ (written whole or not at all) and reused.
"""
import argparse
import os
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from bench import _util, embedding_check, speaker_embeddings
from bench.kfold_results import KFOLD_RESULTS, read_run_here
from bench.kfold_summary import accuracy, accuracy_cell, difference, difference_cell
from trainer import speaker_student
from trainer.speaker_encoder import WINDOW_FRAMES
from trainer.speaker_student import TRAIN_STEP

CACHE_DIR = os.path.join(_util.REPO_ROOT, ".cache", "distill")
PREDICT_STEP = 160       # r26's windows at predict time: every 4th training window
FUSED_WEIGHT = "2"
STUDENTS = {             # name: (channels, kernel sizes, strides, recurrent units after the convolutions or 0)
    "conv128": (128, (5, 5, 3, 3), (1, 2, 2, 1), 0),
    "conv256": (256, (5, 5, 3, 3), (1, 2, 2, 1), 0),
    "conv64": (64, (5, 5, 3, 3), (1, 2, 2, 1), 0),
    # trainer/speaker_student.py's: 40 GRU steps per window instead of 3 x 160 LSTM steps
    "conv128-gru256": (speaker_student.CHANNELS, speaker_student.KERNELS, speaker_student.STRIDES, speaker_student.UNITS),
}


def features(paths: Sequence[str], clip_seconds: float, log=print) -> dict:
    """Per clip of every utterance: its mel frames (float16, log10), the teacher's unit embedding of each
    training window, the utterance index and the real samples; cached."""
    from trainer.speaker_encoder import SAMPLE_RATE  # pylint: disable=import-outside-toplevel
    path = os.path.join(CACHE_DIR, f"teacher-{clip_seconds:g}s-step{TRAIN_STEP}.npz")
    keys = [speaker_embeddings.data_key(p) for p in paths]
    if os.path.isfile(path):
        with np.load(path) as f:
            cached = {k: f[k] for k in f.files}
        if "clip_samples" in cached and set(keys) <= set(cached["keys"].tolist()):
            return cached
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from components.common import audio  # pylint: disable=import-outside-toplevel
    from trainer.classifier import UNREADABLE_HINT, cut_windows  # pylint: disable=import-outside-toplevel
    from trainer.speaker_encoder import SpeakerEmbedding  # pylint: disable=import-outside-toplevel
    clip_samples = int(round(clip_seconds * SAMPLE_RATE))
    layer = SpeakerEmbedding(clip_samples, window_step=TRAIN_STEP)
    layer.build((None, clip_samples))

    @tf.function(input_signature=[tf.TensorSpec([None, clip_samples], tf.float32)])
    def teacher(clips):
        embeddings = layer.window_embeddings(clips)
        return speaker_student.log_mel(layer.mel_frames(clips)), tf.reshape(embeddings, [tf.shape(clips)[0], layer.windows, -1])

    mels, targets, owner, reals = [], [], [], []
    started = time.monotonic()
    for i, p in enumerate(paths):
        clips, real = cut_windows(audio.decode_audio(p, SAMPLE_RATE, UNREADABLE_HINT), clip_samples)
        mel, emb = teacher(tf.constant(clips))
        mels.append(mel.numpy().astype(np.float16))
        targets.append(emb.numpy().astype(np.float32))
        owner += [i] * len(clips)
        reals.append(real)
        if (i + 1) % 200 == 0 or i + 1 == len(paths):
            log(f"distill check: teacher on {i + 1} of {len(paths)} files, {time.monotonic() - started:.0f} s")
    out = {"keys": np.array(keys), "mel": np.concatenate(mels), "teacher": np.concatenate(targets),
           "owner": np.array(owner, dtype=np.int32), "real": np.concatenate(reals).astype(np.int32),
           "windows": np.array(layer.windows), "step": np.array(layer.step), "clip_samples": np.array(clip_samples)}
    os.makedirs(CACHE_DIR, exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, path)
    return out


def window_index(windows: int, step: int) -> np.ndarray:
    """[windows, 160] frame indices of each training window in a clip's mel frames."""
    return np.arange(windows)[:, None] * step + np.arange(WINDOW_FRAMES)[None, :]


def build_student(name: str, mean: float, std: float):
    """trainer/speaker_student.py's network with the sizes STUDENTS names."""
    channels, kernels, strides, units = STUDENTS[name]
    return speaker_student.network(mean, std, channels, kernels, strides, units or 256, recurrent=bool(units))


def train_student(name: str, feats: dict, clip_rows: np.ndarray, epochs: int, seed: int, log=print):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.keras.utils.set_random_seed(seed)
    idx = window_index(int(feats["windows"]), int(feats["step"]))
    mel = feats["mel"]
    pairs = np.array([(c, w) for c in clip_rows for w in range(idx.shape[0])], dtype=np.int64)
    sample = mel[clip_rows[:200]].astype(np.float32)
    mean, std = float(sample.mean()), float(sample.std())
    model = build_student(name, mean, std)
    rng = np.random.default_rng(seed)

    def batches():
        order = rng.permutation(len(pairs))
        for start in range(0, len(order), speaker_student.BATCH):
            chosen = pairs[order[start:start + speaker_student.BATCH]]
            x = np.stack([mel[c][idx[w]] for c, w in chosen]).astype(np.float32)
            yield x, feats["teacher"][chosen[:, 0], chosen[:, 1]]

    ds = tf.data.Dataset.from_generator(batches, output_signature=(   # a new order every epoch
        tf.TensorSpec([None, WINDOW_FRAMES, 40], tf.float32), tf.TensorSpec([None, 256], tf.float32))).prefetch(4)
    speaker_student.train(model, ds, epochs=epochs, say=lambda line: log(f"distill check: {name}: {line}"))
    return model


def predict_windows(feats: dict) -> np.ndarray:
    """Which of a clip's training windows `predict` reads (r26: 160 frames every PREDICT_STEP)."""
    from trainer.speaker_encoder import window_plan  # pylint: disable=import-outside-toplevel
    every = PREDICT_STEP // int(feats["step"])
    return np.arange(window_plan(int(feats["clip_samples"]), PREDICT_STEP)[0]) * every


def utterance_embeddings(window_embeddings: np.ndarray, feats: dict) -> Dict[str, np.ndarray]:
    """Predict's utterance embeddings from per-clip window embeddings [clips, windows, 256]: the predict
    windows averaged per clip at unit length, then bench/window_check.py's weighting of the clips."""
    from bench.window_check import utterance_embedding  # pylint: disable=import-outside-toplevel
    clip = window_embeddings[:, predict_windows(feats)].mean(axis=1)
    clip /= np.maximum(np.linalg.norm(clip, axis=1, keepdims=True), 1e-12)
    return {key: utterance_embedding(clip[feats["owner"] == u], feats["real"][feats["owner"] == u])
            for u, key in enumerate(feats["keys"].tolist())}


def student_window_embeddings(model, feats: dict) -> np.ndarray:
    """[clips, windows, 256]: the student's embedding of each clip's predict windows (the others left 0)."""
    idx = window_index(int(feats["windows"]), int(feats["step"]))
    keep = predict_windows(feats)
    mel = feats["mel"]
    out = np.zeros((len(mel), idx.shape[0], 256), np.float32)
    for start in range(0, len(mel), 256):
        block = np.stack([m[idx[keep]] for m in mel[start:start + 256]]).astype(np.float32)
        out[start:start + len(block)][:, keep] = model.predict(
            block.reshape(-1, 160, 40), verbose=0, batch_size=512).reshape(len(block), len(keep), 256)
    return out


def score(folds: List[dict], embeddings_per_fold: Sequence[Dict[str, np.ndarray]],
          paired_with: Optional[List[dict]] = None) -> dict:
    """embedding_check's LR per fold (fitted on the other folds' utterances, with that fold's embeddings);
    with `paired_with` (the teacher's rows, same order) also the difference to the teacher, paired."""
    rows = []
    for i, fold in enumerate(folds):
        train = [dict(r) for j, f in enumerate(folds) if j != i for r in f["rows"]]
        test = [dict(r) for r in fold["rows"]]
        embedding_check.decide(train, test, embeddings_per_fold[i])
        rows += test
    out = {"embedding": accuracy(rows, "embedding"), "fused": accuracy(rows, f"fused_{FUSED_WEIGHT}"),
           "embedding_minus_pitch": difference(rows, "embedding", "pitch"),
           "fused_minus_model": difference(rows, f"fused_{FUSED_WEIGHT}", "model"),
           "model": accuracy(rows, "model"), "pitch": accuracy(rows, "pitch"),
           "per_corpus": {c: round(sum(r["embedding"] == r["truth"] for r in part) / len(part), 4)
                          for c in sorted({r["corpus"] for r in rows})
                          for part in [[r for r in rows if r["corpus"] == c]]}, "rows": rows}
    if paired_with is not None:
        both = [{**r, "teacher": t["embedding"]} for r, t in zip(rows, paired_with)]
        out["minus_teacher"] = difference(both, "embedding", "teacher")
    return out


def check(run: str, students: Sequence[str], epochs: int, seed: int, clip_seconds: float,
          results: str = KFOLD_RESULTS, log=print) -> dict:
    folds, _ = read_run_here(run, results)
    paths = sorted({r["path"] for f in folds for r in f["rows"]})
    feats = features(paths, clip_seconds, log)
    key_index = {k: i for i, k in enumerate(feats["keys"].tolist())}
    teacher = utterance_embeddings(feats["teacher"], feats)
    out = {"run": run, "clip_seconds": clip_seconds, "epochs": epochs, "seed": seed,
           "teacher": score(folds, [teacher] * len(folds)), "students": {}}
    teacher_rows = out["teacher"].pop("rows")
    log(f"distill check: teacher {out['teacher']['embedding']['accuracy']}")
    for name in students:
        per_fold, cosines, seconds = [], [], 0.0
        for i, fold in enumerate(folds):
            test_utts = {key_index[speaker_embeddings.data_key(r["path"])] for r in fold["rows"]}
            train_clips = np.flatnonzero(~np.isin(feats["owner"], list(test_utts)))
            test_clips = np.flatnonzero(np.isin(feats["owner"], list(test_utts)))
            started = time.monotonic()
            model = train_student(name, feats, train_clips, epochs, seed + i, log)
            seconds += time.monotonic() - started
            w = student_window_embeddings(model, feats)
            s, t = w[test_clips][:, predict_windows(feats)], feats["teacher"][test_clips][:, predict_windows(feats)]
            cosines.append(float((s * t).sum(-1).mean()))
            per_fold.append(utterance_embeddings(w, feats))
            log(f"distill check: {name} fold {i}: test-window cosine to the teacher {cosines[-1]:.3f}")
        r = score(folds, per_fold, paired_with=teacher_rows)
        r.pop("rows")
        out["students"][name] = {**r, "test_cosine": [round(c, 4) for c in cosines], "train_seconds": round(seconds)}
        log(f"distill check: {name} {r['embedding']['accuracy']} (teacher {out['teacher']['embedding']['accuracy']})")
    return out


def markdown(result: dict) -> str:
    rows = [("teacher (GE2E, 3 LSTMs of 256)", result["teacher"], "-", "-")]
    rows += [(n, s, ", ".join(f"{c:.2f}" for c in s["test_cosine"]), s["train_seconds"])
             for n, s in result["students"].items()]
    corpora = sorted(result["teacher"]["per_corpus"])
    return "\n".join([
        "# A distilled speaker encoder: does a smaller one keep the gender cue?", "",
        *_util.machine_lines([f"git commit: {_util.git_commit()}",
                              f"run: {result['run']} (its folds), clips of {result['clip_seconds']:g} s as predict "
                              f"cuts them; students trained {result['epochs']} epochs per fold, seed {result['seed']}"]),
        "",
        f"The run's model: {accuracy_cell(result['teacher']['model'])}; "
        f"the pitch rule: {accuracy_cell(result['teacher']['pitch'])}.",
        "", _util.table(["encoder", "embedding LR", "embedding - rule", "- teacher, points (paired)",
                         f"fused with the run's model, w = {FUSED_WEIGHT}",
                         "fused - model", *corpora, "test-window cosine to the teacher per fold", "training s"],
                        [[n, accuracy_cell(s["embedding"]), difference_cell(s["embedding_minus_pitch"]),
                          difference_cell(s["minus_teacher"]) if "minus_teacher" in s else "-", accuracy_cell(s["fused"]),
                          difference_cell(s["fused_minus_model"]), *(f"{s['per_corpus'][c]:.3f}" for c in corpora),
                          cos, secs] for n, s, cos, secs in rows]), ""])


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.distill_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a finished k-fold run (bench/results/kfold/<run>)")
    p.add_argument("--students", default="conv128", help=f"comma-separated, of {sorted(STUDENTS)}")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clip-seconds", type=float, default=4.0)
    p.add_argument("--results", default=KFOLD_RESULTS)
    p.add_argument("--out", default=None, help="Markdown file (default bench/results/distill_check.md)")
    args = p.parse_args(argv)
    students = [s.strip() for s in args.students.split(",") if s.strip()]
    unknown = [s for s in students if s not in STUDENTS]
    if unknown:
        raise SystemExit(f"bench: error: --students {unknown[0]!r}: use one of {sorted(STUDENTS)}.")
    result = check(args.run, students, args.epochs, args.seed, args.clip_seconds, args.results)
    _util.write_report(args.out or os.path.join(_util.REPO_ROOT, "bench", "results", "distill_check.md"),
                       markdown(result), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
