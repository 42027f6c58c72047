"""How should `predict` cut a recording into the model's clips? Replayed on kept k-fold models.

Until 2026-12-05 `predict` cut a recording into clip-length windows from its start and padded the last one
with silence. Most speechocean762 and Common Voice utterances are shorter than the 4 s clip (57 % and 53 %;
LibriSpeech 10 %), so their one window is mostly silence after the speech, and the speaker encoder's second
1.6 s window may hear little or no speech; a longer recording's last window may be mostly silence too. The
train clips put a short utterance at a random offset in the clip (components/audio_synthesis/synthesis.py),
not at its start. This check scores every test utterance of a `bench.kfold --keep` run with four cuts,
nothing trained:

- `pad` (predict's cut until 2026-12-05, bench/kfold_results.py `pad_from_start`): windows from the start,
  the last padded after the audio;
- `end` (predict's cut since, trainer/classifier.py `cut_windows`, chosen by this check): a recording longer
  than the clip ends with a window on its last clip-length samples (overlapping the one before, weighted
  by the audio it adds) instead of a padded one; a shorter one is padded;
- `centre`: as `end`, and a recording shorter than the clip is placed in the clip's middle;
- `loop`: as `end`, and a recording shorter than the clip is repeated until the clip is full.

Each is scored as the model (the conv model's log-probabilities + w x the head's logits, w the run's
own), the conv model alone and the head alone (bench/expert_weights.py: the parts inside the model).
The cut the run was scored with must give the run's own answers: a single differing utterance is an error.
The runs' test speakers are the bundled ones, so a cut that wins here is a candidate for new runs, not a
result.

Decision rule, set before the first replay (2026-12-05, runs r34-kept and r34-kept-loco, made for it): a cut
replaces `pad` in predict only if (1) on the k-fold run its model decision is above `pad`'s, paired, with the
speaker-bootstrap interval above zero; (2) no corpus of >= 20 speakers loses more than 0.5 points there;
(3) left out (the LOCO run) it is not below `pad` on either corpus; of several such cuts, the largest gain
in (1). It then also goes through the demo gate over five seeds (>= 4 of 5, as every default did).

Run:  .venv/bin/python -m bench.window_replay --runs r34-kept[=MODELS_DIR],... [--models /tmp/audioclf-kfold]
      [--out bench/results/window_replay.md]
"""
import argparse
import json
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from bench import _util, kfold
from bench.expert_weights import decisions, fold_files, kept_model, model_parts, parse_runs, scorable_utterances, window_scores
from bench.kfold_results import KFOLD_RESULTS, pad_from_start, scored_cut
from bench.kfold_summary import accuracy_by_corpus, accuracy_rows, difference, difference_cell

Cut = Callable[[np.ndarray, int], Tuple[np.ndarray, np.ndarray]]
PARTS = {"model": "model", "conv": "conv model alone", "head": "head alone"}


def _cut(short: Callable[[np.ndarray, int], np.ndarray]) -> Cut:
    """A cut: a recording shorter than the clip made clip-long by `short`, a longer one as predict cuts it."""
    def cut(samples: np.ndarray, clip: int):
        from trainer.classifier import cut_windows  # pylint: disable=import-outside-toplevel
        if len(samples) >= clip:
            return cut_windows(samples, clip)
        return short(samples, clip)[None, :].astype(np.float32), np.asarray([len(samples)])
    return cut


def _centred(samples: np.ndarray, clip: int) -> np.ndarray:
    before = (clip - len(samples)) // 2
    return np.pad(samples, (before, clip - len(samples) - before))


def _looped(samples: np.ndarray, clip: int) -> np.ndarray:
    return np.resize(samples, clip) if len(samples) else np.zeros(clip, np.float32)


def cuts() -> Dict[str, Cut]:
    from trainer.classifier import cut_windows  # pylint: disable=import-outside-toplevel
    return {"pad": pad_from_start, "end": cut_windows, "centre": _cut(_centred), "loop": _cut(_looped)}


