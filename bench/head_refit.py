"""Head recipes in minutes: the fitted speaker head refitted on other data, on kept k-fold models.

The exported model is softmax(log p_conv + w x the head's logits) (trainer/speaker_head.py); the head is a
logistic regression on a frozen pretrained speaker embedding, fitted after the conv model is trained. Its
fit data and settings change nothing in the conv model, so a head recipe need not retrain anything: for a
`bench.kfold --keep` run this tool loads each fold's kept SavedModel, computes the conv model's
log-probabilities and the speaker embeddings on every window of every test utterance (cut as `predict`
cuts), embeds the fold's own train clips as the trainer did, refits the head for each --variants entry
and scores the test utterances as `predict` does, at the run's own weight w and with the head alone.

Variants (comma-separated in --variants; `c=...` and `w=...` suffixes, e.g. `balanced:c=0.01`):
- `shipped`: the model's own head, untouched (the reference every other variant is paired with);
- `refit`: the trainer's recipe again (single-speaker train clips + trainer.speaker_head_copies perturbed
  copies, weighted as trainer.speaker_head_balance was): the tool's check on itself, it must give the
  shipped head's answers;
- `unweighted`: the same rows, each weighted 1 (trainer.speaker_head_balance=none);
- `balanced`: the same rows, weighted so that every train speaker weighs the same (the clips a synthesis
  happens to draw of a speaker, and their copies, share one weight; trainer.speaker_head_balance=speaker);
- `corpus-balanced`: weighted so that every train corpus and gender weighs the same, speakers equal within it;
- `utterances` / `utterances-balanced`: the windows of the fold's train speakers' real utterances (the
  other folds' test utterances, whose embeddings the tool has; the encoder is frozen and the same in every
  fold, which the tool checks), unweighted / every speaker weighing the same;
- `clips+utterances-balanced`: both row sets, every speaker weighing the same in each half;
- `mlp` / `svm`: is the linear head the limit? The trainer's rows, standardized, fitted by sklearn's
  MLPClassifier (one hidden layer of 64, alpha 1; in-graph it would be two Dense layers) or an RBF SVC
  (C 1); their log-odds stand in for the head's logit difference. Probes: neither is a trainer setting.

The conv model is the fold's own in every variant. The runs' test speakers are the bundled ones and many
variants are compared on them, so a variant that wins here is a candidate for a k-fold run trained anew,
never a result.

Run:  .venv/bin/python -m bench.head_refit --runs r34-end-kept=/work/kfold-kept/r34-end-kept
      [--variants shipped,refit,balanced,...] [--out bench/results/head_refit.md]
"""
import argparse
import collections
import dataclasses
import glob
import hashlib
import json
import os
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported, as the trainer does)
from bench import _util, kfold
from bench.expert_weights import HEAD, decisions, fold_files, kept_model, model_parts, parse_runs, \
    scorable_utterances, window_outputs
from bench.kfold_results import KFOLD_RESULTS, scored_cut
from bench.kfold_summary import accuracy_by_corpus, accuracy_rows, difference

DEFAULT_VARIANTS = ("shipped", "refit", "unweighted", "balanced", "corpus-balanced", "utterances",
                    "utterances-balanced",
                    "clips+utterances-balanced", "balanced:c=0.0003", "balanced:c=0.003", "mlp", "svm")
DATA = {"refit": ("clips", "own"), "unweighted": ("clips", None), "balanced": ("clips", "speaker"),
        "corpus-balanced": ("clips", "corpus"),
        "utterances": ("utterances", None), "utterances-balanced": ("utterances", "speaker"),
        "clips+utterances-balanced": ("both", "speaker"), "mlp": ("clips", None), "svm": ("clips", None)}
NONLINEAR = ("mlp", "svm")


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str                       # as given in --variants
    data: str                       # shipped | clips | utterances | both
    balance: Optional[str]          # None | speaker | corpus | own (the trainer's, from training.json)
    c: Optional[float]              # None: the run's own
    weight: Optional[float]         # None: the run's own
    nonlinear: Optional[str] = None  # a probe head (NONLINEAR) instead of the logistic regression


