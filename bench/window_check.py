"""How short may the speaker encoder's windows be? The in-model GE2E encoder (trainer/speaker_encoder.py)
embeds every utterance a finished k-fold run scored, once per window setting (mel frames per window :
frames between window starts, trainer.speaker_embedding_window_frames / _window_step), and a logistic
regression on those embeddings is fitted and scored on the run's folds exactly as bench/embedding_check.py
does (each fold fitted on the others, C chosen inside them). No model is trained, so a setting costs about a
minute, against 15-30 for a k-fold run; the k-fold run of a recipe with the setting is the real test.

An utterance is embedded as `predict` reads it: decoded at 16 kHz, cut into the model's clips (the last one
zero-padded), each clip embedded by the encoder layer, the clip embeddings averaged weighted by the real
audio in each, then scaled to unit length. Shorter windows mean fewer sequential LSTM steps, which set the
encoder's time at predict's 1-3 clips per call (bench/encoder_speed.py measures the time itself).

Run:  .venv/bin/python -m bench.window_check --run r26 [--variants 160:160,80:160,80:80,40:160,40:80]
Writes bench/results/window_check.md|json; each variant's embeddings are kept in
.cache/speaker_embeddings/ge2e-<clip>s-w<frames>-s<step>.npz (written whole or not at all) and reused.
"""
import argparse
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from bench import _util, embedding_check, speaker_embeddings
from bench.kfold_results import KFOLD_RESULTS
from bench.kfold_summary import accuracy_cell, difference_cell

DEFAULT_VARIANTS = "160:160,80:160,80:80,40:160,40:80"
FUSED_WEIGHT = "2"   # trainer.speaker_embedding_weight of the default recipe


def parse_variants(text: str) -> List[Tuple[int, int]]:
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        try:
            frames, step = (int(v) for v in item.split(":"))
        except ValueError:
            raise SystemExit(f"bench: error: --variants {item!r}: write FRAMES:STEP, e.g. 80:160.") from None
        if not (20 <= frames <= 160 and 1 <= step <= 160):
            raise SystemExit(f"bench: error: --variants {item!r}: frames 20-160 and step 1-160, as the trainer "
                             "settings allow.")
        out.append((frames, step))
    return out


def utterance_embedding(clip_embeddings: np.ndarray, real: np.ndarray) -> np.ndarray:
    """The clips' embeddings averaged, each weighted by its real samples, at unit length."""
    v = (clip_embeddings * real[:, None]).sum(axis=0)
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def encoder_function(frames: int, step: int, clip_samples: int) -> Callable[[np.ndarray], np.ndarray]:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trainer.speaker_encoder import SpeakerEmbedding  # pylint: disable=import-outside-toplevel
    layer = SpeakerEmbedding(clip_samples, window_step=step, window_frames=frames)
    layer.build((None, clip_samples))
    fn = tf.function(layer.call, input_signature=[tf.TensorSpec([None, clip_samples], tf.float32)])
    return lambda clips: fn(tf.constant(clips)).numpy()


def embed(paths: Sequence[str], frames: int, step: int, clip_samples: int, log=print) -> Tuple[Dict[str, np.ndarray], float]:
    from components.common import audio  # pylint: disable=import-outside-toplevel
    from trainer.classifier import UNREADABLE_HINT, cut_windows  # pylint: disable=import-outside-toplevel
    from trainer.speaker_encoder import SAMPLE_RATE  # pylint: disable=import-outside-toplevel
    encode, out = encoder_function(frames, step, clip_samples), {}
    started = time.monotonic()
    for i, path in enumerate(paths):
        clips, real = cut_windows(audio.decode_audio(path, SAMPLE_RATE, UNREADABLE_HINT), clip_samples)
        out[speaker_embeddings.data_key(path)] = utterance_embedding(encode(clips), real)
        if (i + 1) % 400 == 0 or i + 1 == len(paths):
            log(f"window check {frames}:{step}: {i + 1} of {len(paths)} files, {time.monotonic() - started:.0f} s")
    return out, time.monotonic() - started


def windows_per_clip(frames: int, step: int, clip_seconds: float) -> int:
    from trainer.speaker_encoder import SAMPLE_RATE, window_plan  # pylint: disable=import-outside-toplevel
    return window_plan(int(round(clip_seconds * SAMPLE_RATE)), step, frames)[0]


def cache_file(frames: int, step: int, clip_seconds: float) -> str:
    return os.path.join(speaker_embeddings.CACHE_DIR, f"ge2e-{clip_seconds:g}s-w{frames}-s{step}.npz")


