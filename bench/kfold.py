"""Speaker-grouped k-fold (and leave-one-corpus-out) accuracy on real utterances of unseen speakers.

A single pipeline run tests ~30 speakers: too few to tell two training recipes apart. Here every speaker
of every corpus is tested once, by a model that never heard them: speakers are dealt to `--folds` folds
per (corpus, gender); for each fold the project's own synthesis and trainer (trainer.task.train) build a
model from the other speakers, and three classifiers judge exactly the same whole test utterances: that
model (through predict's Classifier), the median-F0 pitch rule and an MFCC-statistics + logistic
regression baseline, both fitted on the fold's train speakers only. `--loco A,B` instead tests each
named corpus whole against a model trained on the other corpora.

Each fold's results land atomically in OUT/fold-<k>.json (loco-<corpus>.json); a fold already there with
the same settings is reused, so an interrupted run resumes. OUT/summary.md|json pool them per corpus
with 95 % Wilson intervals.

Run:  .venv/bin/python -m bench.kfold [--data-root ROOT ...] [--config FILE] [--set k=v ...] [--seed N]
      [--folds 5 | --loco NAME[,NAME]] [--name NAME | --out DIR] [--work DIR] [--keep] [--quick]
"""
import argparse
import copy
import datetime
import json
import logging
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from bench import _util
from bench.kfold_baselines import baselines, file_features, read_json
from bench.kfold_summary import CLASSIFIERS, accuracy, markdown, summarize
from components.audio_evaluator import pitch_rule, real_speech
from components.audio_synthesis import synthesis
from components.common import audio, fs
from components.speaker_index import corpus
from pipeline import config as config_lib
from components.common.errors import EXIT_USER_ERROR, AudioClfError

log = logging.getLogger("kfold")
DEFAULT_ROOTS = [os.path.join(_util.REPO_ROOT, "data", n)
                 for n in ("librispeech-mini", "speechocean762-adults", "vctk-mini", "commonvoice-mini")]
DEFAULT_WORK = os.path.join(tempfile.gettempdir(), "audioclf-kfold")   # per-file feature caches, fold folders
QUICK_ROOTS = DEFAULT_ROOTS[0::2]   # librispeech-mini and vctk-mini: small FLAC corpora
QUICK_SPEAKERS = 6                  # per (corpus, gender): 2 folds still leave 3 non-test speakers for eval
QUICK_SET = ["synthesis.sample_rate=8000", "synthesis.clip_seconds=2", "synthesis.clips={train: 16, eval: 4, test: 4}",
             "trainer.n_fft=256", "trainer.hop_length=128", "trainer.n_mels=16", "trainer.frame_length=8",
             "trainer.frame_hop=4", "trainer.conv_filters=[4, 4, 8, 8]", "trainer.epochs=1",
             "trainer.batch_size_per_replica=8", "trainer.shuffle_buffer=32",
             "trainer.speaker_embedding=false"]   # the encoder takes 16 kHz


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.kfold", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", action="append", default=[], help="a corpus root (repeat); default: data/*")
    p.add_argument("--config", default=None, help="YAML/JSON config, as `audioclf run --config`")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override (repeat)")
    p.add_argument("--seed", type=int, default=0, help="fold seed; also added to synthesis.seed and trainer.seed")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--loco", default="", help="leave-one-corpus-out instead: corpus names, comma-separated")
    p.add_argument("--max-speakers-per-group", type=int, default=0, help="keep the first N speakers per (corpus, gender)")
    p.add_argument("--train-fraction", type=float, default=1.0,
                   help="a learning-curve point: train the model and fit both baselines on this share of each fold's "
                        "train speakers (per corpus and gender, seeded); the test and eval speakers stay the same")
    p.add_argument("--name", default=None, help="results name (default 'default', 'quick' with --quick)")
    p.add_argument("--out", default=None, help="results folder (default bench/results/kfold/<name>[-seedN][-loco])")
    p.add_argument("--work", default=DEFAULT_WORK,
                   help="F0/MFCC caches and per-fold scratch folders (clips, models)")
    p.add_argument("--keep", action="store_true", help="keep each fold's clips and model")
    p.add_argument("--epoch-curve", action="store_true",
                   help="diagnostic: also score the test utterances after every epoch (recorded, never used to choose)")
    p.add_argument("--runs", default="", help="only these runs, comma-separated (e.g. fold-3,fold-4): a probe; "
                                              "the summary then covers those runs only and says so")
    p.add_argument("--workers", type=int, default=2, help="processes for synthesis and F0/MFCC")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 folds, 2 corpora, 6 speakers per group, tiny model")
    args = p.parse_args(argv)
    if args.quick:
        args.folds = 2
        args.data_root = args.data_root or QUICK_ROOTS
        args.max_speakers_per_group = args.max_speakers_per_group or QUICK_SPEAKERS
    args.data_root = [os.path.abspath(r) for r in (args.data_root or DEFAULT_ROOTS)]
    args.loco = [c.strip() for c in args.loco.split(",") if c.strip()]
    args.runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    if not 0.0 < args.train_fraction <= 1.0:
        raise AudioClfError(f"--train-fraction {args.train_fraction:g}: use a share in (0, 1], e.g. 0.5.")
    if args.folds < 2 and not args.loco:
        raise AudioClfError(f"--folds {args.folds}: need at least 2 folds (each fold tests 1/k of the speakers).")
    args.name = args.name or ("quick" if args.quick else "default")
    suffix = (f"-seed{args.seed}" if args.seed else "") + ("-loco" if args.loco else "")
    args.out = args.out or os.path.join(_util.REPO_ROOT, "bench", "results", "kfold", args.name + suffix)
    return args