def parse_variant(text: str) -> Variant:
    base, *options = text.strip().split(":")
    if base != "shipped" and base not in DATA:
        raise SystemExit(f"bench: error: --variants {text!r}: unknown {base!r}; use shipped or one of {', '.join(DATA)}.")
    settings = {}
    for option in options:
        k, _, v = option.partition("=")
        try:
            if k not in ("c", "w"):
                raise ValueError
            settings[k] = float(v)
        except ValueError:
            raise SystemExit(f"bench: error: --variants {text!r}: options are c=NUMBER and w=NUMBER.") from None
    if base == "shipped" and "c" in settings:
        raise SystemExit(f"bench: error: --variants {text!r}: the shipped head is not refitted; c does not apply.")
    if base in NONLINEAR and "c" in settings:
        raise SystemExit(f"bench: error: --variants {text!r}: c is the logistic regression's; {base} has its own settings.")
    data, balance = ("shipped", None) if base == "shipped" else DATA[base]
    return Variant(text.strip(), data, balance, settings.get("c"), settings.get("w"), base in NONLINEAR and base)


def nonlinear_head(kind: str, x: np.ndarray, y: np.ndarray, seed: int = 0):
    """A probe head: embeddings -> [n, 2] logits (0, log-odds of class 1), fitted by sklearn on standardized x."""
    from sklearn.neural_network import MLPClassifier  # pylint: disable=import-outside-toplevel
    from sklearn.preprocessing import StandardScaler  # pylint: disable=import-outside-toplevel
    from sklearn.svm import SVC  # pylint: disable=import-outside-toplevel
    scaler = StandardScaler().fit(x)
    model = (MLPClassifier((64,), alpha=1.0, max_iter=500, random_state=seed) if kind == "mlp"
             else SVC(C=1.0, kernel="rbf", gamma="scale")).fit(scaler.transform(x), y)

    def logits(embeddings: np.ndarray) -> np.ndarray:
        z = scaler.transform(embeddings)
        if kind == "svm":
            odds = model.decision_function(z)
        else:
            p = np.clip(model.predict_proba(z)[:, 1], 1e-6, 1 - 1e-6)
            odds = np.log(p / (1 - p))
        return np.stack([np.zeros_like(odds), odds], axis=1)
    return logits, float(np.mean(model.predict(scaler.transform(x)) == y))


def group_weights(keys: Sequence[Tuple[str, str]]) -> np.ndarray:
    """Row weights (mean 1) for (group, speaker) keys: every group the same total, shared equally among its
    speakers (every speaker alone: trainer/speaker_head.py's speaker_weights)."""
    groups = collections.defaultdict(set)
    for group, speaker in keys:
        groups[group].add(speaker)
    counts = collections.Counter(keys)
    weight = np.array([1.0 / (len(groups[g]) * counts[(g, s)]) for g, s in keys])
    return weight * len(weight) / weight.sum()


# ---- what the encoder and the conv model say -------------------------------------------------------------

def encoder_fingerprint(encoder) -> str:
    digest = hashlib.sha1()
    for v in sorted(encoder.variables, key=lambda v: v.name):
        digest.update(v.name.encode())
        digest.update(np.ascontiguousarray(v.numpy()).tobytes())
    return digest.hexdigest()[:16]


def utterance_outputs(path: str, fold: dict, conv, encoder, rate: int, clip_samples: int) -> List[dict]:
    """Per scorable test utterance of a fold: its row facts, the windows' weights, the conv model's
    log-probabilities and the speaker embeddings."""
    cut = scored_cut(fold)
    out = []
    for row, samples in scorable_utterances(path, fold["rows"], rate):
        windows, real = cut(samples, clip_samples)
        log_p, embeddings = window_outputs(conv, encoder, windows)
        out.append({"row": row, "real": np.asarray(real, np.float64), "log_p": log_p, "embeddings": embeddings})
    return out


