"""Which bundled speakers' gender labels do the baselines contradict, and what does that cost the k-fold?

A k-fold run (bench/kfold.py) judges every utterance with three classifiers. A speaker on whom the two
*baselines*, which look at different evidence (the median-F0 pitch rule: the voice's pitch; MFCC
statistics + logistic regression: the spectral envelope, i.e. formants and timbre), both disagree with
the corpus's label on nearly every utterance, in every run given, is a speaker whose label is suspect
(the confident-learning idea: flag labels that independent held-out predictions contradict). The model
under test plays no part in choosing them, so leaving them out favours the pitch rule (it got all of
them wrong), never the model.

This is a diagnostic of the *data*: nothing is dropped from any corpus, training set or headline table.
A third witness, logistic regression on four LPC formant frequencies (the vocal tract's length; fitted
per fold on the fold's train speakers, from bench.kfold's feature folder `--work`), is reported beside
them but takes no part in the choice: the set of suspects is the same with or without it.
The report lists the suspects with their median F0 and how often each classifier disagreed, the share of
pooled utterances they hold (the accuracy a classifier that is right about every voice could reach if
their labels are wrong), and each run's pooled model and rule accuracy with and without them.

Run:  .venv/bin/python -m bench.label_audit --runs r10,r10-seed1,r10-seed2 [--min-disagree 0.8]
      [--min-utterances 5] [--work /tmp/audioclf-kfold | --no-formants] [--out bench/results/label_audit.md]
      [--listen bench/results/label_audit_listen.html]   (a page to listen to the suspects)
"""
import argparse
import os
import statistics
import sys
from typing import Dict, List, Optional, Sequence

from bench import _util, cue_check, formants, kfold, kfold_baselines, listening_page
from bench.kfold_results import KFOLD_RESULTS, read_run_here, run_names
from bench.kfold_summary import accuracy, difference, difference_cell
from components.audio_evaluator import pitch_rule

FORMANT = "formant_lr"   # the third witness: logistic regression on the LPC formants (bench/formants.py)

def pooled_by_speaker(runs: Dict[str, List[dict]]) -> Dict[str, List[dict]]:
    """Every run's rows, by speaker, each row marked with its run."""
    by_speaker: Dict[str, List[dict]] = {}
    for run, rows in runs.items():
        for r in rows:
            by_speaker.setdefault(r["speaker"], []).append({**r, "run": run})
    return by_speaker


def suspects(runs: Dict[str, List[dict]], min_disagree: float, min_utterances: int) -> List[dict]:
    """Speakers whose label both baselines contradict on at least `min_disagree` of their utterances,
    over all runs pooled, with at least `min_utterances` distinct utterances."""
    found = []
    for speaker, rows in sorted(pooled_by_speaker(runs).items()):
        facts = speaker_facts(speaker, rows)
        if (facts["utterances"] >= min_utterances and facts["pitch_disagrees"] >= min_disagree
                and facts["mfcc_disagrees"] >= min_disagree):
            found.append(facts)
    return found


def speaker_facts(speaker: str, rows: List[dict]) -> dict:
    """A speaker's label, distinct utterances, median F0 and each classifier's share of disagreement with
    the label over `rows` (the speaker's rows of every run)."""
    wrong = {k: sum(r[k] != r["truth"] for r in rows) / len(rows) for k in ("pitch", "mfcc", "model")}
    answered = [r for r in rows if r.get(FORMANT, -1) != -1]   # a third witness, when given; not a criterion
    wrong[FORMANT] = sum(r[FORMANT] != r["truth"] for r in answered) / len(answered) if answered else None
    f0s = [r["f0"] for r in rows if r["f0"]]
    return {"speaker": speaker, "corpus": rows[0]["corpus"], "label": "F" if rows[0]["truth"] else "M",
            "utterances": len({os.path.basename(r["path"]) for r in rows}),   # each run has its own data root
            "median_f0_hz": round(statistics.median(f0s), 1) if f0s else None,
            "model_errors_per_run": round(sum(r["model"] != r["truth"] for r in rows) / len({r["run"] for r in rows}), 1),
            **{f"{k}_disagrees": None if v is None else round(v, 3) for k, v in wrong.items()}}


