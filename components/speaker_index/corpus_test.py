"""Parsing SPEAKERS.TXT, scanning the tree and splitting speakers."""
import json
import os

import pytest

from components.speaker_index import corpus
from components.speaker_index.readers import librispeech
from conftest import build_corpus, build_csv_manifest, build_kaldi_corpus
from components.speaker_index.config import CorpusConfig
from components.common.errors import AudioClfError

SPEAKERS_TXT = """\
; LibriSpeech-style header
;ID  |SEX| SUBSET           |MINUTES| NAME
19   | F | train-clean-100  | 25.19 | Kara Shallenberg
60   | M | train-clean-100  | 20.18 | |CBW|Simon
  103|F|train-clean-100|23.72|Karen Savage

7    | M | test-other       |       | Name | with | pipes
"""


def test_parse_handles_comments_ragged_spacing_and_pipes_in_names():
    speakers = librispeech.parse_speakers_txt(SPEAKERS_TXT)
    assert sorted(speakers) == ["103", "19", "60", "7"]
    assert speakers["60"].name == "|CBW|Simon"
    assert speakers["7"].name == "Name | with | pipes"
    assert speakers["7"].minutes is None
    assert speakers["103"].gender == "F" and speakers["103"].subset == "train-clean-100"


def test_unknown_gender_code_names_line_and_speaker():
    with pytest.raises(AudioClfError, match=r"SPEAKERS.TXT:2: speaker 42 has gender code 'X'"):
        librispeech.parse_speakers_txt("; c\n42 | X | dev | 1.0 | Someone\n")


def test_duplicate_speaker_is_refused():
    with pytest.raises(AudioClfError, match="listed twice"):
        librispeech.parse_speakers_txt("1 | F | a | 1 | A\n1 | F | a | 1 | A\n")


def test_missing_speakers_file_says_what_to_do(tmp_path):
    (tmp_path / "dev").mkdir()
    with pytest.raises(AudioClfError, match=r"no known corpus layout found \(looked for: LibriSpeech SPEAKERS.TXT.*--data-root"):
        corpus.build_index(str(tmp_path), CorpusConfig())
    with pytest.raises(AudioClfError, match=r"SPEAKERS.TXT not found.*--data-root"):
        corpus.build_index([{"root": str(tmp_path), "format": "librispeech"}], CorpusConfig())


def test_missing_data_root(tmp_path):
    with pytest.raises(AudioClfError, match="does not exist"):
        librispeech.scan_audio_files(str(tmp_path / "nowhere"), [], [".flac"])


def test_split_is_deterministic_disjoint_and_per_gender():
    ids = {"F": [str(i) for i in range(100, 140)], "M": [str(i) for i in range(200, 230)]}
    fractions = {"train": 0.8, "eval": 0.1, "test": 0.1}
    first = corpus.split_speakers(ids, fractions, seed=1)
    assert first == corpus.split_speakers({g: list(reversed(v)) for g, v in ids.items()}, fractions, seed=1)
    assert first != corpus.split_speakers(ids, fractions, seed=2)
    assert len(first) == 70  # every speaker in exactly one split
    for gender, members in ids.items():
        counts = {s: sum(first[m] == s for m in members) for s in ("train", "eval", "test")}
        n = len(members)
        assert counts["eval"] == round(n * 0.1) and counts["test"] == round(n * 0.1)
        assert counts["train"] == n - counts["eval"] - counts["test"]


def test_too_few_speakers_of_a_gender():
    with pytest.raises(AudioClfError, match=r"only 2 male speaker\(s\).*need at least 3"):
        corpus.split_speakers({"F": ["1", "2", "3"], "M": ["4", "5"]}, {"train": .8, "eval": .1, "test": .1}, 0)


