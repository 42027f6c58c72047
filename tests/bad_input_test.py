"""Bad input ends `audioclf run` with one message naming the file or setting, exit code 2, and no
published artifact of the failed component."""
import json
import re
from pathlib import Path

import pytest

from conftest import build_corpus, build_kaldi_corpus
from pipeline import cli, run_dir
from components.common.errors import EXIT_USER_ERROR

pytestmark = pytest.mark.e2e

TINY_CONFIG = str(Path(__file__).with_name("tiny.yaml"))
FAST = ["--config", TINY_CONFIG, "--set", "synthesis.clip_seconds=2", "--set", "synthesis.sample_rate=8000",
        "--set", "synthesis.clips={train: 4, eval: 2, test: 2}",
        "--set", "beam.direct_running_mode=in_memory", "--set", "beam.direct_num_workers=1"]


def _run(capsys, data_root, output, *extra):
    code = cli.main(["run", "--data-root", str(data_root), "--output", str(output), *FAST, *extra])
    return code, capsys.readouterr().err


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("audioclf: error: ")]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def _failed_component(output: Path, component: str) -> dict:
    summary = json.loads((output / "summary.json").read_text())
    assert summary["status"] == "failed"
    entry = summary["components"][component]
    assert entry["status"] == "failed" and entry["outputs"] == {}  # nothing published
    artifact_dirs = list((output / "pipeline_root" / component).glob("*/*"))
    assert all(not any(d.iterdir()) for d in artifact_dirs if d.parent.name != ".system")  # nothing half-written
    return summary


def _report(output: Path) -> str:
    page = (output / "report.html").read_text()
    assert re.findall(r'<section id="(\w+)">', page) == ["data", "training", "evaluation", "push", "pipeline"]
    return page


def _banner(page: str) -> str:
    return re.search(r'<div class="banner bad"[^>]*>(.*?)</div>', page, re.S).group(1)


def test_missing_data_root(tmp_path, capsys):
    code, err = _run(capsys, tmp_path / "nope", tmp_path / "out")
    assert code == EXIT_USER_ERROR and "nope does not exist" in _error_line(err)


def test_missing_speakers_txt(tmp_path, capsys):
    corpus = build_corpus(tmp_path / "c")
    (corpus / "SPEAKERS.TXT").unlink()
    code, err = _run(capsys, corpus, tmp_path / "out")
    line = _error_line(err)
    assert code == EXIT_USER_ERROR and "no known corpus layout found (looked for: LibriSpeech SPEAKERS.TXT" in line


def test_unknown_gender_in_a_kaldi_data_dir_names_file_and_line(tmp_path, capsys):
    corpus = build_kaldi_corpus(tmp_path / "kaldi")
    genders = (corpus / "data" / "spk2gender").read_text().splitlines()
    genders[2] = genders[2].split()[0] + " x"
    (corpus / "data" / "spk2gender").write_text("\n".join(genders) + "\n")
    code, err = _run(capsys, corpus, tmp_path / "out")
    line = _error_line(err)
    assert code == EXIT_USER_ERROR and "spk2gender:3" in line and "'x'" in line
    _failed_component(tmp_path / "out", "SpeakerIndexGen")
    page = _report(tmp_path / "out")
    assert "Failed at SpeakerIndexGen" in _banner(page) and "spk2gender:3: unknown gender code" in _banner(page)
    assert "No speaker index was written. The run stopped at SpeakerIndexGen." in page and "<img" not in page


def test_unknown_gender_code(tmp_path, capsys):
    corpus = build_corpus(tmp_path / "c", extra_lines="4242 | X | dev-mini | 1.0 | Unknown Reader\n")
    code, err = _run(capsys, corpus, tmp_path / "out")
    line = _error_line(err)
    assert code == EXIT_USER_ERROR and "SPEAKERS.TXT:" in line and "speaker 4242 has gender code 'X'" in line
    summary = _failed_component(tmp_path / "out", "SpeakerIndexGen")
    assert summary["components"]["AudioSynthesis"]["status"] == "not run"


