"""Layout detection and read_corpus over the real shared corpora and a few made-up roots."""
import os

import pytest

from components.speaker_index import readers
from components.common.errors import AudioClfError
from conftest import REPO

BUNDLED = REPO / "data"


def test_every_reader_is_registered():
    assert readers.formats() == ["librispeech", "vctk", "kaldi", "commonvoice", "csv"]


@pytest.mark.parametrize("corpus, fmt, speakers, files", [
    ("librispeech-mini", "librispeech", 158, 183),
    ("vctk-mini", "librispeech", 9, 45),          # SPEAKERS.TXT wins over speaker-info.txt
    ("speechocean762-adults", "kaldi", 128, 1280),
    ("commonvoice-mini", "commonvoice", 10, 68),
])
def test_real_corpora_are_detected_and_read(corpus, fmt, speakers, files):
    root = str(BUNDLED / corpus)
    assert readers.detect_format(root) == fmt
    listing = readers.read_corpus(root)
    assert listing.format == fmt
    assert len(listing.speakers) == speakers
    assert sum(len(s.files) for s in listing.speakers.values()) == files
    assert all(s.gender in ("F", "M") for s in listing.speakers.values())
    assert all(os.path.exists(f) for s in listing.speakers.values() for f in s.files)


def test_explicit_format_overrides_detection():
    with pytest.raises(AudioClfError, match="no VCTK audio folder found"):
        readers.read_corpus(str(BUNDLED / "vctk-mini"), "vctk")


@pytest.mark.parametrize("files, fmt", [
    ({"speaker-info.txt": "ID AGE GENDER\n"}, "vctk"),
    ({"data/wav.scp": ""}, "kaldi"),
    ({"wav.scp": ""}, "kaldi"),
    ({"validated.tsv": "", "clips/x.mp3": ""}, "commonvoice"),
    ({"manifest.csv": ""}, "csv"),
])
def test_marker_files_pick_the_format(tmp_path, files, fmt):
    for rel, content in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(content)
    assert readers.detect_format(str(tmp_path)) == fmt


def test_csv_file_root_is_detected(tmp_path):
    (tmp_path / "list.csv").write_text("path,speaker,gender\n")
    assert readers.detect_format(str(tmp_path / "list.csv")) == "csv"


def test_empty_folder_is_refused(tmp_path):
    with pytest.raises(AudioClfError, match="no known corpus layout found"):
        readers.read_corpus(str(tmp_path))


def test_missing_root_is_refused(tmp_path):
    with pytest.raises(AudioClfError, match="does not exist"):
        readers.detect_format(str(tmp_path / "absent"))


def test_unknown_format_name_is_refused(tmp_path):
    with pytest.raises(AudioClfError, match="corpus format 'timit' .* is unknown"):
        readers.read_corpus(str(tmp_path), "timit")