def train_clip_embeddings(model_dir: str, fold: dict, encoder, clip_samples: int) -> Dict[str, np.ndarray]:
    """The fold's single-speaker train clips and the trainer's perturbed copies of them, embedded as the
    trainer embedded them (trainer/speaker_head.py, with the fold's own config), with each row's speaker."""
    from trainer import distill_augment, speaker_head  # pylint: disable=import-outside-toplevel
    fold_dir = os.path.dirname(model_dir.rstrip("/"))
    with open(os.path.join(fold_dir, "model_run", "training.json"), encoding="utf-8") as f:
        head = json.load(f)["speaker_head"]
    config = fold["settings"]["config"]
    seed, encoding = config["trainer"]["seed"], config["examples"]["audio_encoding"]
    if head.get("clip_kind") != "single_speaker" or head.get("encoder") != "ge2e":
        raise SystemExit(f"bench: error: {fold_dir}: a head fitted on {head.get('clip_kind')!r} clips with the "
                         f"{head.get('encoder')!r} encoder; this tool replays GE2E heads fitted on single-speaker clips.")
    files = sorted(glob.glob(os.path.join(fold_dir, "train", "*.gz")))
    if not files:
        raise SystemExit(f"bench: error: {fold_dir}/train: no train clips kept; run the k-fold with --keep.")
    clips = speaker_head.single_speaker_clips(files, encoding, clip_samples, with_speakers=True)
    clips = distill_augment.with_copies(clips, head["copies"], seed, speed=False)
    x, y, speakers = speaker_head.embed_clips(clips, encoder)
    if len(y) != head["clips"]:
        raise SystemExit(f"bench: error: {fold_dir}: {len(y)} rows embedded and {head['clips']} rows in the "
                         "trainer's fit: the kept clips are not the run's.")
    return {"x": x, "y": y, "speakers": speakers}


# ---- refitting and scoring --------------------------------------------------------------------------------