def variant_embeddings(paths: Sequence[str], frames: int, step: int, clip_seconds: float,
                       log=print) -> Tuple[Dict[str, np.ndarray], Optional[float]]:
    """(embeddings, seconds it took, None when read from the cache); the cache must cover `paths`."""
    path = cache_file(frames, step, clip_seconds)
    if os.path.isfile(path):
        cached = speaker_embeddings.load(path)
        if all(speaker_embeddings.data_key(p) in cached for p in paths):
            return cached, None
    from trainer.speaker_encoder import SAMPLE_RATE  # pylint: disable=import-outside-toplevel
    embeddings, seconds = embed(paths, frames, step, int(round(clip_seconds * SAMPLE_RATE)), log)
    speaker_embeddings.save(embeddings, path)
    return embeddings, seconds


def check(run: str, variants: Sequence[Tuple[int, int]], clip_seconds: float, results: str = KFOLD_RESULTS,
          audit: str = embedding_check.LABEL_AUDIT, log=print) -> dict:
    paths = speaker_embeddings.utterance_paths(run, results)
    rows = []
    for frames, step in variants:
        embeddings, seconds = variant_embeddings(paths, frames, step, clip_seconds, log)
        r = embedding_check.check([run], embeddings, results, audit=audit)["runs"][run]
        rows.append({"frames": frames, "step": step, "windows_per_clip": windows_per_clip(frames, step, clip_seconds),
                     "embed_seconds": None if seconds is None else round(seconds, 1),
                     "embedding": r["embedding"], "embedding_minus_pitch": r["embedding_minus_pitch"],
                     "fused": r["fused"][FUSED_WEIGHT], "model": r["model"], "pitch": r["pitch"],
                     "per_corpus": {c: v["embedding"] for c, v in r["per_corpus"].items()},
                     "utterances": r["utterances"], "c_chosen": r["c_chosen"]})
    return {"run": run, "clip_seconds": clip_seconds, "variants": rows}


def markdown(result: dict) -> str:
    rows = result["variants"]
    first = rows[0]
    corpora = sorted(first["per_corpus"])
    return "\n".join([
        "# The speaker encoder's windows: how short may they be?", "",
        *_util.machine_lines([f"git commit: {_util.git_commit()}",
                              f"run: {result['run']} ({first['utterances']} utterances; its folds), "
                              f"clips of {result['clip_seconds']:g} s as predict cuts them"]), "",
        f"The run's model: {accuracy_cell(first['model'])}; the pitch rule: {accuracy_cell(first['pitch'])}. Per window setting, "
        "a logistic regression on the in-model encoder's embeddings, fitted on the other folds (C chosen inside "
        f"them), and fused with the run's model as the fitted head is (model log-odds + {FUSED_WEIGHT} x the LR's; "
        "the run's model was trained beside 160:160 windows, so this column is indicative). Speaker-bootstrap "
        "95 % intervals; differences to the rule are paired.", "",
        _util.table(["frames per window (LSTM steps)", "step", "windows per clip", "embedding LR", "embedding - rule",
                     f"fused, w = {FUSED_WEIGHT}", *corpora, "embedding time, s"],
                    [[r["frames"], r["step"], r["windows_per_clip"], accuracy_cell(r["embedding"]),
                      difference_cell(r["embedding_minus_pitch"]), accuracy_cell(r["fused"]),
                      *(f"{r['per_corpus'][c]:.3f}" for c in corpora),
                      "cached" if r["embed_seconds"] is None else r["embed_seconds"]] for r in rows]), "",
        "The embedding time covers decoding, framing and the encoder, one file at a time, with TensorFlow's "
        "default threads; bench/encoder_speed.py times the encoder alone on one pinned core.", ""])


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.window_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a finished k-fold run (bench/results/kfold/<run>)")
    p.add_argument("--variants", default=DEFAULT_VARIANTS, help="FRAMES:STEP, comma-separated")
    p.add_argument("--clip-seconds", type=float, default=4.0, help="the model's clip length (the recipes': 4 s)")
    p.add_argument("--results", default=KFOLD_RESULTS)
    p.add_argument("--out", default=None, help="Markdown file (default bench/results/window_check.md)")
    args = p.parse_args(argv)
    result = check(args.run, parse_variants(args.variants), args.clip_seconds, args.results)
    _util.write_report(args.out or os.path.join(_util.REPO_ROOT, "bench", "results", "window_check.md"),
                       markdown(result), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
