"""Kaldi data-dir reader: the real speechocean762 sample, data-dir placement, paths, and every bad table."""
import collections
import os
import shutil
from pathlib import Path

import pytest

from components.speaker_index.readers import kaldi
from components.common.errors import AudioClfError
from conftest import REPO

CORPUS = REPO / "data" / "speechocean762-adults"
SPEAKERS = {"0024": "f", "0036": "f"}


def build(root: Path, in_data: bool = True, per_speaker: int = 2, age: bool = True) -> Path:
    """A small Kaldi corpus from real flac files: WAVE/SPEAKER<id>/<utt>.flac + the tables."""
    lines = collections.defaultdict(list)
    for speaker, gender in SPEAKERS.items():
        for src in sorted((CORPUS / "WAVE" / f"SPEAKER{speaker}").glob("*.flac"))[:per_speaker]:
            rel = f"WAVE/SPEAKER{speaker}/{src.name}"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, root / rel)
            lines["wav.scp"].append(f"{src.stem} {rel}")
            lines["utt2spk"].append(f"{src.stem} {speaker}")
        lines["spk2gender"].append(f"{speaker} {gender}")
        lines["spk2age"].append(f"{speaker} 2{len(lines['spk2age'])}")
    data = root / "data" if in_data else root
    data.mkdir(parents=True, exist_ok=True)
    for name, content in lines.items():
        if name != "spk2age" or age:
            (data / name).write_text("\n".join(content) + "\n")
    return root


def error(root):
    with pytest.raises(AudioClfError) as info:
        kaldi.read(str(root))
    return str(info.value)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_real_corpus_matches_its_readme():
    assert kaldi.detect(str(CORPUS))
    listing = kaldi.read(str(CORPUS))
    assert listing.format == "kaldi"
    speakers = listing.speakers.values()
    assert len(speakers) == 128
    assert collections.Counter(s.gender for s in speakers) == {"F": 72, "M": 56}
    assert sum(len(s.files) for s in speakers) == 1280
    assert all(s.age is not None and s.age >= 19 for s in speakers)
    assert all(os.path.exists(f) for s in speakers for f in s.files)
    assert listing.skipped == {}


@pytest.mark.parametrize("in_data", [True, False], ids=["data-subdir", "root-itself"])
def test_small_corpus_paths_relative_to_root(tmp_path, in_data):
    root = build(tmp_path / "c", in_data=in_data)
    assert kaldi.detect(str(root))
    listing = kaldi.read(str(root))
    assert sorted(listing.speakers) == ["0024", "0036"]
    s = listing.speakers["0024"]
    assert (s.gender, s.age, len(s.files)) == ("F", 20.0, 2)
    assert listing.speakers["0036"].age == 21.0
    assert all(f.startswith(str(root) + os.sep + "WAVE") and os.path.exists(f) for f in s.files)


def test_absolute_paths_gender_any_case_and_no_spk2age(tmp_path):
    root = build(tmp_path / "c", age=False)
    scp = root / "data" / "wav.scp"
    scp.write_text(scp.read_text().replace(" WAVE/", f" {root}/WAVE/"))
    edit(root / "data" / "spk2gender", "0036 f", "0036 M")
    listing = kaldi.read(str(root))
    assert listing.speakers["0036"].gender == "M"
    assert all(s.age is None for s in listing.speakers.values())
    assert all(os.path.exists(f) for s in listing.speakers.values() for f in s.files)


def test_missing_audio_is_counted_and_empty_speaker_dropped(tmp_path):
    root = build(tmp_path / "c")
    for f in (root / "WAVE" / "SPEAKER0036").iterdir():
        f.unlink()
    first = sorted((root / "WAVE" / "SPEAKER0024").iterdir())[0]
    first.unlink()
    listing = kaldi.read(str(root))
    assert sorted(listing.speakers) == ["0024"]
    assert len(listing.speakers["0024"].files) == 1
    assert listing.skipped == {"file named in wav.scp not found": 3, "speaker without any existing file": 1}


@pytest.mark.parametrize("entry, expected", [
    ("sox WAVE/x.wav -t wav - |", "piped command"),
    ("WAVE/x.flac|", "piped command"),
    ("feats/raw.ark:1234", "Kaldi archive"),
])
def test_non_file_entries_are_refused(tmp_path, entry, expected):
    root = build(tmp_path / "c")
    with open(root / "data" / "wav.scp", "a") as f:
        f.write(f"000249999 {entry}\n")
    with open(root / "data" / "utt2spk", "a") as f:
        f.write("000249999 0024\n")
    message = error(root)
    assert f"{root}/data/wav.scp:5: " in message
    assert expected in message and "only plain file paths are supported" in message


def test_segments_are_refused(tmp_path):
    root = build(tmp_path / "c")
    (root / "data" / "segments").write_text("utt1 rec1 0.0 1.5\n")
    message = error(root)
    assert "segments" in message and "not supported" in message


@pytest.mark.parametrize("table, old, new, expected", [
    ("utt2spk", "0024\n", "0024 extra\n", "utt2spk:1: expected '<utt-id> <spk-id>'"),
    ("wav.scp", " WAVE/SPEAKER0024/000240010.flac\n", "\n", "wav.scp:1: expected '<utt-id> <path>'"),
    ("spk2gender", "0036 f", "0024 f", "spk2gender:2: 0024 is listed twice (first on line 1)"),
    ("wav.scp", "000240060 ", "000240010 ", "wav.scp:2: 000240010 is listed twice"),
    ("utt2spk", "000240060 0024\n", "", "wav.scp:2: utterance 000240060 has no line in"),
    ("spk2gender", "0036 f\n", "", "utt2spk:3: speaker 0036 has no line in"),
    ("spk2gender", "0036 f", "0036 x", "spk2gender:2: unknown gender code 'x'"),
    ("spk2age", "0036 21", "0036 twenty", "spk2age:2: age 'twenty'"),
])
def test_bad_tables_name_file_and_line(tmp_path, table, old, new, expected):
    root = build(tmp_path / "c")
    edit(root / "data" / table, old, new)
    assert expected in error(root)


@pytest.mark.parametrize("name", ["utt2spk", "spk2gender"])
def test_missing_required_table_is_named(tmp_path, name):
    root = build(tmp_path / "c")
    (root / "data" / name).unlink()
    message = error(root)
    assert f"{root}/data/{name} not found" in message


def test_not_a_kaldi_dir(tmp_path):
    assert not kaldi.detect(str(tmp_path))
    assert "no Kaldi wav.scp" in error(tmp_path)