def load_settings(args) -> config_lib.PipelineConfig:
    """The user's config, then --quick's tiny sizes on top; --seed shifts the synthesis and trainer seeds."""
    config = config_lib.load_config(args.config, list(args.set) + (QUICK_SET if args.quick else []))
    config.synthesis.seed += args.seed
    config.trainer.seed += args.seed
    return config


def groups(index: dict) -> Dict[tuple, List[str]]:
    """(corpus, gender) -> sorted speaker ids: the unit every split decision is made in."""
    result: Dict[tuple, List[str]] = {}
    for speaker, entry in index["speakers"].items():
        result.setdefault((entry["corpus"], entry["gender"]), []).append(speaker)
    return {key: sorted(ids) for key, ids in sorted(result.items())}


def limit_speakers(index: dict, per_group: int) -> dict:
    """Keeps the first `per_group` (sorted) speakers of each (corpus, gender): small, repeatable subsets."""
    if per_group > 0:
        keep = {s for ids in groups(index).values() for s in ids[:per_group]}
        index["speakers"] = {s: e for s, e in index["speakers"].items() if s in keep}
    return index


def assign_folds(index: dict, folds: int, seed: int) -> Dict[str, int]:
    """speaker -> fold: shuffled per (corpus, gender) with a seeded generator, dealt round-robin, so each
    fold holds every corpus and both genders in proportion."""
    assignment = {}
    for (name, gender), ids in groups(index).items():
        ids = list(ids)
        random.Random(f"{seed}:{name}:{gender}").shuffle(ids)
        assignment.update({s: i % folds for i, s in enumerate(ids)})
    return assignment


def split_speakers(index: dict, test: set, seed: int, run: str) -> Dict[str, str]:
    """speaker -> train/eval/test. Eval (for early stopping): per (corpus, gender), max(1, round(10 %)) of
    the non-test speakers when there are >= 3; if a gender still has no eval speaker, one is taken from
    its largest train group (the trainer needs both genders in eval)."""
    split = {s: "test" for s in test}
    rest = {key: [s for s in ids if s not in test] for key, ids in groups(index).items()}
    for key, ids in rest.items():
        chosen = []
        if len(ids) >= 3:
            chosen = random.Random(f"{seed}:{run}:{key[0]}:{key[1]}:eval").sample(ids, max(1, round(0.1 * len(ids))))
        split.update({s: "eval" if s in chosen else "train" for s in ids})
    for gender in config_lib.GENDERS:
        if not any(v == "eval" and index["speakers"][s]["gender"] == gender for s, v in split.items()):
            largest = max((ids for key, ids in rest.items() if key[1] == gender), key=len, default=[])
            if len(largest) >= 2:
                split[largest[-1]] = "eval"
    return split


