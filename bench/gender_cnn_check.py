"""Would a network trained for gender (not for speakers) be a second witness? Measured on finished k-fold runs.

The model's margin over the pitch rule is the pretrained *speaker* embedding's (README, "How much should the
head weigh?"), and the README's next step for a margin is "a second encoder ... or a gender-aware one". The
one gender network this machine can install is inaSpeechSegmenter's male/female CNN (INA, MIT licence,
trained on French radio and TV; 1.5 M parameters on 0.68 s patches of a 24-band log mel spectrogram). Its
release 0.6.8 is the last whose PyPI wheel carries the weights (later ones download them from GitHub).
This check fetches that wheel with pip (`--no-deps`: only the weights file is read), computes the
features itself (numpy, the same analysis as the package: 25 ms Hann frames every 10 ms, pre-emphasis 0.97,
24 triangular mel bands over 100-8000 Hz, log power; each 68-frame patch standardized), and scores each
utterance as the mean log-odds over its patches whose centre frame has speech energy. Nothing is fitted on
the bundled corpora for "CNN alone". Reported per run, on the same utterances as the run's model and rule:

* **CNN alone** (its own decision, log-odds > 0) with its paired difference to the rule;
* **stacked**: per fold, a logistic regression on [the model's logit, the CNN's log-odds] fitted on the other
  folds' rows (speakers that fold's model never heard), as bench/fusion_check.py stacks the F0;
* per corpus; and how often the CNN contradicts the label of each label-audit suspect and of the speakers
  with the most model errors (`--speakers`), a fifth witness that takes no part in choosing them.

Run:  .venv/bin/python -m bench.gender_cnn_check --runs r34-end-kept,r34-end-seed1,r34-end-seed2
      [--out bench/results/gender_cnn_check.md] [--cache DIR]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import zipfile
from typing import Dict, List, Optional, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from bench import _util
from bench.kfold_results import KFOLD_RESULTS, class1_probability, read_run_here, run_names
from bench.kfold_summary import accuracy, accuracy_cell, corpus_shares, difference, difference_cell

WHEEL = "inaSpeechSegmenter==0.6.8"
WEIGHTS = "inaSpeechSegmenter/keras_male_female_cnn.hdf5"   # outputs (female, male)
RATE, FRAME, HOP, N_FFT, BANDS, F_LOW, F_HIGH, PRE_EMPHASIS = 16000, 400, 160, 512, 24, 100.0, 8000.0, 0.97
PATCH = 68           # frames per patch (0.68 s), the CNN's input length
PATCH_STEP = 4       # frames between patches scored (the package scores every 2nd; 4 halves the cost)
ENERGY_RATIO = 0.03  # a patch counts when its centre frame's energy is above this share of the mean (in log)
CLIP = 1e-4
CONTRADICTED = 0.8   # the label audit's share: a speaker both model-free witnesses contradict this often
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "audioclf", "gender_cnn")
DEFAULT_SPEAKERS = "2355,2380,2451,2917,3023,2430,0765,2937,2236,9609,p225,1688"


def fetch_weights(cache: str) -> str:
    """The CNN's Keras file, from the wheel pip downloads into `cache` (once)."""
    path = os.path.join(cache, os.path.basename(WEIGHTS))
    if os.path.exists(path):
        return path
    os.makedirs(cache, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", cache, WHEEL], check=True)
    wheels = [f for f in os.listdir(cache) if f.lower().startswith("inaspeechsegmenter-0.6.8") and f.endswith(".whl")]
    if not wheels:
        raise SystemExit(f"bench: error: pip did not leave the {WHEEL} wheel in {cache}")
    with zipfile.ZipFile(os.path.join(cache, wheels[0])) as wheel:
        data = wheel.read(WEIGHTS)
    with open(path + ".part", "wb") as f:
        f.write(data)
    os.replace(path + ".part", path)
    return path


def mel_filters() -> np.ndarray:
    """[BANDS, N_FFT // 2 + 1] triangles equally spaced in (HTK) mel over F_LOW-F_HIGH, each of area ~1."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    edges = 700.0 * (10 ** (np.linspace(mel(F_LOW), mel(F_HIGH), BANDS + 2) / 2595.0) - 1.0)
    index = np.arange(N_FFT // 2 + 1)
    bins = index * RATE / N_FFT
    out = np.zeros((BANDS, len(bins)))
    for i, (low, centre, high) in enumerate(zip(edges, edges[1:], edges[2:])):
        height = 2.0 / (high - low)
        rising = (bins > low) & (bins <= centre)
        falling = (bins > centre) & (index < math.floor(high * N_FFT / RATE))   # the package stops a bin short
        out[i, rising] = height * (bins[rising] - low) / (centre - low)
        out[i, falling] = height * (high - bins[falling]) / (high - centre)
    return out


def log_mel(samples: np.ndarray) -> (np.ndarray, np.ndarray):
    """(log mel power [frames, BANDS], log frame energy [frames]) of 16 kHz audio."""
    if len(samples) < FRAME:
        samples = np.pad(samples, (0, FRAME - len(samples)))
    count = 1 + (len(samples) - FRAME) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(samples.astype(np.float64), FRAME)[::HOP][:count].copy()
    frames[:, 1:] -= PRE_EMPHASIS * frames[:, :-1]          # per frame, as a stream would see it
    frames[:, 0] *= 1.0 - PRE_EMPHASIS
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(FRAME), N_FFT)) ** 2
    with np.errstate(divide="ignore"):
        return np.log(spectrum @ mel_filters().T), np.log((frames ** 2).sum(axis=1))


def patches(mspec: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """Standardized [n, PATCH, BANDS] patches every PATCH_STEP frames whose centre frame holds speech energy
    (all patches when none does); a recording under PATCH frames is padded with its quietest band value."""
    if len(mspec) < PATCH:
        low = np.min(mspec[np.isfinite(mspec)]) if np.isfinite(mspec).any() else 0.0
        mspec = np.concatenate([mspec, np.full((PATCH - len(mspec), BANDS), low)])
        energy = np.concatenate([energy, np.full(PATCH - len(energy), -np.inf)])
    starts = np.arange(0, len(mspec) - PATCH + 1, PATCH_STEP)
    cut = np.stack([mspec[s:s + PATCH] for s in starts]).reshape(len(starts), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cut = (cut - cut.mean(axis=1, keepdims=True)) / cut.std(axis=1, keepdims=True)
    finite = np.isfinite(cut).all(axis=1)
    seen = np.isfinite(energy)
    threshold = np.mean(energy[seen]) + math.log(ENERGY_RATIO) if seen.any() else np.inf
    speech = finite & (energy[starts + PATCH // 2] > threshold)
    keep = speech if speech.any() else finite
    return cut[keep].reshape(-1, PATCH, BANDS, 1).astype(np.float32)


def female_log_odds(network, samples: np.ndarray) -> float:
    """Mean over the utterance's patches of log(p female / p male); NaN when no patch can be scored (every
    one holds a frame of digital silence, whose log power is -inf: the package scores those patches 0.5)."""
    cut = patches(*log_mel(samples))
    if not len(cut):
        return math.nan
    p = np.clip(network.predict(cut, batch_size=256, verbose=0), CLIP, 1 - CLIP)
    return float(np.mean(np.log(p[:, 0] / p[:, 1])))


def score_paths(paths: List[str], cache: str) -> Dict[str, float]:
    """path -> the CNN's female log-odds, kept in `cache`/scores.json so a second run reads them (scores made
    with other feature settings are made anew)."""
    store = os.path.join(cache, "scores.json")
    settings = {"wheel": WHEEL, "patch_step": PATCH_STEP, "energy_ratio": ENERGY_RATIO, "rate": RATE}
    saved = {}
    if os.path.exists(store):
        with open(store, encoding="utf-8") as f:
            saved = json.load(f)
    scores = saved.get("scores", {}) if saved.get("settings") == settings else {}
    todo = [p for p in paths if p not in scores]
    if todo:
        import pipeline  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import  (legacy Keras first)
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        from components.common import audio  # pylint: disable=import-outside-toplevel
        network = tf.keras.models.load_model(fetch_weights(cache), compile=False)
        for i, path in enumerate(todo, 1):
            scores[path] = female_log_odds(network, audio.decode_audio(path, RATE))
            if i % 100 == 0 or i == len(todo):
                print(f"gender CNN: {i}/{len(todo)} utterances", flush=True)
        with open(store + ".part", "w", encoding="utf-8") as f:
            json.dump({"settings": settings, "scores": scores}, f)
        os.replace(store + ".part", store)
    return scores


def _logit(p: Optional[float]) -> float:
    if p is None:
        return 0.0
    p = min(max(p, CLIP), 1 - CLIP)
    return math.log(p / (1 - p))


def with_cnn(folds: List[dict], scores: Dict[str, float]) -> List[dict]:
    """Every row with "cnn" (its own decision; truth 1 = female; -1, never right, where it scored no patch) and
    "stacked" (fitted on the other folds; an unscored utterance's CNN log-odds count as 0)."""
    def cnn(path):
        return 0.0 if math.isnan(scores[path]) else scores[path]

    table = [(i, r, [_logit(class1_probability(r)), cnn(r["path"])]) for i, f in enumerate(folds) for r in f["rows"]]
    out = []
    for i in range(len(folds)):
        train = [(x, r["truth"]) for j, r, x in table if j != i]
        fusion = LogisticRegression().fit(np.array([x for x, _ in train]), np.array([y for _, y in train]))
        mine = [(r, x) for j, r, x in table if j == i]
        for (r, x), d in zip(mine, fusion.predict(np.array([x for _, x in mine]))):
            out.append(dict(r, cnn=-1 if math.isnan(scores[r["path"]]) else int(x[1] > 0), stacked=int(d)))
    return out


def contradicted(rows: List[dict], share: float = CONTRADICTED) -> List[str]:
    """Speakers whose label the pitch rule and the gender CNN each contradict on >= `share` of their rows:
    chosen without the model (the CNN is fitted on none of these corpora, the rule's threshold per fold on its
    train speakers)."""
    by_speaker: Dict[str, List[dict]] = {}
    for r in rows:
        by_speaker.setdefault(r["speaker"], []).append(r)
    return sorted(s for s, own in by_speaker.items()
                  if all(sum(r[k] != r["truth"] for r in own) >= share * len(own) for k in ("pitch", "cnn")))


def ceilings(rows: List[dict], voices: Sequence[str]) -> Dict[str, dict]:
    """Per corpus and pooled: the accuracy of a classifier right on every utterance but those of `voices`
    (which it hears as every witness does), and its margin over the rule on the same utterances."""
    out = {}
    for corpus in ["pooled"] + sorted({r["corpus"] for r in rows}):
        part = [r for r in rows if corpus == "pooled" or r["corpus"] == corpus]
        best = sum(r["speaker"] not in voices for r in part) / len(part)
        rule = sum(r["pitch"] == r["truth"] for r in part) / len(part)
        out[corpus] = {"utterances": len(part), "contradicted": sum(r["speaker"] in voices for r in part),
                       "ceiling": round(best, 4), "rule": round(rule, 4), "ceiling_minus_rule": round(100 * (best - rule), 1)}
    return out


def check(names: Sequence[str], speakers: Sequence[str], cache: str, results: str = KFOLD_RESULTS) -> dict:
    runs, witness = {}, {}
    for name in names:
        folds, _ = read_run_here(name, results)
        rows = with_cnn(folds, score_paths([r["path"] for f in folds for r in f["rows"]], cache))
        runs[name] = {"utterances": len(rows), "cnn_unscored": sum(r["cnn"] == -1 for r in rows),
                      **{k: accuracy(rows, k) for k in ("model", "pitch", "cnn", "stacked")},
                      "cnn_minus_pitch": difference(rows, "cnn", "pitch"),
                      "stacked_minus_model": difference(rows, "stacked", "model"),
                      "per_corpus": corpus_shares(rows, ("model", "pitch", "cnn", "stacked"))}
        runs[name]["contradicted"] = contradicted(rows)
        runs[name]["ceilings"] = ceilings(rows, runs[name]["contradicted"])
        for r in rows:
            short = r["speaker"].rsplit("/", 1)[-1]
            if short in speakers:
                witness.setdefault(short, {"corpus": r["corpus"], "label": "F" if r["truth"] else "M", "rows": []})
                witness[short]["rows"].append(r)
    table = {s: {"corpus": w["corpus"], "label": w["label"], "rows": len(w["rows"]),
                 **{f"{k}_disagrees": round(sum(r[k] != r["truth"] for r in w["rows"]) / len(w["rows"]), 3)
                    for k in ("cnn", "pitch", "mfcc", "model")}}
             for s in speakers if s in witness for w in [witness[s]]}
    return {"runs": runs, "speakers": table, "wheel": WHEEL}


def markdown(result: dict) -> str:
    runs = result["runs"]
    return "\n".join([
        f"# A network trained for gender as a witness: {result['wheel']}'s male/female CNN", "",
        *_util.machine_lines([f"git commit: {_util.git_commit()}"]), "",
        "Pooled single-utterance accuracy (speaker-bootstrap 95 % interval). The CNN is not fitted on these corpora; "
        "stacked = LR on [model logit, CNN log-odds] fitted on the other folds:", "",
        _util.table(["run", "utterances (CNN unscored, counted wrong)", "model", "pitch rule", "CNN alone", "stacked",
                     "CNN - rule, points", "stacked - model, points"],
                    [[n, f"{r['utterances']} ({r['cnn_unscored']})", accuracy_cell(r["model"]),
                      accuracy_cell(r["pitch"]), accuracy_cell(r["cnn"]), accuracy_cell(r["stacked"]),
                      difference_cell(r["cnn_minus_pitch"]), difference_cell(r["stacked_minus_model"])]
                     for n, r in runs.items()]), "",
        "Per corpus (accuracy):", "",
        _util.table(["run", "corpus", "utterances", "model", "pitch rule", "CNN alone", "stacked"],
                    [[n, c, v["utterances"], f"{v['model']:.3f}", f"{v['pitch']:.3f}", f"{v['cnn']:.3f}",
                      f"{v['stacked']:.3f}"] for n, r in runs.items() for c, v in r["per_corpus"].items()]), "",
        f"Speakers whose label the pitch rule and the gender CNN each contradict on >= {CONTRADICTED:.0%} of their "
        "utterances (chosen without the model), and the ceiling they set: the accuracy of a classifier right on every "
        "other utterance and hearing these voices as both witnesses do, and its margin over the rule:", "",
        _util.table(["run", "speakers", "corpus", "utterances (theirs)", "ceiling", "pitch rule", "ceiling - rule, points"],
                    [[n, ", ".join(s.rsplit("/", 1)[-1] for s in r["contradicted"]) if c == "pooled" else "", c,
                      f"{v['utterances']} ({v['contradicted']})", f"{v['ceiling']:.3f}", f"{v['rule']:.3f}",
                      f"{v['ceiling_minus_rule']:+.1f}"]
                     for n, r in runs.items() for c, v in r["ceilings"].items()]), "",
        "Speakers (the label-audit suspects and those with the most model errors; rows of all runs pooled): "
        "share of utterances whose label each classifier contradicts:", "",
        _util.table(["speaker", "corpus", "label", "rows", "gender CNN", "pitch rule", "MFCC + LR", "model"],
                    [[s, v["corpus"], v["label"], v["rows"], f"{v['cnn_disagrees']:.0%}", f"{v['pitch_disagrees']:.0%}",
                      f"{v['mfcc_disagrees']:.0%}", f"{v['model_disagrees']:.0%}"]
                     for s, v in result["speakers"].items()]), ""])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, help="finished k-fold runs, comma-separated (each is checked alone)")
    parser.add_argument("--speakers", default=DEFAULT_SPEAKERS, help="speakers (last part of the id) to list")
    parser.add_argument("--cache", default=DEFAULT_CACHE, help="where the wheel, the weights and the scores are kept")
    parser.add_argument("--results", default=KFOLD_RESULTS)
    parser.add_argument("--out", default=os.path.join(_util.REPO_ROOT, "bench", "results", "gender_cnn_check.md"))
    args = parser.parse_args(argv)
    result = check(run_names(args.runs), args.speakers.split(","), args.cache, args.results)
    _util.write_report(args.out, markdown(result), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