def test_a_huge_bad_line_is_quoted_cut_everywhere(tmp_path, capsys):
    """A 2 MB bad SPEAKERS.TXT line: stderr, summary.json and the report quote it cut, not whole."""
    corpus = build_corpus(tmp_path / "c", extra_lines=f"4243 | {'Q' * 2_000_000} | dev-mini | 1.0 | {'N' * 2_000_000}\n")
    code, err = _run(capsys, corpus, tmp_path / "out")
    line = _error_line(err)
    assert code == EXIT_USER_ERROR and "speaker 4243 has gender code 'QQQ" in line and "…'" in line
    assert len(err) < 20_000
    _failed_component(tmp_path / "out", "SpeakerIndexGen")
    assert (tmp_path / "out" / "summary.json").stat().st_size < 100_000
    assert (tmp_path / "out" / "report.html").stat().st_size < 1_000_000


def test_too_few_speakers_for_three_splits(tmp_path, capsys):
    corpus = build_corpus(tmp_path / "c", per_gender=2)
    code, err = _run(capsys, corpus, tmp_path / "out")
    assert code == EXIT_USER_ERROR and "need at least 3, one per split" in _error_line(err)


def test_corrupt_flac_stops_the_run_or_is_skipped_and_reported(tmp_path, capsys):
    corpus = build_corpus(tmp_path / "c", per_gender=4)
    victim = sorted((corpus / "dev-mini").rglob("*.flac"))[0]
    victim.write_bytes(b"RIFF0000 definitely not a flac file")
    code, err = _run(capsys, corpus, tmp_path / "out")
    assert code == EXIT_USER_ERROR and f"{victim}: cannot read the audio header" in _error_line(err)
    _failed_component(tmp_path / "out", "SpeakerIndexGen")
    code, err = _run(capsys, corpus, tmp_path / "out2", "--set", "corpus.skip_corrupt=true")
    assert code == 0, err[-3000:]
    summary = json.loads((tmp_path / "out2" / "summary.json").read_text())
    assert [f["path"] for f in summary["corpus"]["skipped_files"]] == [str(victim)]
    assert summary["model"]["pushed"] is True  # the run went on to the end


def test_anomaly_in_the_examples_stops_the_run_before_training(tmp_path, capsys, monkeypatch):
    """One test clip claims another sample rate: ExampleValidator flags it against the curated schema,
    the gate fails the run naming split and feature, and no model is trained or pushed."""
    from components.audio_example_gen import executor as example_gen_executor  # pylint: disable=import-outside-toplevel

    real = example_gen_executor.example_format.make_example

    def one_bad_clip(pcm, sample_rate, meta, encoding):
        bad = meta["split"] == "test" and meta["index"] == 0
        return real(pcm, 22050 if bad else sample_rate, meta, encoding)

    # In-memory Beam (FAST) runs the ExampleGen's DoFn in this process, so the patch reaches it.
    monkeypatch.setattr(example_gen_executor.example_format, "make_example", one_bad_clip)
    code, err = _run(capsys, build_corpus(tmp_path / "c"), tmp_path / "out")
    line = _error_line(err)
    assert code == EXIT_USER_ERROR and "ExampleValidator found anomalies" in line
    assert "split test: sample_rate:" in line and "split train" not in line
    summary = _failed_component(tmp_path / "out", "AnomalyGate")
    assert summary["components"]["ExampleValidator"]["status"] == "complete"
    for component in ("Trainer", "Evaluator", "Pusher"):
        assert summary["components"][component]["status"] == "not run"
    assert summary["model"]["pushed"] is None and not (tmp_path / "out" / "serving").exists()

    page = _report(tmp_path / "out")
    banner = _banner(page)
    assert "Failed at AnomalyGate" in banner and "ExampleValidator found anomalies" in banner
    assert "split test: sample_rate:" in banner
    data = re.search(r'<section id="data">(.*?)</section>', page, re.S).group(1)
    assert re.search(r'<tr class="bad"><td>test</td><td>sample_rate: Out-of-range values', data)
    assert "<td>train</td><td>none</td>" in data
    assert data.count('<img src="data:image/png;base64,') == 2 and page.count("<img") == 2  # the clips were made
    assert "No model was trained. The run stopped at AnomalyGate." in page
    assert "The model was not evaluated. The run stopped at AnomalyGate." in page
    assert "Not pushed: the run stopped at AnomalyGate before the Pusher." in page
    assert "accuracy_floor" in page  # config.json, written before the run, is shown


