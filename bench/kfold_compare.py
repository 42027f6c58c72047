"""Two k-fold runs of the same folds, compared utterance by utterance: how far is one recipe from another?

Pooled and per corpus, each run's accuracy and the paired difference (run minus baseline run) with its
speaker-bootstrap 95 % interval (bench/kfold_summary.py's `difference`), on the utterances both runs
scored. Two runs of the same seed test the same speakers with the same folds, so the difference is the
recipes', not the folds'. With `--loco` the runs are leave-one-corpus-out runs (their loco-*.json).

Run:  .venv/bin/python -m bench.kfold_compare --runs r31,r31-seed1 --against r26,r26-seed1 [--loco] [--out FILE]
Writes bench/results/kfold_compare.md|json (--loco: kfold_compare_loco.md; or --out).
"""
import argparse
import sys
from typing import List, Optional, Sequence

from bench import _util
from bench.kfold_results import KFOLD_RESULTS, read_folds, report_path, run_names
from bench.kfold_summary import accuracy, difference, difference_cell


def paired_rows(run: str, against: str, results: str = KFOLD_RESULTS, loco: bool = False) -> List[dict]:
    """The rows of `run` that `against` scored too, each with the other run's decision as "against"."""
    pattern = "loco-*.json" if loco else "fold-*.json"
    theirs = {r["path"]: r for f in read_folds(against, results, pattern) for r in f["rows"]}
    rows = [dict(r, against=theirs[r["path"]]["model"]) for f in read_folds(run, results, pattern) for r in f["rows"]
            if r["path"] in theirs]
    if not rows:
        raise SystemExit(f"bench: error: {run} and {against} share no utterance; compare runs over the same corpora.")
    return rows


def compare(pairs: Sequence[tuple], results: str = KFOLD_RESULTS, loco: bool = False) -> dict:
    out = []
    for run, against in pairs:
        rows = paired_rows(run, against, results, loco)
        corpora = sorted({r["corpus"] for r in rows})
        parts = {"pooled": rows, **{c: [r for r in rows if r["corpus"] == c] for c in corpora}}
        out.append({"run": run, "against": against, "utterances": len(rows),
                    "parts": {name: {"utterances": len(part), "run": accuracy(part, "model"),
                                     "against": accuracy(part, "against"), "rule": accuracy(part, "pitch"),
                                     "difference": difference(part, "model", "against")}
                              for name, part in parts.items()}})
    return {"pairs": out, "loco": loco}


def markdown(result: dict) -> str:
    rows = [[p["run"], p["against"], name, v["utterances"], f"{v['run']['accuracy']:.3f}",
             f"{v['against']['accuracy']:.3f}", f"{v['rule']['accuracy']:.3f}", difference_cell(v["difference"])]
            for p in result["pairs"] for name, v in p["parts"].items()]
    title = "left-out corpora" if result.get("loco") else "k-fold runs"
    return "\n".join([f"# {title} compared on the same utterances", "",
                      *_util.machine_lines([f"git commit: {_util.git_commit()}"]), "",
                      _util.table(["run", "against", "corpus", "utterances", "run", "against", "pitch rule",
                                   "run - against, points (speaker-bootstrap 95 %)"], rows), ""])


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.kfold_compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", required=True, help="finished k-fold runs, comma-separated")
    p.add_argument("--against", required=True, help="as many runs to compare them with, in the same order")
    p.add_argument("--loco", action="store_true", help="the runs are leave-one-corpus-out runs (loco-*.json)")
    p.add_argument("--results", default=KFOLD_RESULTS)
    p.add_argument("--out", default=None, help="Markdown file (default bench/results/kfold_compare.md, --loco: "
                                               "kfold_compare_loco.md)")
    args = p.parse_args(argv)
    runs, against = run_names(args.runs), run_names(args.against)
    if len(runs) != len(against):
        raise SystemExit(f"bench: error: {len(runs)} --runs and {len(against)} --against; name one baseline per run.")
    result = compare(list(zip(runs, against)), args.results, args.loco)
    _util.write_report(args.out or report_path("kfold_compare", args.loco), markdown(result), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