def thin_train(index: dict, split: Dict[str, str], fraction: float, seed: int, run: str) -> Dict[str, str]:
    """`split` with only `fraction` of the train speakers of each (corpus, gender) left in train (at least
    one where there were any; seeded per run); the others become "unused": in no split, so neither the
    model nor the baselines hear them. Test and eval speakers are untouched."""
    if fraction >= 1.0:
        return split
    thinned = dict(split)
    for key, ids in groups(index).items():
        train = [s for s in ids if split[s] == "train"]
        if train:
            keep = set(random.Random(f"{seed}:{run}:{key[0]}:{key[1]}:thin").sample(
                train, max(1, round(fraction * len(train)))))
            thinned.update({s: "train" if s in keep else "unused" for s in train})
    return thinned


def fold_index(index: dict, split: Dict[str, str]) -> dict:
    """A copy of the index with the fold's splits, so every project function taking an index works on it."""
    result = copy.deepcopy(index)
    for speaker, entry in result["speakers"].items():
        entry["split"] = split[speaker]
    result["splits"] = {name: {g: sorted((s for s, e in result["speakers"].items()
                                          if e["split"] == name and e["gender"] == g), key=lambda s: (len(s), s))
                               for g in config_lib.GENDERS} for name in config_lib.SPLITS}
    corpus.check_index(result)
    return result


def plan_runs(index: dict, args) -> List[dict]:
    """Each run: its name and test speakers (k folds, or one run per left-out corpus)."""
    if args.loco:
        names = sorted(index["corpora"])
        unknown = [c for c in args.loco if c not in names]
        if unknown:
            raise AudioClfError(f"--loco {','.join(unknown)}: no such corpus; the corpora read are {', '.join(names)}.")
        return [{"name": f"loco-{c}", "fold": None, "loco": c,
                 "test": {s for s, e in index["speakers"].items() if e["corpus"] == c}} for c in args.loco]
    folds = assign_folds(index, args.folds, args.seed)
    return [{"name": f"fold-{k}", "fold": k, "loco": None, "test": {s for s, f in folds.items() if f == k}}
            for k in range(args.folds)]


# ---- one fold: clips, model, three classifiers ---------------------------------------------------------

_UTTERANCES: Dict[int, synthesis.UtteranceCache] = {}   # per worker process and sample rate, kept across folds


def _synthesize(split: str, indices: range, pools, config) -> List[tuple]:
    """Worker: (index, int16 PCM, the meta make_example reads) of clips `indices` (deterministic per index)."""
    if config.sample_rate not in _UTTERANCES:
        _UTTERANCES[config.sample_rate] = synthesis.UtteranceCache(config.sample_rate, config.cache_mb << 20)
    out = []
    for i in indices:
        samples, meta = synthesis.synthesize_clip(split, i, pools, config, _UTTERANCES[config.sample_rate].get)
        out.append((i, audio.to_pcm16(samples), {k: meta[k] for k in ("label", "mode", "num_speakers", "speakers")}))
    return out