def replay_fold(path: str, model_dir: str) -> List[dict]:
    """One row per test utterance: truth, pitch rule and each cut's model / conv / head decision."""
    with open(path, encoding="utf-8") as f:
        fold = json.load(f)
    rows = fold["rows"]
    scored = next(name for name, cut in cuts().items() if cut is scored_cut(fold))   # the run's own cut
    conv, encoder, kernel, bias, weight, rate, clip_samples = model_parts(model_dir)
    out = []
    for row, samples in scorable_utterances(path, rows, rate):
        decided = {"speaker": row["speaker"], "corpus": row["corpus"], "truth": row["truth"], "pitch": row["pitch"],
                   "seconds": round(len(samples) / rate, 2)}
        seen: List[Tuple[np.ndarray, np.ndarray, dict]] = []   # a recording longer than the clip: end = centre = loop
        for name, cut in cuts().items():
            windows, real = cut(samples, clip_samples)
            chosen = next((c for w, r, c in seen if np.array_equal(w, windows) and np.array_equal(r, real)), None)
            if chosen is None:
                chosen = decisions(*window_scores(conv, encoder, kernel, bias, windows), real, [weight, 0.0, None])
                seen.append((windows, real, chosen))
            decided.update({f"{name}/model": chosen[weight], f"{name}/conv": chosen[0.0], f"{name}/head": chosen[None]})
        if decided[f"{scored}/model"] != row["model"]:
            raise SystemExit(f"bench: error: {row['path']}: replayed as predict cut it ({scored}), it is class "
                             f"{decided[scored + '/model']}, the run said {row['model']}: {model_dir} is not the model "
                             f"of {path}.")
        out.append(decided)
    return out


def summarize(rows: List[dict]) -> dict:
    corpora = sorted({r["corpus"] for r in rows})
    keys = [f"{c}/{p}" for p in PARTS for c in cuts()]
    short = [r for r in rows if r["seconds"] < 4.0]
    return {"utterances": len(rows), "corpora": corpora, "shorter_than_clip": len(short),
            "accuracy": accuracy_by_corpus(rows, [*keys, "pitch"]),
            "minus_pad": {k: difference(rows, k, "pad/" + k.split("/")[1]) for k in keys if not k.startswith("pad/")},
            "minus_pad_by_corpus": {c: {k: difference([r for r in rows if r["corpus"] == c], k, "pad/model")
                                        for k in keys if k.endswith("/model") and not k.startswith("pad/")}
                                    for c in corpora},
            "minus_rule": {k: difference(rows, k, "pitch") for k in keys}}


def check(runs: Sequence[Tuple[str, str]], results: str = KFOLD_RESULTS) -> dict:
    result: dict = {"runs": {}}
    pooled: List[dict] = []
    for run, models in runs:
        rows: List[dict] = []
        for path in fold_files(run, results):
            rows += replay_fold(path, kept_model(models, os.path.splitext(os.path.basename(path))[0]))
        result["runs"][run] = summarize(rows)
        pooled += [{**r, "speaker": f"{run}/{r['speaker']}"} for r in rows]
    if len(runs) > 1:
        result["pooled"] = summarize(pooled)
    return result


def markdown(result: dict) -> str:
    lines = ["# How predict cuts a recording: other cuts replayed on kept k-fold models", "",
             *_util.machine_lines(), "", __doc__.split("\n\n")[1].replace("\n", " "), "",
             "Cuts: `pad` (predict's until 2026-12-05: windows from the start, the last padded), `end` (predict's "
             "since: a longer recording's last window end-aligned), `centre` (and a shorter one centred), `loop` "
             "(and a shorter one repeated). "
             "Differences are paired with `pad` on the same utterances (speaker-bootstrap 95 % interval). The "
             "runs' test speakers are the bundled ones: a cut that wins here is a candidate, not a result.", ""]
    parts: List[Tuple[str, dict]] = list(result["runs"].items())
    if "pooled" in result:
        parts.append(("pooled over the runs", result["pooled"]))
    for name, summary in parts:
        columns = [*summary["corpora"], "overall"]
        rows = accuracy_rows(summary, "minus_pad")
        by_corpus_rows = [[c, *[difference_cell(summary["minus_pad_by_corpus"][c][f"{cut}/model"])
                                for cut in cuts() if cut != "pad"]] for c in summary["corpora"]]
        lines += [f"## {name} ({summary['utterances']} utterances, {summary['shorter_than_clip']} shorter than the clip)",
                  "", _util.table(["cut / decision", *columns, "minus pad (same decision), points",
                                   "minus the rule, points"], rows), "",
                  "The model's decision, minus `pad`, per corpus (points):", "",
                  _util.table(["corpus", *[c for c in cuts() if c != "pad"]], by_corpus_rows), ""]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True,
                        help="k-fold runs made with --keep, NAME[=FOLDER of its kept folds], comma-separated")
    parser.add_argument("--models", default=kfold.DEFAULT_WORK, help="the kept fold folders (bench.kfold --work)")
    parser.add_argument("--results", default=KFOLD_RESULTS)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(KFOLD_RESULTS), "window_replay.md"))
    args = parser.parse_args(argv)
    result = check(parse_runs(args.runs, args.models), args.results)
    _util.write_report(args.out, markdown(result), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
