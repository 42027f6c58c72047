"""report.html on small inputs: the statistics it prints, escaping, and a failed run's page."""
import base64
import json
import re

import pytest

from pipeline import pipeline as pipeline_def
from pipeline import report
from pipeline import report_figures
from pipeline.config import PipelineConfig, load_config
from components.common.errors import AudioClfError

SECTION_IDS = ("data", "training", "evaluation", "push", "pipeline")


def _failed_summary(component: str, error: str) -> dict:
    order = pipeline_def.COMPONENT_ORDER
    statuses = {c: ("complete" if order.index(c) < order.index(component) else "not run") for c in order}
    statuses[component] = "failed"
    return {"pipeline": "audioclf", "run_id": "2026-01-02T03:04:05", "status": "failed", "error": error,
            "components": {c: {"status": s, "outputs": {}} for c, s in statuses.items()},
            "corpus": None, "splits": {"train": {}, "eval": {}, "test": {}},
            "model": {"model": None, "training": None, "test": None, "baseline_model": None, "blessed": None,
                      "pushed": None, "pushed_model": None}}


@pytest.mark.parametrize("successes, trials, low, high", [
    (0, 10, 0.0, 0.2775),      # published Wilson intervals (z = 1.96)
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (87, 100, 0.7902, 0.9224),  # worked by hand: centre 0.8563, half-width 0.0661
])
def test_wilson_interval(successes, trials, low, high):
    interval = report.wilson_interval(successes, trials)
    assert interval == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_without_trials():
    assert report.wilson_interval(0, 0) is None


def test_per_class_metrics_from_a_matrix():
    male, female = report.per_class_metrics([[43, 7], [6, 44]], ["male", "female"])
    assert male == pytest.approx({"label": "male", "precision": 43 / 49, "recall": 43 / 50,
                                  "f1": 2 * 43 / (49 + 50), "support": 50})
    assert female["precision"] == pytest.approx(44 / 51) and female["recall"] == pytest.approx(44 / 50)
    assert female["support"] == 50


def test_per_class_metrics_of_a_class_never_predicted():
    male, female = report.per_class_metrics([[2, 0], [2, 0]], ["male", "female"])
    assert male["precision"] == 0.5 and male["recall"] == 1.0 and male["f1"] == pytest.approx(2 / 3)
    assert female["precision"] is None and female["recall"] == 0.0 and female["f1"] == 0.0


def test_speech_seconds_counts_overlaps_once():
    row = {"duration_s": 10.0, "utterances": [{"at_s": 0.0, "seconds": 4.0}, {"at_s": 3.0, "seconds": 2.0},
                                              {"at_s": 8.0, "seconds": 5.0}]}
    assert report._speech_seconds(row) == pytest.approx(5.0 + 2.0)  # 0-5 and 8-10 (cut at the clip's end)


def test_failed_run_without_a_model_says_where_it_stopped(tmp_path):
    error = "ExampleValidator found anomalies, so no model is trained: split test: sample_rate: Out-of-range"
    (tmp_path / "summary.json").write_text(json.dumps(_failed_summary("AnomalyGate", error)))
    path = report.write_report(str(tmp_path))
    page = (tmp_path / "report.html").read_text()
    assert path == str(tmp_path / "report.html")
    banner = re.search(r'<div class="banner bad"[^>]*>(.*?)</div>', page, re.S).group(1)
    assert "Failed at AnomalyGate" in banner and "ExampleValidator found anomalies" in banner
    for section in SECTION_IDS:
        assert f'<section id="{section}">' in page
    assert "No model was trained. The run stopped at AnomalyGate." in page
    assert "Not pushed: the run stopped at AnomalyGate before the Pusher." in page
    assert "The config was not recorded for this run" in page
    assert "<img" not in page and "<script" not in page and "http" not in page.lower().replace("http-equiv", "")


def test_every_text_is_escaped(tmp_path):
    nasty = '<script>alert("x")</script> & <b>bold</b>'
    summary = _failed_summary("SpeakerIndexGen", nasty)
    summary["run_id"] = "<i>run</i>"
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    page = report.render(report.gather(str(tmp_path)))
    assert "<script>" not in page and "<b>bold</b>" not in page and "<i>run</i>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page


def test_not_blessed_banner_gives_the_reasons():
    summary = _failed_summary("Pusher", "")
    summary.update(status="complete", error=None)
    summary["model"].update(blessed=False, pushed=False, test={
        "metrics": {"overall": {"sparse_categorical_accuracy": 0.5}},
        "validation": {"ok": False, "failures": ["sparse_categorical_accuracy = 0.5000, floor 0.7 (overall, test split)"]}})
    kind, headline, details = report.run_status(summary)
    assert kind == "warn" and headline == "Not blessed: nothing was pushed"
    assert details == ["Test-clip accuracy 50.0 %.", "sparse_categorical_accuracy = 0.5000, floor 0.7 (overall, test split)"]


def test_a_folder_without_a_run_is_refused(tmp_path):
    with pytest.raises(AudioClfError, match="holds no run to report on"):
        report.write_report(str(tmp_path))


def test_config_json_is_a_config_file_that_gives_the_same_config(tmp_path):
    config = load_config(None, ["synthesis.clip_seconds=4", "trainer.epochs=3"])
    path = report.write_config(str(tmp_path), config.to_dict())
    assert load_config(path) == config and load_config(path) != PipelineConfig()
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary file left behind


def test_pictures_are_png_data_uris_and_identical_for_the_same_input():
    history = {"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.6, 0.7], "sparse_categorical_accuracy": [0.5, 0.7, 0.8],
               "val_sparse_categorical_accuracy": [0.5, 0.75, 0.7]}
    first, second = report_figures.training_curves(history, 2), report_figures.training_curves(history, 2)
    prefix = "data:image/png;base64,"
    assert first.data_uri.startswith(prefix) and first.data_uri == second.data_uri
    assert base64.b64decode(first.data_uri[len(prefix):])[:8] == b"\x89PNG\r\n\x1a\n"
    assert first.width_px == round(9.5 * 96)


@pytest.mark.parametrize("kept, expected", [
    ("best epoch", "3 (by eval accuracy): eval accuracy 90.0 %; the model keeps its weights"),
                                            ("average", "the moving average of the weights over all 5 epochs")])
def test_training_facts_say_which_weights_the_model_keeps(kept, expected):
    training = {"strategy": "_DefaultDistributionStrategy", "replicas": 1, "global_batch": 16, "steps_per_epoch": 94,
                "train_clips": 1500, "eval_clips": 200, "epochs_run": 5, "best_epoch": 3, "stopped_early": False,
                "kept_weights": kept}
    html = str(report._training_facts(training, {"epochs": 5, "patience": 4}, 0.9,  # pylint: disable=protected-access
                                      averaged=kept == "average"))
    assert expected in html