def error_speakers(runs: Dict[str, List[dict]], exclude: set, top: int) -> dict:
    """Where the model's errors are, outside the suspects: the `top` speakers by the model's errors over
    the runs pooled (the model chooses them: a diagnostic of the model, not of the labels), and their share."""
    by_speaker = {s: rows for s, rows in pooled_by_speaker(runs).items() if s not in exclude}
    facts = sorted((speaker_facts(s, rows) for s, rows in by_speaker.items()),
                   key=lambda f: (-f["model_errors_per_run"], f["speaker"]))
    errors = sum(f["model_errors_per_run"] for f in facts)
    listed = [f for f in facts[:top] if f["model_errors_per_run"] > 0]
    return {"speakers": listed, "errors_per_run": round(errors, 1),
            "listed_errors_per_run": round(sum(f["model_errors_per_run"] for f in listed), 1),
            "speakers_with_errors": sum(f["model_errors_per_run"] > 0 for f in facts), "speakers_in_all": len(facts)}


def _formants(paths: List[str], work: str, workers: int) -> dict:
    """path -> LPC formants (bench/formants.py) from bench.kfold's work folder, computing what it lacks."""
    cache = kfold_baselines.read_json(os.path.join(work, "formant_cache.json"), {})
    if set(paths) <= set(cache):
        return cache
    with pitch_rule.worker_pool(workers) as pool:
        return kfold_baselines.cached_features("formant", formants.file_formants, paths, work, pool, workers)


def with_formant_answers(run: str, results: str, work: str, workers: int) -> List[dict]:
    """A run's rows with the answer of logistic regression on log F1-F4 (`formant_lr`), fitted per fold on
    the fold's train speakers, like the run's own baselines."""
    folds, by_speaker = read_run_here(run, results)
    formant = _formants([r["path"] for f in folds for r in f["rows"]], work, workers)
    parts = cue_check.feature_parts({}, formant)
    return [r for f in folds for r in cue_check.fold_answers(f, by_speaker, parts, {FORMANT: ("formant",)})]


def audit(run_list: Sequence[str], min_disagree: float, min_utterances: int,
          results: str = KFOLD_RESULTS, work: Optional[str] = None, workers: int = 2,
          listen: Optional[str] = None, top_errors: int = 10, listen_also: Sequence[str] = ()) -> dict:
    """`work`: bench.kfold's feature folder, for the formant witness; None leaves it out. `listen`: where to
    write a page to listen to the suspects beside reference speakers (bench/listening_page.py), with the
    speakers `listen_also` names (the last part of their ids) after them, not as suspects."""
    runs = {name: with_formant_answers(name, results, work, workers) if work else
            [r for fold in read_run_here(name, results)[0] for r in fold["rows"]] for name in run_list}
    flagged = suspects(runs, min_disagree, min_utterances)
    if listen:
        by_speaker = pooled_by_speaker(runs)
        short = {s.rsplit("/", 1)[-1]: s for s in by_speaker}
        unknown = [s for s in listen_also if s not in short]
        if unknown:
            raise SystemExit(f"bench: error: --listen-also {unknown[0]}: no such speaker in the runs' rows.")
        flagged_ids = {f["speaker"] for f in flagged}
        also = [speaker_facts(short[s], by_speaker[short[s]]) for s in listen_also if short[s] not in flagged_ids]
        listening_page.write(listen, flagged, by_speaker, source=f"bench.label_audit --runs {','.join(run_list)}",
                             also=also)
    names = {s["speaker"] for s in flagged}
    per_run = []
    for name, rows in runs.items():
        kept = [r for r in rows if r["speaker"] not in names]
        per_run.append({"run": name, "utterances": len(rows), "without": len(kept),
                        "all": {k: accuracy(rows, k) for k in ("model", "pitch")},
                        "kept": {k: accuracy(kept, k) for k in ("model", "pitch")},
                        "all_diff": difference(rows, "model", "pitch"), "kept_diff": difference(kept, "model", "pitch"),
                        "ceiling": round(len(kept) / len(rows), 4)})
    return {"runs": list(run_list), "min_disagree": min_disagree, "min_utterances": min_utterances,
            "suspects": flagged, "per_run": per_run, "error_speakers": error_speakers(runs, names, top_errors)}