def write_clips(fidx: dict, config, folder: str, pool) -> Dict[str, List[str]]:
    """Train and eval clips as gzip TFRecords of make_example, as AudioExampleGen writes them."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from components.common import example_format  # pylint: disable=import-outside-toplevel
    files = {}
    for split in ("train", "eval"):
        count, shards = config.synthesis.clips[split], config.examples.num_shards
        os.makedirs(os.path.join(folder, split))
        files[split] = [os.path.join(folder, split, f"data_tfrecord-{s:05d}-of-{shards:05d}.gz") for s in range(shards)]
        writers = [tf.io.TFRecordWriter(f, options="GZIP") for f in files[split]]
        pools = synthesis.split_pools(fidx, split)
        futures = [pool.submit(_synthesize, split, range(i, min(i + 16, count)), pools, config.synthesis)
                   for i in range(0, count, 16)]
        for future in futures:
            for i, pcm, meta in future.result():
                example = example_format.make_example(pcm, config.synthesis.sample_rate, meta,
                                                      config.examples.audio_encoding)
                writers[i % shards].write(example.SerializeToString())
        for w in writers:
            w.close()
    return files


class EpochCurve:
    """Diagnostic (--epoch-curve): the test utterances' accuracy after every epoch, windowed and weighted
    as trainer.classifier.Classifier does, with the model in memory. Recorded beside the training facts to
    see whether the epoch early stopping picks (on synthesized eval clips) is a good one; never used to
    choose anything."""

    def __init__(self, rows: List[dict], sample_rate: int, clip_samples: int):
        from trainer import classifier  # pylint: disable=import-outside-toplevel
        self._recording = classifier.recording_probabilities
        self.truth = [real_speech.LABEL_OF_GENDER[r["gender"]] for r in rows]
        cut = [classifier.cut_windows(audio.decode_audio(r["path"], sample_rate, "bench.kfold --epoch-curve"),
                                      clip_samples) for r in rows]
        self.real = [real for _, real in cut]
        self.windows = (np.concatenate([windows for windows, _ in cut]) if cut
                        else np.zeros((0, clip_samples), np.float32))
        self.curve: List[float] = []

    def callback(self):
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        curve = self

        class _Callback(tf.keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                probabilities = self.model.predict(curve.windows, batch_size=32, verbose=0)
                curve.curve.append(curve.accuracy(probabilities))
                log.info("epoch %d: test utterances %.3f (diagnostic)", epoch + 1, curve.curve[-1])
        return _Callback()

    def accuracy(self, probabilities: np.ndarray) -> float:
        """Each utterance decided as the Classifier decides it, from its own windows' rows."""
        ends = np.cumsum([len(real) for real in self.real])
        labels = [int(np.argmax(self._recording(p, real)))
                  for p, real in zip(np.split(probabilities, ends[:-1]), self.real)]
        return round(float(np.mean(np.array(labels) == np.array(self.truth))), 4)