def test_report_needs_a_run(tmp_path, capsys):
    code = cli.main(["report", "--output", str(tmp_path)])
    line = _error_line(capsys.readouterr().err)
    assert code == EXIT_USER_ERROR and f"{tmp_path} holds no run to report on (summary.json is missing)" in line


def test_truncated_flac_body_fails_in_synthesis(tmp_path, capsys):
    corpus = build_corpus(tmp_path / "c", per_gender=3)  # 3 per gender: every speaker is used
    for path in (corpus / "dev-mini").rglob("*.flac"):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # headers intact, bodies cut
    code, err = _run(capsys, corpus, tmp_path / "out")
    assert code == EXIT_USER_ERROR and ".flac: cannot decode audio" in _error_line(err)
    assert "Traceback" not in err   # Beam's re-raised worker traceback goes to the log file only
    assert "Traceback (most recent call last)" in (tmp_path / "out" / run_dir.LOG).read_text()
    _failed_component(tmp_path / "out", "AudioSynthesis")


@pytest.mark.parametrize("override, message", [
    ("corpus.split_fractions={train: 0.5, eval: 0.1, test: 0.1}", "add up to 0.7, not 1"),
    ("synthesis.clip_seconds=0.5", "shorter than the shortest allowed utterance piece"),
    ("synthesis.clips={train: 4, eval: 0, test: 2}", "synthesis.clips.eval=0 must be an integer in [1, 1000000]"),
])
def test_settings_that_cannot_work(tmp_path, capsys, override, message):
    code, err = _run(capsys, build_corpus(tmp_path / "c"), tmp_path / "out", "--set", override)
    assert code == EXIT_USER_ERROR and message in _error_line(err)
    assert not (tmp_path / "out" / "pipeline_root").exists()


def test_silent_and_too_short_utterances_are_skipped_and_named(tmp_path, capsys):
    """A silent utterance would be an all-zero clip under a gender's label; a 0.1 s one is under
    synthesis.min_piece_seconds. Both are skipped, counted and named in summary.json and the report."""
    import soundfile  # pylint: disable=import-outside-toplevel

    from components.speaker_index import corpus as corpus_index  # pylint: disable=import-outside-toplevel
    from components.speaker_index.config import CorpusConfig  # pylint: disable=import-outside-toplevel

    corpus = build_corpus(tmp_path / "c", per_gender=4)
    speaker = corpus_index.build_index(str(corpus), CorpusConfig())["splits"]["train"]["M"][0].split("/")[-1]
    files = sorted((corpus / "dev-mini" / speaker).rglob("*.flac"))
    for i, path in enumerate(files):   # the same speaker split the run makes: a train speaker, never drawn
        samples, rate = soundfile.read(path, dtype="float32")
        soundfile.write(path, samples[: rate // 10] if i % 2 else samples * 0, rate)
    code, err = _run(capsys, corpus, tmp_path / "out", "--set", "synthesis.clips={train: 8, eval: 2, test: 2}")
    assert code == 0, err[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    skipped = summary["skipped_utterances"]
    assert set(skipped["by_reason"]) == {"silent", "too short"} and skipped["count"] == sum(skipped["by_reason"].values())
    assert {e["path"] for e in skipped["examples"]} <= {str(f) for f in files}
    assert all(speaker not in s for part in summary["splits"].values() for s in part["speaker_ids"])
    page = _report(tmp_path / "out")
    assert "skipped while mixing: silent (under synthesis.min_speech_dbfs)" in page
    assert "skipped while mixing: shorter than synthesis.min_piece_seconds" in page
