"""How much should the fitted speaker head weigh against the conv model? Replayed on kept k-fold models.

The exported model outputs softmax(log p_conv + w x the head's logits) (trainer/speaker_head.py; w is
trainer.speaker_embedding_weight, 2 since r25, chosen by replaying r10 runs with an LR fitted outside the
model). This check asks it of the models themselves: for a k-fold or leave-one-corpus-out run made with
`bench.kfold --keep`, it loads each fold's kept SavedModel, computes on every window of every test
utterance the conv model's probabilities and the head's logits apart (the layers inside the model), and
scores the utterances as `predict` does (trainer/classifier.py: windows weighted by their real audio) at
each weight of --weights, with the conv model alone (w = 0) and with the head alone. Nothing is trained.
The run's own weight must give the run's own answers: a single differing utterance is an error.

Reported per run and pooled over the runs: accuracy per corpus at each weight, and each weight's paired
difference to the run's own (speaker-bootstrap interval). The runs' test speakers are the bundled ones, so
a weight chosen here is chosen on them: a candidate for new k-fold seeds, not a result.

Run:  .venv/bin/python -m bench.expert_weights --runs r26-kept[=MODELS_DIR],... [--models /tmp/audioclf-kfold]
      [--weights 0.5,1,2,4,8,16] [--out bench/results/expert_weights.md]
"""
import argparse
import glob
import json
import os
import sys
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported, as the trainer does)
from bench import _util, kfold
from bench.kfold_results import KFOLD_RESULTS, run_names, scored_cut
from bench.kfold_summary import accuracy_by_corpus, accuracy_rows, difference
from trainer.speaker_head import LOG_FLOOR

DEFAULT_WEIGHTS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
CONV, HEAD = "conv model alone", "head alone"
# The variables that name each part inside an exported model (trainer/model.py, speaker_encoder.py, speaker_head.py).
PARTS = {"conv": "conv0/kernel", "encoder": "speaker_embedding/", "dense": "speaker_logits/kernel"}


def parse_runs(text: str, models: str) -> List[Tuple[str, str]]:
    """(run, folder of its kept fold folders) for each NAME[=DIR] of --runs."""
    return [(name.split("=", 1)[0], name.split("=", 1)[1] if "=" in name else models) for name in run_names(text)]


def fold_files(run: str, results: str) -> List[str]:
    files = sorted(glob.glob(os.path.join(results, run, "fold-*.json")) + glob.glob(os.path.join(results, run, "loco-*.json")))
    if not files:
        raise SystemExit(f"bench: error: {os.path.join(results, run)}: no fold-*.json or loco-*.json; name a finished "
                         "`python -m bench.kfold ... --keep` run.")
    return files


def kept_model(models: str, fold: str) -> str:
    """The one kept fold folder `<fold>-*` in `models` (bench.kfold --keep names them so), its model/."""
    found = [p for p in glob.glob(os.path.join(models, f"{fold}-*", "model"))
             if os.path.isfile(os.path.join(p, "saved_model.pb"))]
    if len(found) != 1:
        what = "no kept model" if not found else f"{len(found)} kept models ({', '.join(sorted(found))})"
        raise SystemExit(f"bench: error: {models}: {what} for {fold}; run the k-fold with --keep and give its --work "
                         "folder here (one run per folder), as RUN=FOLDER in --runs or --models.")
    return found[0]