def fit_rows(variant: Variant, clips: Dict[str, np.ndarray], utterances: Dict[str, np.ndarray],
             own_balance: str = "none") -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, sample weights) a variant fits on; `own_balance`: the run's trainer.speaker_head_balance.
    Speakers are "corpus/speaker", as the Examples and the k-fold rows name them."""
    from trainer.speaker_head import speaker_weights  # pylint: disable=import-outside-toplevel
    balance = variant.balance if variant.balance != "own" else (None if own_balance == "none" else own_balance)
    parts = []
    for name, rows in (("clips", clips), ("utterances", utterances)):
        if variant.data not in (name, "both"):
            continue
        if balance is None:
            weight = np.ones(len(rows["y"]))
        elif balance == "speaker":
            weight = speaker_weights(rows["speakers"])
        else:
            weight = group_weights([(f"{s.split('/', 1)[0]}/{g}", s) for s, g in zip(rows["speakers"], rows["y"])])
        parts.append((rows["x"], rows["y"], weight))
    x, y, weight = (np.concatenate(p) for p in zip(*parts))
    return x, y, weight * len(weight) / weight.sum()


def utterance_rows(train: set, outputs: Dict[str, List[dict]]) -> Dict[str, np.ndarray]:
    """Every window of the real utterances of `train` speakers (all tested in some fold of the run)."""
    items = [u for fold in outputs.values() for u in fold if u["row"]["speaker"] in train]
    missing = train - {u["row"]["speaker"] for u in items}
    if missing:
        raise SystemExit(f"bench: error: {len(missing)} train speakers (e.g. {sorted(missing)[0]}) were tested in no "
                         "fold of the run; the utterance variants need a complete k-fold run, not a probe.")
    return {"x": np.concatenate([u["embeddings"] for u in items]),
            "y": np.concatenate([np.full(len(u["real"]), u["row"]["truth"]) for u in items]),
            "speakers": np.concatenate([[u["row"]["speaker"]] * len(u["real"]) for u in items])}


CACHE = "head_refit_cache.npz"   # beside each kept fold's model/: what the fold's model and encoder said


def fold_outputs(path: str, fold: dict, model_dir: str, conv, encoder, rate: int, clip_samples: int
                 ) -> Tuple[List[dict], Dict[str, np.ndarray]]:
    """(utterance_outputs, train_clip_embeddings) of a fold, computed once and cached beside its kept model
    (keyed by the model's saved_model.pb, so another model in the folder is computed anew)."""
    cache = os.path.join(os.path.dirname(model_dir.rstrip("/")), CACHE)
    stat = os.stat(os.path.join(model_dir, "saved_model.pb"))
    key = f"{stat.st_size}:{stat.st_mtime_ns}"
    scorable = [i for i, row in enumerate(fold["rows"]) if row["model"] != -1]
    if os.path.isfile(cache):
        with np.load(cache, allow_pickle=False) as saved:
            if str(saved["key"]) == key and list(saved["rows"]) == scorable:
                ends = np.cumsum(saved["windows"])[:-1]
                tests = [{"row": fold["rows"][i], "real": real, "log_p": log_p, "embeddings": emb}
                         for i, real, log_p, emb in zip(scorable, np.split(saved["real"], ends),
                                                        np.split(saved["log_p"], ends), np.split(saved["test_x"], ends))]
                return tests, {"x": saved["clip_x"], "y": saved["clip_y"], "speakers": saved["clip_speakers"]}
    started = time.monotonic()
    tests = utterance_outputs(path, fold, conv, encoder, rate, clip_samples)
    print(f"{path}: test windows scored ({time.monotonic() - started:.0f} s); embedding the train clips", flush=True)
    started = time.monotonic()
    clips = train_clip_embeddings(model_dir, fold, encoder, clip_samples)
    print(f"{path}: {len(clips['y'])} train rows embedded ({time.monotonic() - started:.0f} s)", flush=True)
    partial = cache + ".partial.npz"
    np.savez(partial, key=key, rows=np.array(scorable), windows=np.array([len(t["real"]) for t in tests]),
             real=np.concatenate([t["real"] for t in tests]), log_p=np.concatenate([t["log_p"] for t in tests]),
             test_x=np.concatenate([t["embeddings"] for t in tests]), clip_x=clips["x"], clip_y=clips["y"],
             clip_speakers=clips["speakers"])
    os.replace(partial, cache)
    return tests, clips


def replay_run(run: str, models: str, variants: Sequence[Variant], results: str) -> Tuple[List[dict], dict]:
    from trainer import speaker_head  # pylint: disable=import-outside-toplevel
    paths = fold_files(run, results)
    folds, parts, outputs, clips, fingerprints = {}, {}, {}, {}, set()
    for path in paths:
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path, encoding="utf-8") as f:
            folds[name] = json.load(f)
        model_dir = kept_model(models, name)
        conv, encoder, kernel, bias, shipped, rate, clip_samples = model_parts(model_dir)
        fingerprints.add(encoder_fingerprint(encoder))
        outputs[name], clips[name] = fold_outputs(path, folds[name], model_dir, conv, encoder, rate, clip_samples)
        with open(os.path.join(os.path.dirname(model_dir), "model_run", "training.json"), encoding="utf-8") as f:
            recorded = json.load(f)["speaker_head"]
        parts[name] = {"kernel": kernel, "bias": bias, "weight": shipped, "c": float(recorded["c"]),
                       "balance": recorded.get("balance", "none")}
    if len(fingerprints) != 1 and any(v.data in ("utterances", "both") for v in variants):
        raise SystemExit("bench: error: the folds' speaker encoders differ; the utterance variants reuse one fold's "
                         "embeddings in another and need the same frozen encoder in every fold.")
    rows, fits = [], {}
    for name, fold in folds.items():
        own = parts[name]
        train = set(fold["speakers"]["train"])
        utterances = utterance_rows(train, outputs) if any(v.data in ("utterances", "both") for v in variants) else {}
        heads = {}
        for v in variants:
            if v.data == "shipped":
                heads[v.name] = lambda e, k=own["kernel"], b=own["bias"]: e @ k + b
                continue
            x, y, weight = fit_rows(v, clips[name], utterances, own["balance"])
            c = None if v.nonlinear else own["c"] if v.c is None else v.c
            if v.nonlinear:
                heads[v.name], fit_accuracy = nonlinear_head(v.nonlinear, x, y)
            else:
                fitted = speaker_head.fit_logistic(x, y, 2, c, weight)
                heads[v.name] = fitted.logits
                fit_accuracy = float(np.mean(fitted.logits(x).argmax(1) == y))
            fits.setdefault(v.name, []).append({"fold": name, "rows": int(len(y)), "c": c,
                                                "fit_accuracy": round(fit_accuracy, 4)})
        for u in outputs[name]:
            row = u["row"]
            out = {"speaker": row["speaker"], "corpus": row["corpus"], "truth": row["truth"], "pitch": row["pitch"],
                   "run's own": row["model"]}
            for v in variants:
                logits = heads[v.name](u["embeddings"])
                w = own["weight"] if v.weight is None else v.weight
                chosen = decisions(u["log_p"], logits, u["real"], [w, None])
                out[v.name], out[f"{v.name} {HEAD}"] = chosen[w], chosen[None]
            rows.append(out)
    return rows, {"fits": fits, "encoder_fingerprints": sorted(fingerprints)}