def markdown(result: dict) -> str:
    def acc(a):
        return f"{a['accuracy']:.3f} ({a['speaker_ci95'][0]:.3f}-{a['speaker_ci95'][1]:.3f})"

    lines = [f"# Label audit of the bundled corpora ({', '.join(result['runs'])})", "",
             *_util.machine_lines([f"git commit: {_util.git_commit()}"]), "",
             f"Suspect: a speaker with >= {result['min_utterances']} utterances on whom the pitch rule and MFCC + LR "
             f"each disagree with the label on >= {result['min_disagree']:.0%} of the utterances, over these runs "
             f"pooled. The model plays no part in the choice. Nothing is removed from any corpus or headline table.",
             "Formants LR (a third witness, not part of the choice): logistic regression on the log LPC formants "
             "F1-F4 (bench/formants.py), fitted per fold on its train speakers; its share is over the utterances "
             "that have formants ('-': not computed, --no-formants).",
             "", _util.table(["speaker", "corpus", "label", "utterances", "median F0 (Hz)", "pitch rule disagrees",
                              "MFCC + LR disagrees", "formants LR disagrees", "model disagrees"],
                             [[s["speaker"].rsplit("/", 1)[-1], s["corpus"], s["label"], s["utterances"],
                               s["median_f0_hz"], f"{s['pitch_disagrees']:.0%}", f"{s['mfcc_disagrees']:.0%}",
                               "-" if s[f"{FORMANT}_disagrees"] is None else f"{s[f'{FORMANT}_disagrees']:.0%}",
                               f"{s['model_disagrees']:.0%}"] for s in result["suspects"]]) if result["suspects"]
             else "No speaker meets the criterion.", "",
             "Pooled single-utterance accuracy (speaker-bootstrap 95 % interval) with every label as the corpus gives "
             "it, and with the suspects left out; 'ceiling' is the share of utterances left, what a classifier "
             "right about every voice would score if the suspects' labels are wrong:", "",
             _util.table(["run", "model, all", "rule, all", "model - rule, all (points)", "model, suspects out",
                          "rule, suspects out", "model - rule, suspects out (points)", "ceiling"],
                         [[r["run"], acc(r["all"]["model"]), acc(r["all"]["pitch"]), difference_cell(r["all_diff"]),
                           acc(r["kept"]["model"]), acc(r["kept"]["pitch"]), difference_cell(r["kept_diff"]),
                           f"{r['ceiling']:.3f}"]
                          for r in result["per_run"]]), ""]
    errors = result.get("error_speakers")
    if errors and errors["speakers"]:
        lines += [f"Where the model's other errors are: {errors['errors_per_run']:g} per run outside the suspects, on "
                  f"{errors['speakers_with_errors']} of {errors['speakers_in_all']} speakers; the {len(errors['speakers'])} "
                  f"speakers with the most (listed by the model's errors, so a diagnostic of the model, not a label "
                  f"criterion) hold {errors['listed_errors_per_run']:g} of them:", "",
                  _util.table(["speaker", "corpus", "label", "utterances", "median F0 (Hz)", "model errors per run",
                               "pitch rule disagrees", "MFCC + LR disagrees", "formants LR disagrees"],
                              [[s["speaker"].rsplit("/", 1)[-1], s["corpus"], s["label"], s["utterances"],
                                s["median_f0_hz"], f"{s['model_errors_per_run']:g}", f"{s['pitch_disagrees']:.0%}",
                                f"{s['mfcc_disagrees']:.0%}",
                                "-" if s[f"{FORMANT}_disagrees"] is None else f"{s[f'{FORMANT}_disagrees']:.0%}"]
                               for s in errors["speakers"]]), ""]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, help="k-fold run names under bench/results/kfold/, comma-separated")
    parser.add_argument("--min-disagree", type=float, default=0.8)
    parser.add_argument("--min-utterances", type=int, default=5)
    parser.add_argument("--results", default=KFOLD_RESULTS)
    parser.add_argument("--work", default=kfold.DEFAULT_WORK, help="bench.kfold's feature cache (formants are added to it)")
    parser.add_argument("--no-formants", action="store_true", help="leave out the formant witness")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(KFOLD_RESULTS), "label_audit.md"))
    parser.add_argument("--top-errors", type=int, default=10,
                        help="list the N speakers outside the suspects with the most model errors")
    parser.add_argument("--listen", metavar="FILE.html",
                        help="also write a page to listen to the suspects beside reference speakers of their corpus")
    parser.add_argument("--listen-also", default="", metavar="SPEAKERS",
                        help="comma-separated speakers (last part of the id) to put on the page after the suspects, "
                             "e.g. those other witnesses contradict (bench/results/gender_cnn_check.md)")
    args = parser.parse_args(argv)
    result = audit(run_names(args.runs), args.min_disagree, args.min_utterances, args.results,
                   None if args.no_formants else args.work, args.workers, args.listen, args.top_errors,
                   [s.strip() for s in args.listen_also.split(",") if s.strip()])
    _util.write_report(args.out, markdown(result), result)
    if args.listen:
        print(f"(listening page: {args.listen})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