def train_model(config, files: Dict[str, List[str]], folder: str, curve: Optional[EpochCurve] = None) -> dict:
    """trainer.task.train as the pipeline calls it; returns the training facts. model.fit is wrapped for
    its wall time only (it includes validation and the per-epoch report callback), and to add the
    diagnostic epoch curve's callback when asked."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trainer import task  # pylint: disable=import-outside-toplevel
    from trainer.adversary import SPEAKER_LOSS  # pylint: disable=import-outside-toplevel
    settings = task.TrainingSettings(
        trainer=config.trainer, sample_rate=config.synthesis.sample_rate,
        clip_samples=config_lib.clip_samples(config.synthesis), label_names=config_lib.label_names(config),
        audio_encoding=config.examples.audio_encoding)
    fit_seconds, original = [], tf.keras.Model.fit

    def timed_fit(self, *a, **kw):
        if curve is not None:
            kw["callbacks"] = list(kw.get("callbacks") or []) + [curve.callback()]
        start = time.perf_counter()
        try:
            return original(self, *a, **kw)
        finally:
            fit_seconds.append(time.perf_counter() - start)

    tf.keras.Model.fit = timed_fit
    wall, cpu = time.perf_counter(), os.times()
    try:
        _, history = task.train(settings, files["train"], files["eval"], os.path.join(folder, "model"),
                                os.path.join(folder, "model_run"))
    finally:
        tf.keras.Model.fit = original
    wall, now = time.perf_counter() - wall, os.times()
    fit = sum(fit_seconds) or wall
    tf.keras.backend.clear_session()
    return {"seconds": round(wall, 2), "fit_seconds": round(fit, 2), "epochs_run": history["epochs_run"],
            "best_epoch": history["best_epoch"], "train_clips": history["train_clips"],
            "examples_per_s": round(history["train_clips"] * history["epochs_run"] / fit, 2),
            "cores_used": round((now.user + now.system - cpu.user - cpu.system) / wall, 2),
            "best_eval_accuracy": history["best_eval_accuracy"],
            "eval_accuracy_by_epoch": [round(v, 4) for v in history["history"].get(task.EVAL_ACCURACY, [])],
            **({"test_accuracy_by_epoch": curve.curve} if curve is not None else {}),
            # trainer.speaker_adversary: how well the adversary's head guessed the train clips' speakers
            # (uniform guessing over n speakers is ln n).
            **({"speaker_loss_by_epoch": [round(v, 4) for v in history["history"][SPEAKER_LOSS]]}
               if SPEAKER_LOSS in history["history"] else {}),
            # The fitted speaker head: clips it was fitted on (with their perturbed copies), seconds, accuracy.
            **({"speaker_head": history["speaker_head"]} if "speaker_head" in history else {}),
            "trained_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def score_rows(test_rows: List[dict], answers: dict, f0s: dict, threshold: float, mfcc_probs: dict) -> List[dict]:
    """One row per test utterance with all three classifiers' labels (-1: no answer, counted wrong)."""
    rows = []
    for r in test_rows:
        answer, f0, p = answers[r["path"]], f0s.get(r["path"]), mfcc_probs.get(r["path"])
        rows.append({"path": r["path"], "corpus": r["corpus"], "speaker": r["speaker"],
                     "truth": real_speech.LABEL_OF_GENDER[r["gender"]], "model": answer.get("label", -1),
                     "probability": answer.get("probability"), "model_error": answer.get("error"),
                     "f0": f0, "pitch": pitch_rule.predict(f0, threshold), "mfcc": -1 if p is None else int(p > 0.5),
                     "mfcc_probability": None if p is None else round(float(p), 4)})
    return rows


def run_fold(run: dict, index: dict, config, args, pool, features) -> dict:
    """Trains and scores one fold in a scratch folder; returns what goes to <run>.json."""
    from trainer.classifier import Classifier  # pylint: disable=import-outside-toplevel
    split = thin_train(index, split_speakers(index, run["test"], args.seed, run["name"]), args.train_fraction,
                       args.seed, run["name"])
    try:
        fidx = fold_index(index, split)
    except AudioClfError as err:
        raise AudioClfError(f"{run['name']}: the speakers left for training cannot be split: {err}") from err
    test_rows = corpus.split_files(fidx, "test")
    f0s, mfccs = features()
    folder = tempfile.mkdtemp(prefix=f"{run['name']}-", dir=args.work)
    started = time.monotonic()
    try:
        files = write_clips(fidx, config, folder, pool)
        timings = {"synthesis_s": round(time.monotonic() - started, 1)}
        log.info("%s: synthesis: %s clips (%.0f s)", run["name"], {s: config.synthesis.clips[s] for s in files},
                 timings["synthesis_s"])
        curve = (EpochCurve(test_rows, config.synthesis.sample_rate, config_lib.clip_samples(config.synthesis))
                 if args.epoch_curve else None)
        training = train_model(config, files, folder, curve)
        log.info("%s: training: %d epochs (best %d), %.0f s, %.1f examples/s, %.2f cores", run["name"],
                 training["epochs_run"], training["best_epoch"], training["seconds"], training["examples_per_s"],
                 training["cores_used"])
        mark = time.monotonic()
        answers = real_speech.classify_rows(Classifier(os.path.join(folder, "model")), test_rows, "model")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    threshold, mfcc_probs = baselines(fidx, test_rows, f0s, mfccs)
    rows = score_rows(test_rows, answers, f0s, threshold, mfcc_probs)
    timings.update(scoring_s=round(time.monotonic() - mark, 1), wall_s=round(time.monotonic() - started, 1))
    log.info("%s: scoring: %d utterances, model %.3f, pitch rule %.3f, MFCC %.3f (%.0f s)", run["name"], len(rows),
             *(accuracy(rows, k)["accuracy"] for k in CLASSIFIERS), timings["scoring_s"])
    return {"speakers": {s: sorted(k for k, v in split.items() if v == s)
                         for s in list(config_lib.SPLITS) + (["unused"] if "unused" in split.values() else [])},
            "pitch_threshold_hz": round(threshold, 2), "training": training, "timings": timings, "rows": rows}