def test_index_keeps_speakers_on_disk_and_reports_the_rest(small_corpus):
    (small_corpus / "SPEAKERS.TXT").write_text((small_corpus / "SPEAKERS.TXT").read_text()
                                               + "99999| F | train-clean-100 | 1.0 | Not On Disk\n")
    orphan = small_corpus / "dev-mini" / "88888" / "1"
    orphan.mkdir(parents=True)
    first_flac = next((small_corpus / "dev-mini").rglob("*.flac"))
    (orphan / "88888-1-0000.flac").write_bytes(first_flac.read_bytes())
    index = corpus.build_index(str(small_corpus), CorpusConfig())
    facts = index["corpora"]["corpus"]
    assert facts["read_skipped"] == {"speaker folder without a SPEAKERS.TXT line": 1}
    assert any("88888" in note for note in facts["notes"])
    assert any("1 speaker(s) listed in SPEAKERS.TXT have no audio" in note for note in facts["notes"])
    assert not any(s.endswith(("/88888", "/99999")) for s in index["speakers"])
    assert len(index["speakers"]) == 8 and all(s.startswith("corpus/") for s in index["speakers"])
    for split in ("train", "eval", "test"):
        assert index["splits"][split]["F"] and index["splits"][split]["M"]
    entry = next(iter(index["speakers"].values()))
    assert entry["files"][0]["seconds"] > 1.0 and entry["files"][0]["sample_rate"] == 16000
    json.dumps(index)  # JSON, never pickle


def test_subset_filter(small_corpus):
    with pytest.raises(AudioClfError, match=r"subset folder\(s\) train-clean-100 not found.*found: dev-mini"):
        corpus.build_index(str(small_corpus), CorpusConfig(subsets=["train-clean-100"]))
    assert corpus.build_index(str(small_corpus), CorpusConfig(subsets=["dev-mini"]))["speakers"]


@pytest.mark.parametrize("content", [b"", b"this is not audio at all" * 10])
def test_corrupt_file_names_the_file_or_is_skipped(small_corpus, content):
    victim = sorted((small_corpus / "dev-mini").rglob("*.flac"))[0]
    victim.write_bytes(content)
    with pytest.raises(AudioClfError, match=rf"{victim.name}.*skip_corrupt"):
        corpus.build_index(str(small_corpus), CorpusConfig())
    index = corpus.build_index(str(small_corpus), CorpusConfig(skip_corrupt=True))
    assert [s["path"] for s in index["skipped_files"]] == [str(victim)]


def test_wav_files_are_read_too(small_corpus):
    import soundfile as sf
    flac = sorted((small_corpus / "dev-mini").rglob("*.flac"))[0]
    data, rate = sf.read(flac)
    sf.write(flac.with_suffix(".wav"), data, rate)
    flac.unlink()
    index = corpus.build_index(str(small_corpus), CorpusConfig())
    paths = [f["path"] for s in index["speakers"].values() for f in s["files"]]
    assert any(p.endswith(".wav") for p in paths)


# ------------------------------------------------------------------------------------- several corpora

def _three_corpora(tmp_path):
    return [str(build_corpus(tmp_path / "libri", per_gender=4)), str(build_kaldi_corpus(tmp_path / "kaldi", 3, 1)),
            str(build_csv_manifest(tmp_path / "manifest", 1))]


def test_several_corpora_are_namespaced_and_split_per_corpus_and_gender(tmp_path):
    index = corpus.build_index(_three_corpora(tmp_path), CorpusConfig())
    assert {n: c["format"] for n, c in index["corpora"].items()} == {"libri": "librispeech", "kaldi": "kaldi",
                                                                    "manifest": "csv"}
    for name, facts in index["corpora"].items():
        assert facts["split"] == corpus.SPLIT_PER_GENDER
        for split in ("train", "eval", "test"):
            assert all(n >= 1 for n in facts["speakers_per_split"][split].values()), (name, split)
    assert all(s.split("/")[0] in index["corpora"] for s in index["speakers"])
    test_rows = corpus.split_files(index, "test")
    assert {r["corpus"] for r in test_rows} == {"libri", "kaldi", "manifest"}
    assert all(index["speakers"][r["speaker"]]["split"] == "test" for r in test_rows)
    # Deterministic, and the same whatever the order the corpora are given in.
    again = corpus.build_index(list(reversed(_three_corpora(tmp_path / "again"))), CorpusConfig())
    assert ({s: e["split"] for s, e in again["speakers"].items()} == {s: e["split"] for s, e in index["speakers"].items()})


def test_a_corpus_too_small_to_split_goes_whole_to_train(tmp_path):
    libri = str(build_corpus(tmp_path / "libri", per_gender=4))
    small = str(build_kaldi_corpus(tmp_path / "small", per_gender=2, utterances=1))
    index = corpus.build_index([libri, small], CorpusConfig())
    assert index["corpora"]["small"]["split"].startswith("train only (2 male, 2 female speakers")
    assert all(e["split"] == "train" for s, e in index["speakers"].items() if e["corpus"] == "small")
    with pytest.raises(AudioClfError, match=r"only 2 male speaker\(s\)"):   # alone, it cannot be split at all
        corpus.build_index([small], CorpusConfig())


