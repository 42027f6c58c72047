"""summary.json is typed: the committed JSON Schema is the classes' schema, a real validator accepts what
the writer writes and refuses a misshapen file, and `load` names the file and the first wrong field."""
import json
import os

import jsonschema
import pytest

import sample_summaries  # tests/sample_summaries.py
from components.common.errors import AudioClfError
from pipeline import summary_schema


def _committed_schema() -> dict:
    with open(os.path.join(os.path.dirname(summary_schema.__file__), summary_schema.SCHEMA_FILE), encoding="utf-8") as f:
        return json.load(f)


def test_the_committed_schema_file_is_the_classes_schema():
    assert _committed_schema() == summary_schema.json_schema(), (
        "regenerate it: python -m pipeline.summary_schema > pipeline/summary.schema.json")


def test_a_written_summary_passes_the_json_schema_and_reads_back_equal(tmp_path):
    data = sample_summaries.run_summary()
    data["model"]["real_speech"] = sample_summaries.real_speech_result({"overall": 0.9, "a": 0.9}, {"overall": 0.8, "a": 0.8})
    summary = summary_schema.RunSummary.model_validate(data)
    path = tmp_path / "summary.json"
    path.write_text(summary.to_json())
    written = json.loads(path.read_text())
    jsonschema.Draft202012Validator(_committed_schema()).validate(written)
    assert summary_schema.load(str(path)) == summary
    assert summary.model.real_speech.pitch_rule.by_corpus["a"].accuracy == 0.8
    assert summary.output_uri("Trainer", "model") is None and summary.status_of("Nope") == "not run"


@pytest.mark.parametrize("change, field", [
    (lambda d: d.update(status="done"), "status"),
    (lambda d: d["components"]["Trainer"].update(outputs={"model": "/one/uri"}), "components.Trainer.outputs.model"),
    (lambda d: d["model"].update(blesed=True), "model.blesed"),
    (lambda d: d.pop("splits"), "splits"),
])
def test_a_misshapen_summary_is_refused_by_both_with_the_field_named(tmp_path, change, field):
    data = sample_summaries.run_summary()
    change(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(_committed_schema()).validate(data)
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AudioClfError, match=rf"{path} is not a summary this version can read \({field}: .*run `audioclf run`"):
        summary_schema.load(str(path))


def test_a_file_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("{half")
    with pytest.raises(AudioClfError, match=r"is not a summary this version can read \(not valid JSON"):
        summary_schema.load(str(path))
    with pytest.raises(AudioClfError, match="is missing"):
        summary_schema.load(str(tmp_path / "none.json"))


def test_a_failed_run_names_the_first_failed_component():
    data = sample_summaries.run_summary("failed")
    data["components"]["Trainer"]["status"] = "failed"
    data["components"]["Evaluator"]["status"] = "not run"
    assert summary_schema.RunSummary.model_validate(data).stopped_at() == ("Trainer", "it broke")