def model_parts(model_dir: str):
    """(conv model, encoder, head kernel, head bias, weight, sample rate, clip samples) of an exported model
    with a fitted head, from one load of the SavedModel and its metadata."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trainer import export  # pylint: disable=import-outside-toplevel
    keras_model = tf.saved_model.load(model_dir).model
    layers = [getattr(keras_model, name) for name in dir(keras_model) if name.startswith("layer")]
    parts = {}
    for layer in layers:
        names = [v.name for v in getattr(layer, "variables", [])]
        for part, prefix in PARTS.items():
            if any(n.startswith(prefix) for n in names) and part not in parts:
                parts[part] = layer
    missing = sorted(set(PARTS) - set(parts))
    if missing:
        raise SystemExit(f"bench: error: {model_dir}: no {', '.join(missing)} inside; this check needs a model "
                         "with trainer.speaker_embedding_head=fitted.")
    kernel, bias = (v.numpy() for v in sorted(parts["dense"].variables, key=lambda v: v.name.endswith("bias")))
    with open(os.path.join(os.path.dirname(model_dir.rstrip("/")), "model_run", "training.json"), encoding="utf-8") as f:
        weight = float(json.load(f)["speaker_head"]["weight"])
    metadata = export.read_metadata(model_dir)
    return (parts["conv"], parts["encoder"], kernel / weight, bias / weight, weight, int(metadata["sample_rate"]),
            int(metadata["clip_samples"]))


def decisions(log_p: np.ndarray, head: np.ndarray, real: np.ndarray, weights: Sequence[Optional[float]]) -> Dict:
    """weight -> class chosen for one recording: softmax(log_p + w x head) per window, windows weighted by
    their real audio; w None: the head alone; 0: the conv model alone."""
    from trainer.classifier import recording_probabilities  # pylint: disable=import-outside-toplevel
    out = {}
    for w in weights:
        z = head if w is None else log_p + w * head
        p = np.exp(z - z.max(axis=1, keepdims=True))
        out[w] = int(np.argmax(recording_probabilities(p / p.sum(axis=1, keepdims=True), real)))
    return out


def window_outputs(conv, encoder, windows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(the conv model's log-probabilities, the speaker embeddings) per window, as the exported model computes them."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    audio = tf.constant(windows)
    probabilities = np.asarray(conv.call_and_return_all_conditional_losses(audio, training=False)[0])
    embeddings = np.asarray(encoder.call_and_return_all_conditional_losses(audio, training=False)[0])
    return np.log(np.maximum(probabilities, LOG_FLOOR)), embeddings


def window_scores(conv, encoder, kernel, bias, windows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(the conv model's log-probabilities, the head's logits) per window, as the exported model computes them."""
    log_p, embeddings = window_outputs(conv, encoder, windows)
    return log_p, embeddings @ kernel + bias


def scorable_utterances(path: str, rows: List[dict], rate: int) -> Iterator[Tuple[dict, np.ndarray]]:
    """(row, samples read as predict reads a file) for each of a fold's rows the run could score, with progress."""
    from components.common import audio as audio_lib  # pylint: disable=import-outside-toplevel
    from trainer import classifier  # pylint: disable=import-outside-toplevel
    started = time.monotonic()
    for n, row in enumerate(rows, start=1):
        if row["model"] != -1:   # -1: the run could not score it; neither can a replay
            yield row, audio_lib.decode_audio(row["path"], rate, classifier.UNREADABLE_HINT)
        if n % 200 == 0 or n == len(rows):
            print(f"{os.path.basename(path)}: {n}/{len(rows)} utterances ({time.monotonic() - started:.0f} s)", flush=True)


def key(w: Optional[float]) -> str:
    return HEAD if w is None else CONV if w == 0 else f"w={w:g}"


def replay_fold(path: str, model_dir: str, weights: Sequence[float]) -> Tuple[List[dict], float]:
    with open(path, encoding="utf-8") as f:
        fold = json.load(f)
    rows, cut = fold["rows"], scored_cut(fold)
    conv, encoder, kernel, bias, shipped, rate, clip_samples = model_parts(model_dir)
    every = [0.0, *sorted(set(weights) | {shipped}), None]
    out = []
    for row, samples in scorable_utterances(path, rows, rate):
        windows, real = cut(samples, clip_samples)   # as predict cut it when the run scored it
        chosen = decisions(*window_scores(conv, encoder, kernel, bias, windows), real, every)
        if chosen[shipped] != row["model"]:
            raise SystemExit(f"bench: error: {row['path']}: replayed at the model's own weight {shipped:g} it is class "
                             f"{chosen[shipped]}, the run said {row['model']}: {model_dir} is not the model of {path}.")
        out.append({"speaker": row["speaker"], "corpus": row["corpus"], "truth": row["truth"], "pitch": row["pitch"],
                    **{key(w): c for w, c in chosen.items()}})
    return out, shipped