def predict_cut() -> str:
    """How `predict` cuts a recording into clips (trainer/classifier.py), recorded with each fold's settings:
    answers scored with another cut are not reused."""
    from trainer.classifier import WINDOW_CUT  # pylint: disable=import-outside-toplevel  # TensorFlow: after the pool
    return WINDOW_CUT


def run(args) -> dict:
    started = time.monotonic()
    config = load_settings(args)
    index = limit_speakers(corpus.build_index(args.data_root, config.corpus), args.max_speakers_per_group)
    runs = plan_runs(index, args)
    if args.runs:
        unknown = sorted(set(args.runs) - {r["name"] for r in runs})
        if unknown:
            raise AudioClfError(f"--runs {','.join(unknown)}: no such run; the runs are "
                                f"{', '.join(r['name'] for r in runs)}.")
        runs = [r for r in runs if r["name"] in args.runs]
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    results, features = [], {}
    with pitch_rule.worker_pool(max(1, args.workers)) as pool:
        def get_features():
            """Computed on first need only: a fully resumed run does not touch audio."""
            if not features:
                paths = [f["path"] for e in index["speakers"].values() for f in e["files"]]
                features["v"] = file_features(paths, args.work, pool, args.workers)
            return features["v"]

        for spec in runs:
            path = os.path.join(args.out, f"{spec['name']}.json")
            settings = json.loads(json.dumps({
                "config": config.to_dict(), "seed": args.seed, "folds": None if spec["loco"] else args.folds,
                "fold": spec["fold"], "loco": spec["loco"], "data_roots": args.data_root,
                "max_speakers_per_group": args.max_speakers_per_group, "predict_cut": predict_cut(),
                **({"train_fraction": args.train_fraction} if args.train_fraction < 1 else {})}))
            old = read_json(path, None)
            if old and old.get("settings") == settings:
                log.info("%s: done before, reused", spec["name"])
                results.append(dict(old, reused=True))
                continue
            log.info("%s: %d test speakers", spec["name"], len(spec["test"]))
            result = {"run": spec["name"], "settings": settings,
                      **run_fold(spec, index, config, args, pool, get_features)}
            fs.write_text(path, json.dumps(result, indent=1))
            results.append(dict(result, reused=False))
    summary = summarize(results, args, time.monotonic() - started)
    text = markdown(summary)
    stem = "summary" + ("-" + "+".join(args.runs) if args.runs else "")   # a probe never overwrites the full summary
    fs.write_text(os.path.join(args.out, stem + ".json"), json.dumps(summary, indent=1))
    fs.write_text(os.path.join(args.out, stem + ".md"), text)
    print(text)
    return summary


def stop_on_sigterm() -> None:
    """SIGTERM (a `kill`, a scheduler's stop) ends the run as Ctrl-C does: an exception unwinds the worker
    pool (its workers end with it, components/audio_evaluator/pitch_rule.py) and the fold being written is
    never half-written (fs.write_text is atomic); the exit code is 143."""
    def stop(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)


def main(argv: Optional[Sequence[str]] = None) -> int:
    stop_on_sigterm()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    log.setLevel(logging.INFO)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        run(parse_args(argv))
    except AudioClfError as err:
        print(f"bench.kfold: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


if __name__ == "__main__":
    # Through the package module, so that the spawned workers unpickle bench.kfold's functions, not __main__'s.
    from bench import kfold as _kfold  # pylint: disable=import-self
    sys.exit(_kfold.main())
