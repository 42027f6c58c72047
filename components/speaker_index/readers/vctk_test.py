"""VCTK reader: both speaker-info.txt releases, the audio folder choice, mic1/mic2 twins, bad metadata."""
import os
import shutil
from pathlib import Path

import pytest

from components.speaker_index.readers import vctk
from components.common.errors import AudioClfError
from conftest import REPO

BUNDLED = REPO / "data" / "vctk-mini" / "dev-mini"
NEW_INFO = """\
ID  AGE  GENDER  ACCENTS  REGION COMMENTS
p225  23  F    English    Southern  England
p226  22  M    English    Surrey  (mic2 files unavailable)
s5  22  F    British    Scotland
"""
OLD_INFO = "ID  AGE  GENDER  ACCENTS  REGION  \n" + """\
225  23  F    English    Southern  England
226  22  M    English    Surrey
"""


def real_flacs(speaker, n):
    return sorted((BUNDLED / speaker / "0").glob("*.flac"))[:n]


def build(root: Path, info: str = NEW_INFO, folder: str = "wav48", counts=(("p225", 3), ("p226", 2)),
          mics: bool = False) -> Path:
    """VCTK layout from real flac files: <folder>/<speaker>/<speaker>_00N[_micK].flac."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "speaker-info.txt").write_text(info)
    for speaker, n in counts:
        for i, src in enumerate(real_flacs(speaker, n), start=1):
            dest = root / folder / speaker
            dest.mkdir(parents=True, exist_ok=True)
            for suffix in (("_mic1", "_mic2") if mics else ("",)):
                shutil.copyfile(src, dest / f"{speaker}_{i:03d}{suffix}.flac")
    return root


def error(root):
    with pytest.raises(AudioClfError) as info:
        vctk.read(str(root))
    return str(info.value)


@pytest.mark.parametrize("info", [NEW_INFO, OLD_INFO], ids=["new-format", "old-format"])
def test_reads_speakers_genders_ages_and_files(tmp_path, info):
    root = build(tmp_path / "vctk", info)
    assert vctk.detect(str(root))
    listing = vctk.read(str(root))
    assert listing.format == "vctk"
    assert sorted(listing.speakers) == ["p225", "p226"]
    p225, p226 = listing.speakers["p225"], listing.speakers["p226"]
    assert (p225.gender, p225.age, len(p225.files)) == ("F", 23.0, 3)
    assert (p226.gender, p226.age, len(p226.files)) == ("M", 22.0, 2)
    assert p225.files == sorted(p225.files)
    assert p225.files[0] == os.path.join(str(root), "wav48", "p225", "p225_001.flac")
    assert all(os.path.exists(f) for s in listing.speakers.values() for f in s.files)
    assert listing.skipped == {}


def test_listed_speaker_without_folder_is_a_note(tmp_path):
    listing = vctk.read(str(build(tmp_path / "vctk")))
    assert any("s5" in note and "no audio" in note for note in listing.notes)


def test_silence_trimmed_keeps_mic1_only(tmp_path):
    root = build(tmp_path / "vctk", folder="wav48_silence_trimmed", mics=True)
    lone = root / "wav48_silence_trimmed" / "p226" / "p226_009_mic2.flac"   # no mic1 twin: kept
    shutil.copyfile(real_flacs("p226", 1)[0], lone)
    listing = vctk.read(str(root))
    files = listing.speakers["p225"].files
    assert [os.path.basename(f) for f in files] == ["p225_001_mic1.flac", "p225_002_mic1.flac", "p225_003_mic1.flac"]
    assert str(lone) in listing.speakers["p226"].files
    assert listing.skipped == {"second-microphone copy": 5}


def test_first_audio_folder_present_wins(tmp_path):
    root = build(tmp_path / "vctk", folder="wav48_silence_trimmed", counts=(("p225", 1),))
    build(root, folder="wav48", counts=(("p225", 2), ("p226", 1)))
    listing = vctk.read(str(root))
    assert sorted(listing.speakers) == ["p225"]
    assert "wav48_silence_trimmed" in listing.speakers["p225"].files[0]


def test_wav_folder_any_case_extension_and_extension_filter(tmp_path):
    root = build(tmp_path / "vctk", folder="wav", counts=(("p225", 1),))
    shutil.copyfile(real_flacs("p225", 2)[1], root / "wav" / "p225" / "p225_002.FLAC")
    (root / "wav" / "p225" / "log.txt").write_text("not audio")
    assert len(vctk.read(str(root)).speakers["p225"].files) == 2
    assert vctk.read(str(root), extensions=(".wav",)).speakers == {}


def test_speaker_folder_without_info_line_is_left_out_and_counted(tmp_path):
    root = build(tmp_path / "vctk", info="ID AGE GENDER ACCENTS REGION\np225 23 F English Southern England\n")
    listing = vctk.read(str(root))
    assert sorted(listing.speakers) == ["p225"]
    assert listing.skipped == {"speaker folder without a speaker-info.txt line": 1}
    assert any("p226" in note for note in listing.notes)


def test_subsets_are_ignored_with_a_note(tmp_path):
    listing = vctk.read(str(build(tmp_path / "vctk")), subsets=["train-clean-100"])
    assert sorted(listing.speakers) == ["p225", "p226"]
    assert any("subsets" in note and "ignored" in note for note in listing.notes)


def test_no_audio_folder_names_root_and_folders(tmp_path):
    root = tmp_path / "vctk"
    root.mkdir()
    (root / "speaker-info.txt").write_text(NEW_INFO)
    message = error(root)
    assert str(root) in message
    assert all(name in message for name in ("wav48_silence_trimmed/", "wav48/", "wav/"))


@pytest.mark.parametrize("bad_line, expected", [
    ("p227  38  X    English    Cumbria", "unknown gender code 'X'"),
    ("p227  38", "expected 'ID AGE GENDER"),
    ("p227  old  M    English    Cumbria", "age 'old'"),
    ("225  23  F    English    Southern  England", "p225 is listed twice (first on line 2)"),
])
def test_bad_info_line_names_file_and_line(tmp_path, bad_line, expected):
    root = build(tmp_path / "vctk", info=NEW_INFO + bad_line + "\n")
    message = error(root)
    assert "speaker-info.txt:5: " in message
    assert expected in message


def test_missing_or_empty_info_file(tmp_path):
    root = build(tmp_path / "vctk", info="ID AGE GENDER ACCENTS REGION\n")
    assert "lists no speakers" in error(root)
    (root / "speaker-info.txt").unlink()
    assert not vctk.detect(str(root))
    assert "speaker-info.txt not found" in error(root)
