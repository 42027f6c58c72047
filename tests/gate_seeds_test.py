"""bench/gate_seeds.py: each seed shifts every seed of the config, and the table counts refusals as such."""
from bench import gate_seeds
import sample_summaries  # tests/sample_summaries.py
from pipeline import config as config_lib


def test_seed_shifts_split_synthesis_and_training_seeds():
    config = config_lib.load_config(None, ["corpus.seed=40", "trainer.seed=3"])
    assert gate_seeds.seed_overrides(config, 0) == ["corpus.seed=40", f"synthesis.seed={config.synthesis.seed}",
                                                    "trainer.seed=3"]
    assert gate_seeds.seed_overrides(config, 2) == ["corpus.seed=42", f"synthesis.seed={config.synthesis.seed + 2}",
                                                    "trainer.seed=5"]


def _result(seed, passed, model, rule, code):
    return {"seed": seed, "exit_code": code, "wall_s": 400.0 + seed, "gate": {"passed": passed},
            "utterances": 150, "speakers": 30, "model": {"overall": model, "a": model},
            "model_ci95": {"overall": [model - 0.05, min(1.0, model + 0.03)]}, "pitch_rule": {"overall": rule, "a": rule}}


def test_summary_counts_passes_and_refusals():
    args = gate_seeds.parse_args(["--seeds", "0,1", "--name", "t"])
    text = gate_seeds.markdown([_result(0, True, 0.95, 0.93, 0), _result(1, False, 0.90, 0.93, 3)], args)
    assert "**Gate passed in 1 of 2 runs; the model was not worse than the pitch rule in 1 of 2.**" in text
    assert "| 1 | 3 | refused | no | 150 | 30 | 0.900 (0.850-0.930) | 0.930 | a 0.900 vs 0.930 | 401.0 | - |" in text
    crashed = dict(_result(2, False, 0.0, 0.0, 1), gate=None, model={}, model_ci95={}, pitch_rule={})
    assert "| 2 | 1 | refused | no |" in gate_seeds.markdown([crashed], args)
    floor_only = dict(_result(3, False, 0.85, 0.80, 3), gate={"passed": False, "conditions": [
        {"name": "real_accuracy_floor", "passed": False}, {"name": "vs_pitch_rule", "passed": True}]})
    assert "| 3 | 3 | refused (real_accuracy_floor) | yes |" in gate_seeds.markdown([floor_only], args)


def test_a_runs_summary_is_read_per_corpus(tmp_path, monkeypatch):
    """The pitch rule's part of summary.json also holds its threshold and counts: only corpora are read."""
    import json  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel
    args = gate_seeds.parse_args(["--seeds", "0", "--name", "t", "--work", str(tmp_path)])
    summary = sample_summaries.run_summary()
    summary["model"]["real_speech"] = sample_summaries.real_speech_result({"overall": 0.9, "a": 0.9}, {"overall": 0.8, "a": 0.8})

    def fake_run(command, **_):
        out = command[command.index("--output") + 1]
        (tmp_path / "seed-0").mkdir(exist_ok=True)
        (tmp_path / "seed-0" / "summary.json").write_text(json.dumps(summary))
        assert out == str(tmp_path / "seed-0")
        return subprocess.CompletedProcess(command, 0, "", "audioclf: model blessed and pushed\n")
    monkeypatch.setattr(gate_seeds.subprocess, "run", fake_run)
    result = gate_seeds.run_seed(args, 0, [])
    assert result["pitch_rule"] == {"overall": 0.8, "a": 0.8} and result["model"] == {"overall": 0.9, "a": 0.9}
    assert result["model_ci95"]["a"] == [0.6, 0.98] and result["gate"]["passed"] and result["utterances"] == 10
    assert result["exit_code"] == 0 and not (tmp_path / "seed-0").exists()   # removed without --keep
