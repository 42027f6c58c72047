"""report.html on small inputs: the statistics it prints, escaping, a finished and a failed run's page."""
import base64
import html.parser
import json
import re

import pytest

from pipeline import pipeline as pipeline_def
from pipeline import report
from pipeline.report import data_section, figures, training_section
from pipeline.report.gather import Evaluation, Facts, Signature, Tensor
from pipeline.summary_schema import RunSummary, Training
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
    assert data_section.speech_seconds(row) == pytest.approx(5.0 + 2.0)  # 0-5 and 8-10 (cut at the clip's end)


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


def test_interrupted_run_says_where_it_was_interrupted(tmp_path):
    summary = _failed_summary("Trainer", "")
    summary["components"]["Trainer"]["status"] = "interrupted"
    summary.update(status="interrupted", error="interrupted by SIGINT", interrupted_at="Trainer")
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    report.write_report(str(tmp_path))
    page = (tmp_path / "report.html").read_text()
    banner = re.search(r'<div class="banner bad"[^>]*>(.*?)</div>', page, re.S).group(1)
    assert "Interrupted at Trainer" in banner and "interrupted by SIGINT" in banner
    assert "<title>audioclf run report: Interrupted at Trainer" in page
    assert "No model was trained. The run was interrupted at Trainer." in page
    assert '<span class="status interrupted">interrupted</span>' in page


class _Page(html.parser.HTMLParser):
    """What a reader sees of a page: its headings by level, its tables as rows of cell texts, and the text
    of each paragraph-like element, so that the tests check sections and numbers, not markup."""
    BLOCKS = ("title", "h1", "h2", "h3", "h4", "p", "li", "dt", "dd", "summary", "figcaption", "footer")

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.headings, self.tables, self.blocks, self.images = {}, [], [], 0
        self._text, self._row = None, None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag in self.BLOCKS or tag in ("td", "th"):
            self._text = []
        self.images += tag == "img"
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []

    def handle_endtag(self, tag):
        text = " ".join("".join(self._text or []).split())
        if tag in ("td", "th"):
            self._row.append(text)
        elif tag == "tr":
            self.tables[-1].append(self._row)
        elif tag in self.BLOCKS:
            self.blocks.append(text)
            if tag in ("h1", "h2", "h3", "h4"):
                self.headings.setdefault(tag, []).append(text.rstrip("#"))
        if tag in self.BLOCKS or tag in ("td", "th"):
            self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def rows(self):
        return [row for table in self.tables for row in table]