def check(runs: Sequence[Tuple[str, str]], weights: Sequence[float], results: str = KFOLD_RESULTS) -> dict:
    result = {"weights": list(weights), "runs": {}}
    pooled: List[dict] = []
    shipped_weights = set()
    for run, models in runs:
        rows: List[dict] = []
        for path in fold_files(run, results):
            fold = os.path.splitext(os.path.basename(path))[0]
            fold_rows, shipped = replay_fold(path, kept_model(models, fold), weights)
            rows += fold_rows
            shipped_weights.add(shipped)
        result["runs"][run] = summarize(rows, weights, shipped)
        pooled += [{**r, "speaker": f"{run}/{r['speaker']}"} for r in rows]
    if len(runs) > 1 and len(shipped_weights) == 1:
        result["pooled"] = summarize(pooled, weights, shipped_weights.pop())
    return result


def summarize(rows: List[dict], weights: Sequence[float], shipped: float) -> dict:
    keys = [CONV, *[key(w) for w in sorted(set(weights) | {shipped})], HEAD, "pitch"]
    own = key(shipped)
    corpora = sorted({r["corpus"] for r in rows})
    return {"shipped": own, "utterances": len(rows), "corpora": corpora,
            "accuracy": accuracy_by_corpus(rows, keys),
            "minus_shipped": {k: difference(rows, k, own) for k in keys if k != own},
            "minus_rule": {k: difference(rows, k, "pitch") for k in keys if k != "pitch"}}


def markdown(result: dict) -> str:
    lines = ["# The conv model and the fitted speaker head at other weights (kept k-fold models)", "",
             *_util.machine_lines(), "",
             "Single-utterance accuracy of each run's own kept models, scored as `predict` scores, with the head's "
             "logits weighted w against the conv model's log-probabilities (w = 0: the conv model alone). The "
             "runs' test speakers are the bundled ones: a weight that wins here is a candidate for new k-fold "
             "seeds, not a measured recipe.", ""]
    parts = [(name, summary) for name, summary in result["runs"].items()]
    if "pooled" in result:
        parts.append(("pooled over the runs", result["pooled"]))
    for name, summary in parts:
        columns = [*summary["corpora"], "overall"]
        own = summary["shipped"]
        rows = accuracy_rows(summary, "minus_shipped", lambda k: f"**{k}** (the model's own)" if k == own else k)
        lines += [f"## {name} ({summary['utterances']} utterances)", "",
                  _util.table(["decision", *columns, "minus the model's own, points", "minus the rule, points"], rows), ""]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True,
                        help="k-fold runs made with --keep, NAME[=FOLDER of its kept folds], comma-separated")
    parser.add_argument("--models", default=kfold.DEFAULT_WORK, help="the kept fold folders (bench.kfold --work)")
    parser.add_argument("--weights", default=",".join(f"{w:g}" for w in DEFAULT_WEIGHTS))
    parser.add_argument("--results", default=KFOLD_RESULTS)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(KFOLD_RESULTS), "expert_weights.md"))
    args = parser.parse_args(argv)
    try:
        weights = sorted({float(w) for w in args.weights.split(",") if w.strip()})
    except ValueError:
        parser.error(f"--weights {args.weights!r}: give numbers, comma-separated")
    if not weights or min(weights) <= 0:
        parser.error("--weights: give at least one weight above 0 (0, the conv model alone, is always reported)")
    result = check(parse_runs(args.runs, args.models), weights, args.results)
    _util.write_report(args.out, markdown(result), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