def test_minors_are_left_out_and_counted(tmp_path):
    root = build_kaldi_corpus(tmp_path / "kaldi", per_gender=4, utterances=1)
    ages = (root / "data" / "spk2age").read_text().splitlines()
    young = ages[0].split()[0]
    (root / "data" / "spk2age").write_text("\n".join([f"{young} 12"] + ages[1:]) + "\n")
    index = corpus.build_index(str(root), CorpusConfig())
    assert index["corpora"]["kaldi"]["minors_left_out"] == 1 and f"kaldi/{young}" not in index["speakers"]
    assert len(index["speakers"]) == 7 and index["min_age"] == 16
    assert corpus.build_index(str(root), CorpusConfig(min_age=10))["corpora"]["kaldi"]["minors_left_out"] == 0


def test_sources_round_trip_and_names_are_unique():
    sources = [corpus.Source("/d/data"), corpus.Source("/e/data"), corpus.Source("gs://b/cv", "commonvoice", "cv")]
    assert corpus.decode_sources(corpus.encode_sources(sources)) == sources
    assert corpus.encode_sources(["/d/LibriSpeech"]) == "/d/LibriSpeech"      # one plain root stays plain
    assert corpus.decode_sources("/a, /b") == [corpus.Source("/a"), corpus.Source("/b")]
    assert corpus.unique_names(sources) == ["data", "data-2", "cv"]
    assert corpus.Source("/x/own.csv").corpus_name() == "own"
    with pytest.raises(AudioClfError, match="mapping with 'root'"):
        corpus.to_source({"path": "/x"})
    with pytest.raises(AudioClfError, match="not a JSON list"):
        corpus.decode_sources("[nope")
    with pytest.raises(AudioClfError, match="corpus format 'mp4'"):
        corpus.build_index([{"root": "/tmp", "format": "mp4"}], CorpusConfig())


def test_a_fifo_named_flac_is_refused_unopened_or_skipped(tmp_path, no_hang):
    """A FIFO would block the header read forever; it is not a regular file, so it is never opened."""
    root = build_corpus(tmp_path / "c")
    chapter = sorted((root / "dev-mini").glob("*/*"))[0]
    fifo = chapter / "zz-pipe.flac"
    os.mkfifo(fifo)
    with pytest.raises(AudioClfError, match=rf"{fifo} is a FIFO \(named pipe\), not a regular file.*skip_corrupt=true"):
        corpus.build_index(str(root), CorpusConfig())
    index = corpus.build_index(str(root), CorpusConfig(skip_corrupt=True))
    assert [f["path"] for f in index["skipped_files"]] == [str(fifo)]
    assert "not a regular file" in index["skipped_files"][0]["reason"]
    assert str(fifo) not in {f["path"] for s in index["speakers"].values() for f in s["files"]}


def test_links_leaving_the_data_root_are_counted_or_refused(tmp_path):
    root = build_corpus(tmp_path / "c")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = sorted((root / "dev-mini").rglob("*.flac"))[0]
    moved = elsewhere / victim.name
    victim.rename(moved)
    victim.symlink_to(moved)                                            # a file linked out of the root
    inside = victim.with_name("zz-inside-link.flac")
    inside.symlink_to(sorted((root / "dev-mini").rglob("*.flac"))[1])   # a link inside the root: not counted
    index = corpus.build_index(str(root), CorpusConfig())
    facts = index["corpora"]["c"]
    assert facts["links_outside_root"] == 1 and facts["links_outside_root_examples"] == [str(victim)]
    assert str(victim) in {f["path"] for s in index["speakers"].values() for f in s["files"]}   # read
    with pytest.raises(AudioClfError, match=rf"{victim} leads out of the data root {root} through a symbolic link"):
        corpus.build_index(str(root), CorpusConfig(refuse_links_outside_root=True))
    dangling = victim.with_name("zz-dangling.flac")
    dangling.symlink_to(tmp_path / "gone.flac")
    with pytest.raises(AudioClfError, match=rf"{dangling}: file not found"):
        corpus.build_index(str(root), CorpusConfig())