def test_every_text_is_escaped(tmp_path):
    nasty = '<script>alert("x")</script> & <b>bold</b>'
    summary = _failed_summary("SpeakerIndexGen", nasty)
    summary["run_id"] = "<i>run</i>"
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    page = report.render(report.gather(str(tmp_path)))
    assert "<script>" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(" in page
    shown = _Page(page)
    assert nasty in shown.blocks  # the banner's detail line, as text
    assert "audioclf run report: Failed at SpeakerIndexGen, <i>run</i>" in shown.blocks  # the title


def test_not_blessed_banner_gives_the_reasons():
    summary = _failed_summary("Pusher", "")
    summary.update(status="complete", error=None)
    summary["model"].update(blessed=False, pushed=False, test={
        "metrics": {"overall": {"sparse_categorical_accuracy": 0.5}},
        "confusion_matrix": None, "evaluation": "/root/Evaluator/evaluation/9", "validation": {
            "ok": False, "failures": ["sparse_categorical_accuracy = 0.5000, floor 0.7 (overall, test split)"],
            "compared_with_baseline": False}})
    kind, headline, details = report.run_status(RunSummary.model_validate(summary))
    assert kind == "warn" and headline == "Not blessed: nothing was pushed"
    assert details == ["Test-clip accuracy 50.0 %.", "sparse_categorical_accuracy = 0.5000, floor 0.7 (overall, test split)"]


def test_a_folder_without_a_run_is_refused(tmp_path):
    with pytest.raises(AudioClfError, match="holds no run to report on"):
        report.write_report(str(tmp_path))


def test_a_folder_whose_run_did_not_finish_says_so(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(AudioClfError, match="the last run into .* did not finish .*killed, or it is still running"):
        report.write_report(str(tmp_path))


def test_config_json_is_a_config_file_that_gives_the_same_config(tmp_path):
    config = load_config(None, ["synthesis.clip_seconds=4", "trainer.epochs=3"])
    path = report.write_config(str(tmp_path), config.to_dict())
    assert load_config(path) == config and load_config(path) != PipelineConfig()
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary file left behind


def test_pictures_are_png_data_uris_and_identical_for_the_same_input():
    history = {"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.6, 0.7], "sparse_categorical_accuracy": [0.5, 0.7, 0.8],
               "val_sparse_categorical_accuracy": [0.5, 0.75, 0.7]}
    first, second = figures.training_curves(history, 2), figures.training_curves(history, 2)
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
    pairs = training_section.training_facts(Training(**training), {"epochs": 5, "patience": 4}, 0.9, averaged=kept == "average")
    assert any(expected in sentence for _, sentence in pairs)


def _finished_run() -> Facts:
    """A blessed and pushed run on 8 test clips, as gather() would read it (without the artifacts)."""
    def clip(split, label, mode, speakers, index):
        return {"split": split, "label_name": label, "mode": mode, "num_speakers": speakers, "duration_s": 4.0,
                "utterances": [{"at_s": 0.0, "seconds": 3.0}] * speakers, "index": index, "path": f"{split}/{index}.wav",
                "clip_id": f"{split}-{index}", "speakers": ["a"] * speakers}

    scored = {"n": 10, "correct": 9, "accuracy": 0.9, "ci95": [0.6, 0.98], "per_class": {
        "female": {"precision": 1.0, "recall": 0.8, "support": 5}, "male": {"precision": 0.8333, "recall": 1.0, "support": 5}}}
    rule = {"n": 10, "correct": 8, "accuracy": 0.8, "ci95": [0.49, 0.94], "per_class": scored["per_class"]}
    components = {c: {"status": "complete", "outputs": {}} for c in pipeline_def.COMPONENT_ORDER}
    components["Trainer"]["outputs"] = {"model": ["/root/Trainer/model/3"]}
    summary = {
        "pipeline": "audioclf", "run_id": "2026-02-03T04:05:06", "status": "complete", "error": None,
        "components": components,
        "corpus": {"speakers": 4, "files": 12, "min_age": 16, "minors_left_out": 0, "skipped_files": [], "corpora": {
            "<script>alert(1)</script>": {"root": "/data/tiny", "format": "kaldi", "speakers": 4, "files": 12,
                                          "read_skipped": {}, "notes": [], "minors_left_out": 0, "speakers_read": 4,
                                          "seconds": 90.0, "split": "split per gender", "speakers_per_split": {
                                              "train": {"F": 1, "M": 1}, "eval": {}, "test": {"F": 1, "M": 1}}}}},
        "splits": {"train": {"speakers_in_split": {"F": ["f1"], "M": ["m1"]}, "speaker_ids": ["f1", "m1"]},
                   "test": {"speakers_in_split": {"F": ["f2"], "M": ["m2"]}, "speaker_ids": ["f2"]}},
        "model": {
            "training": {"strategy": "MirroredStrategy", "replicas": 2, "global_batch": 32, "steps_per_epoch": 5,
                         "train_clips": 160, "eval_clips": 20, "epochs_run": 3, "best_epoch": 2, "stopped_early": False},
            "test": {"metrics": {"overall": {"example_count": 8, "sparse_categorical_accuracy": 0.875},
                                 "num_speakers=1": {"example_count": 4, "sparse_categorical_accuracy": 0.75}},
                     "confusion_matrix": [[3, 1], [0, 4]], "evaluation": "/root/Evaluator/evaluation/9",
                     "validation": {"ok": True, "failures": [], "compared_with_baseline": False}},
            "real_speech": {"utterances": 10, "seconds": 93.0, "speakers": 4, "speakers_per_corpus": {"tiny": 4},
                            "model": {"tiny": scored, "overall": scored}, "pitch_rule": {
                                "tiny": rule, "overall": rule, "threshold_hz": 165.25, "fit_utterances": 40,
                                "fit_speakers": 6, "no_f0": 1},
                            "baseline_model": None, "wrong": [], "wrong_count": 0, "unreadable": [], "seconds_taken": 4.5,
                            "gate": {"passed": True, "failures": [], "conditions": [
                                {"name": "real_accuracy_floor", "value": 0.9, "required": 0.85, "passed": True,
                                 "text": "accuracy 0.9 >= 0.85"}]}},
            "blessed": True, "pushed": True, "pushed_model": "/serving/7"}}
    history = {"loss": [0.9, 0.5, 0.45], "val_loss": [0.8, 0.6, 0.65], "sparse_categorical_accuracy": [0.6, 0.75, 0.8],
               "val_sparse_categorical_accuracy": [0.55, 0.8, 0.7]}
    return Facts(
        "/runs/finished", RunSummary.model_validate(summary), config={"name": "audioclf", "trainer": {"epochs": 3, "patience": 2},
                                           "kubeflow": {"namespace": "ml"}},
        started="2026-02-03 04:05:06 UTC", durations={"Trainer": 12.34},
        manifest=[clip("train", "male", "sequential", 1, 0), clip("train", "female", "simultaneous", 2, 1),
                  clip("test", "male", "sequential", 1, 0), clip("test", "female", "sequential", 1, 1)],
        anomalies={"train": [], "test": []}, history={"history": history},
        evaluation=Evaluation(floor=0.7), signatures=[Signature("serving_default", [Tensor("examples", "string", [None])],
                                                                [Tensor("probabilities", "float32", [None, 2])])])


def test_a_finished_run_shows_every_section_with_its_numbers():
    page = report.render(_finished_run())
    shown = _Page(page)
    assert shown.headings["h2"] == ["Data", "Training", "Evaluation", "Push", "Pipeline"]
    assert shown.headings["h3"] == [
        "Corpus", "Speakers per split", "Clips per split, label, mode and number of speakers", "Durations",
        "Anomalies (ExampleValidator)", "Config", "Per class", "Slices (TFMA)", "Against the previous blessed model",
        "Real speech: whole utterances of the test speakers, beside the pitch rule", "Blessing", "Signatures"]
    assert shown.images == 3  # clip composition, training curves, confusion matrix (no clip audio to draw)
    blocks, rows = shown.blocks, shown.rows()
    # Header and banner.
    assert "audioclf run report: Blessed and pushed, 2026-02-03T04:05:06" in blocks  # the title
    assert "/runs/finished" in blocks and "2026-02-03 04:05:06 UTC" in blocks
    assert "Test-clip accuracy 87.5 %; real test utterances 90.0 % (pitch rule 80.0 %); pushed to /serving/7" in blocks
    # Data: the corpus (its name escaped, shown as text), speakers and clips per split, durations, anomalies.
    assert "<script>" not in page and ["<script>alert(1)</script>/data/tiny", "kaldi", "4", "12", "1.5",
                                       "split per gender: train 2, eval 0, test 2", "0", "—"] in rows
    assert ["test", "1", "1", "2", "1"] in rows  # female, male, total, used in clips
    assert ["split", "clips", "male", "female", "sequential", "simultaneous", "1 speaker", "2 speakers"] in rows
    assert ["train", "2", "1", "1", "1", "1", "1", "1"] in rows and ["eval", "0", "0", "0", "0", "0", "0", "0"] in rows
    assert ["train", "4", "3.0 (3.0–3.0)", "4.5 (3.0–6.0)", "1.5 (1.0–2.0)"] in rows  # overlapping speech counts once
    assert "None: every split (test, train) matches the curated schema." in blocks
    # Training: facts, epochs (the best one is the second), config.
    assert "MirroredStrategy (the GPUs of one machine) with 2 replicas" in blocks
    assert "32 clips (5 steps per epoch)" in blocks and "ran all 3 epochs (patience 2)" in blocks
    assert "2 (by eval accuracy): eval accuracy 80.0 %; the model keeps its weights" in blocks
    assert ["2", "0.500", "75.0 %", "0.600", "80.0 %"] in rows and ["3", "0.450", "80.0 %", "0.650", "70.0 %"] in rows
    assert ["epochs", "3"] in rows and "kubeflow (1 settings, used on a Kubeflow cluster only)" in blocks
    # Evaluation: accuracy with its Wilson interval, per class (hand-computed from the matrix), slices, blessing.
    interval, slice_interval = ("{:.1f}–{:.1f} %".format(*(100 * v for v in report.wilson_interval(*counts)))
                                for counts in ((7, 8), (3, 4)))
    assert (f"Test accuracy 87.5 % (7 of 8 clips right); 95 % confidence interval {interval} (Wilson score "
            f"interval).") in blocks
    assert ["male", "1.000", "0.750", "0.857", "4"] in rows and ["female", "0.800", "1.000", "0.889", "4"] in rows
    assert ["macro average", "0.900", "0.875", "0.873", "8"] in rows
    assert ["overall", "8", "87.5 %", interval] in rows and ["num_speakers = 1", "4", "75.0 %", slice_interval] in rows
    assert "First model, no baseline: no blessed model existed yet, so only the accuracy floor applied." in blocks
    assert ["overall", "10", "4", "90.0 % (60 %–98 %)", "80.0 % (49 %–94 %)", "—"] in rows
    assert any("median F0 above 165.2 Hz = female" in b and "10 utterances (1.6 min) of 4 test speakers" in b for b in blocks)
    assert "✓ accuracy 0.9 >= 0.85" in blocks and "The model got every test utterance right." in blocks
    assert "blessed" in blocks and ("accuracy on the whole test split ≥ 0.7; no regression check (no baseline); and the "
                                    "real-speech gate above") in blocks
    # Push and Pipeline.
    assert "audioclf predict --model /serving/7 FILE..." in blocks
    assert ["serving_default", "examples string [None]", "probabilities float32 [None, 2]"] in rows
    assert ["Trainer", "complete", "12.3", "/root/Trainer/model/3"] in rows and ["Pusher", "complete", "—", ""] in rows


def test_a_picture_that_cannot_be_drawn_is_a_note_in_its_section(monkeypatch):
    def broken(*args):
        raise RuntimeError("no canvas")

    monkeypatch.setattr(figures, "confusion_matrix", broken)
    page = report.render(_finished_run())
    evaluation = re.search(r'<section id="evaluation">(.*?)</section>', page, re.S).group(1)
    assert "Could not draw the confusion matrix picture: RuntimeError: no canvas" in _Page(evaluation).blocks
    assert _Page(page).images == 2 and "Per class" in _Page(evaluation).headings["h3"]  # the rest is still there


def test_skipped_utterances_and_links_leaving_the_root_are_counted_and_named():
    facts = _finished_run()
    facts.manifest[0].update(skipped_files=["/c/a.flac", "/c/b.flac"],
                             skipped_why={"/c/a.flac": "silent", "/c/b.flac": "too short"})
    facts.manifest[1]["skipped_files"] = ["/c/old.flac"]   # a manifest from before skipped_why: undecodable
    corpus_facts = next(iter(facts.summary.corpus.corpora.values()))
    corpus_facts.links_outside_root, corpus_facts.links_outside_root_examples = 2, ["/c/l1.flac", "/c/l2.flac"]
    shown = _Page(report.render(facts))
    rows, blocks = shown.rows(), shown.blocks
    facts_shown = dict(zip(blocks, blocks[1:]))   # <dt> term -> its <dd> value
    assert facts_shown["skipped while mixing (undecodable, too short or silent)"] == "3 (1 silent, 1 too short, 1 undecodable)"
    assert ["/c/a.flac", "skipped while mixing: silent (under synthesis.min_speech_dbfs)"] in rows
    assert ["/c/b.flac", "skipped while mixing: shorter than synthesis.min_piece_seconds"] in rows
    assert ["/c/old.flac", "skipped while mixing: could not be decoded"] in rows
    assert facts_shown["audio reached through links leaving the data root"] == "2 (e.g. /c/l1.flac, /c/l2.flac)"