def summarize(rows: List[dict], variants: Sequence[Variant]) -> dict:
    keys = [k for v in variants for k in (v.name, f"{v.name} {HEAD}")] + ["pitch"]
    reference = variants[0].name
    return {"reference": reference, "utterances": len(rows), "corpora": sorted({r["corpus"] for r in rows}),
            "accuracy": accuracy_by_corpus(rows, keys),
            "minus_reference": {k: difference(rows, k, reference) for k in keys if k != reference},
            "minus_rule": {k: difference(rows, k, "pitch") for k in keys if k != "pitch"},
            "differs_from_run": {v.name: int(sum(r[v.name] != r["run's own"] for r in rows)) for v in variants}}


def markdown(result: dict) -> str:
    lines = ["# The fitted speaker head refitted on other data (kept k-fold models)", "", *_util.machine_lines(), "",
             "Single-utterance accuracy, scored as `predict` scores, of each fold's kept conv model with its speaker "
             "head refitted per variant (bench/head_refit.py), and of the refitted head alone. Many variants are "
             "compared on the same bundled test speakers: a winner is a candidate for a k-fold run trained anew, "
             "not a result.", ""]
    for run, part in result["runs"].items():
        summary = part["summary"]
        columns = [*summary["corpora"], "overall"]
        table = accuracy_rows(summary, "minus_reference",
                              lambda k: f"**{k}** (reference)" if k == summary["reference"] else k)
        lines += [f"## {run} ({summary['utterances']} utterances)", "",
                  _util.table(["decision", *columns, f"minus {summary['reference']}, points", "minus the rule, points"],
                              table), "",
                  "Utterances whose decision differs from the run's own answer: " +
                  ", ".join(f"{k} {n}" for k, n in summary["differs_from_run"].items()) + ".", "",
                  "Fits (rows, C of the logistic regression, accuracy on the rows fitted), per fold:", ""]
        for name, fits in part["fits"].items():
            lines.append(f"- {name}: " + "; ".join(
                f"{f['fold']} {f['rows']} rows, {'its own settings' if f['c'] is None else format(f['c'], 'g')}, "
                f"{f['fit_accuracy']:.3f}" for f in fits))
        lines.append("")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, help="k-fold runs made with --keep, NAME[=FOLDER of its kept folds]")
    parser.add_argument("--models", default=kfold.DEFAULT_WORK, help="the kept fold folders (bench.kfold --work)")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help="comma-separated; the first is the reference the others are paired with")
    parser.add_argument("--results", default=KFOLD_RESULTS)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(KFOLD_RESULTS), "head_refit.md"))
    args = parser.parse_args(argv)
    variants = [parse_variant(v) for v in args.variants.split(",") if v.strip()]
    if not variants or len({v.name for v in variants}) != len(variants):
        parser.error("--variants: name at least one variant, each once")
    result = {"variants": [v.name for v in variants], "runs": {}}
    for run, models in parse_runs(args.runs, args.models):
        rows, facts = replay_run(run, models, variants, args.results)
        result["runs"][run] = {"summary": summarize(rows, variants), **facts}
    _util.write_report(args.out, markdown(result), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
