"""How often does `make demo` pass the real-speech gate? The demo (`audioclf run`, all bundled corpora) run
once per seed, each seed shifting the speaker split, the synthesis and the training (corpus.seed,
synthesis.seed, trainer.seed + N), so each run tests other speakers with another model.

Per run: exit code (0 blessed and pushed, 3 refused by a gate), wall time, the gate's real-utterance
accuracy of the model and of the pitch rule (overall and per corpus) and the gate's reasons. Each run's
facts land atomically in OUT/seed-<N>.json; a seed already there with the same settings is reused, so an
interrupted run resumes (the commit each ran at is shown). OUT/summary.md|json tabulate them.

Run:  .venv/bin/python -m bench.gate_seeds [--seeds 0,1,2,3,4] [--config FILE] [--set k=v ...]
      [--name NAME | --out DIR] [--keep]
"""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Sequence

from bench import _util
from components.common import fs
from pipeline import config as config_lib
from pipeline import run_dir as run_folder, summary_schema

SEEDED = ("corpus.seed", "synthesis.seed", "trainer.seed")


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.gate_seeds", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seed offsets")
    p.add_argument("--config", default=None, help="YAML/JSON config, as `audioclf run --config`")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override (repeat)")
    p.add_argument("--name", default="default")
    p.add_argument("--out", default=None, help="results folder (default bench/results/gate_seeds/<name>)")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "audioclf-gate-seeds"),
                   help="the runs' output folders (removed after each run unless --keep)")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.out = args.out or os.path.join(_util.REPO_ROOT, "bench", "results", "gate_seeds", args.name)
    return args


def seed_overrides(config: config_lib.PipelineConfig, seed: int) -> List[str]:
    """`section.seed=<configured + seed>` for each of SEEDED."""
    overrides = []
    for key in SEEDED:
        section, name = key.split(".")
        overrides.append(f"{key}={getattr(getattr(config, section), name) + seed}")
    return overrides


def run_seed(args, seed: int, overrides: List[str]) -> dict:
    output = os.path.join(args.work, f"seed-{seed}")
    shutil.rmtree(output, ignore_errors=True)
    command = [os.path.join(os.path.dirname(sys.executable), "audioclf"), "run", "--output", output]
    command += ["--config", args.config] if args.config else []
    for item in overrides:
        command += ["--set", item]
    print(f"seed {seed}: {' '.join(command)}", flush=True)
    started = time.monotonic()
    done = subprocess.run(command, cwd=_util.REPO_ROOT, capture_output=True, text=True, check=False)
    result = collect(seed, output, done.returncode, time.monotonic() - started, done.stderr)
    if not args.keep:
        shutil.rmtree(output, ignore_errors=True)
    return result


def collect(seed: int, output: str, exit_code: int, wall: Optional[float], stderr: str) -> dict:
    """One run's facts from its output folder (summary.json) and process."""
    summary_path = os.path.join(output, run_folder.SUMMARY)
    summary = summary_schema.load(summary_path) if os.path.exists(summary_path) else None
    real = summary.model.real_speech if summary else None

    def per_corpus(scores: Optional[dict], key: str) -> dict:
        return {c: getattr(v, key) for c, v in (scores or {}).items()}

    return {"seed": seed, "exit_code": exit_code, "wall_s": None if wall is None else round(wall, 1),
            "status": summary.status if summary else None, "blessed": summary.model.blessed if summary else None,
            "stderr_tail": stderr.strip().splitlines()[-3:], "gate": real.gate.model_dump() if real else None,
            "utterances": real.utterances if real else None, "speakers": real.speakers if real else None,
            "model": per_corpus(real and real.model, "accuracy"), "model_ci95": per_corpus(real and real.model, "ci95"),
            "pitch_rule": per_corpus(real and real.pitch_rule.by_corpus, "accuracy"),
            "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def markdown(results: List[dict], args) -> str:
    passed = sum(1 for r in results if r["gate"] and r["gate"].get("passed"))
    # The criterion is the gate's comparison with the rule; the gate also has an absolute floor.
    level = [r for r in results if r["model"].get("overall") is not None and r["pitch_rule"].get("overall") is not None
             and r["model"]["overall"] >= r["pitch_rule"]["overall"]]
    rows = []
    for r in results:
        overall_m, overall_r = r["model"].get("overall"), r["pitch_rule"].get("overall")
        ci = r["model_ci95"].get("overall")
        corpora = ", ".join(f"{c} {r['model'][c]:.3f} vs {r['pitch_rule'][c]:.3f}" for c in sorted(r["model"])
                            if c != "overall")
        failed = [c["name"] for c in (r["gate"] or {}).get("conditions", []) if not c.get("passed")]
        rows.append([r["seed"], r["exit_code"], "passed" if r["gate"] and r["gate"].get("passed") else
                     "refused" + (f" ({', '.join(failed)})" if failed else ""), "yes" if r in level else "no",
                     r["utterances"], r["speakers"],
                     "-" if overall_m is None else f"{overall_m:.3f} ({ci[0]:.3f}-{ci[1]:.3f})",
                     "-" if overall_r is None else f"{overall_r:.3f}", corpora,
                     "-" if r["wall_s"] is None else r["wall_s"], r.get("settings", {}).get("commit", "-")])
    walls = [r["wall_s"] for r in results if r["wall_s"] is not None] or [float("nan")]
    return "\n".join([
        f"# make demo over {len(results)} seeds: {args.name}", "",
        f"- config: {args.config or 'defaults'}{'; --set ' + ' '.join(args.set) if args.set else ''}",
        f"- machine: {_util.cpu_model()}, {os.cpu_count()} cores; "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; commit {_util.git_commit()}",
        f"- seed N adds N to {', '.join(SEEDED)}: another speaker split, other clips, another model", "",
        f"**Gate passed in {passed} of {len(results)} runs; the model was not worse than the pitch rule in "
        f"{len(level)} of {len(results)}.** Wall time {min(walls):.0f}-{max(walls):.0f} s.", "",
        _util.table(["seed", "exit", "gate", "model >= rule", "utterances", "speakers", "model (95 % Wilson)", "pitch rule",
                     "per corpus: model vs rule", "wall s", "commit"], rows), ""])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    config = config_lib.load_config(args.config, list(args.set))
    os.makedirs(args.out, exist_ok=True)
    results = []
    for seed in args.seeds:
        overrides = list(args.set) + seed_overrides(config, seed)
        path = os.path.join(args.out, f"seed-{seed}.json")
        settings = {"config": args.config, "overrides": overrides, "commit": _util.git_commit()}
        old = json.loads(fs.read_text(path)) if os.path.exists(path) else None
        # Same config and overrides: reused (the commit it ran at is recorded and shown, not compared).
        if old and all(old.get("settings", {}).get(k) == settings[k] for k in ("config", "overrides")):
            print(f"seed {seed}: done before, reused", flush=True)
            results.append(old)
            continue
        result = dict(run_seed(args, seed, overrides), settings=settings)
        fs.write_text(path, json.dumps(result, indent=1))
        print(f"seed {seed}: exit {result['exit_code']}, model {result['model'].get('overall')}, "
              f"rule {result['pitch_rule'].get('overall')}, {result['wall_s']} s", flush=True)
        results.append(result)
    text = markdown(results, args)
    fs.write_text(os.path.join(args.out, "summary.md"), text)
    fs.write_text(os.path.join(args.out, "summary.json"), json.dumps(results, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
