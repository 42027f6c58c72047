"""bench/gate_seeds.py: each seed shifts every seed of the config, and the table counts refusals as such."""
from bench import gate_seeds
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
    assert "**Gate passed in 1 of 2 runs.**" in text
    assert "| 1 | 3 | refused | 150 | 30 | 0.900 (0.850-0.930) | 0.930 | a 0.900 vs 0.930 | 401.0 |" in text
    crashed = dict(_result(2, False, 0.0, 0.0, 1), gate=None, model={}, model_ci95={}, pitch_rule={})
    assert "| 2 | 1 | refused |" in gate_seeds.markdown([crashed], args)
