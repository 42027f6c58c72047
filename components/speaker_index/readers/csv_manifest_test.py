"""CSV manifest reader: file or folder root, path resolution, and every mistake reported by line."""
import os
import shutil
from pathlib import Path

import pytest

from components.speaker_index.readers import csv_manifest
from components.common.errors import AudioClfError
from conftest import REPO

BUNDLED = REPO / "data" / "vctk-mini" / "dev-mini"
FLACS = sorted((BUNDLED / "p225" / "0").glob("*.flac"))[:2] + sorted((BUNDLED / "p226" / "0").glob("*.flac"))[:2]


def audio(folder: Path) -> list:
    """Copies 4 real flac files into folder/audio and returns their names."""
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    for src in FLACS:
        shutil.copyfile(src, folder / "audio" / src.name)
    return [src.name for src in FLACS]


def manifest(folder: Path, rows, header="path,speaker,gender,age", name="manifest.csv") -> Path:
    audio(folder)
    path = folder / name
    path.write_text("\n".join([header] + rows) + "\n")
    return path


def good_rows():
    a, b, c, d = (f"audio/{src.name}" for src in FLACS)
    return [f"{a},p225,F,23", f"{b},p225,female,", f"{c},p226,m,22", f"{d},p226,Male,22"]


def error(root):
    with pytest.raises(AudioClfError) as info:
        csv_manifest.read(str(root))
    return str(info.value)


def test_folder_with_manifest(tmp_path):
    manifest(tmp_path, good_rows())
    assert csv_manifest.detect(str(tmp_path))
    listing = csv_manifest.read(str(tmp_path))
    assert listing.format == "csv"
    assert sorted(listing.speakers) == ["p225", "p226"]
    p225, p226 = listing.speakers["p225"], listing.speakers["p226"]
    assert (p225.gender, p225.age, len(p225.files)) == ("F", 23.0, 2)
    assert (p226.gender, p226.age, len(p226.files)) == ("M", 22.0, 2)
    assert p225.files[0] == os.path.join(str(tmp_path), "audio", FLACS[0].name)
    assert all(os.path.exists(f) for s in listing.speakers.values() for f in s.files)


def test_csv_file_root_absolute_paths_extra_columns_and_header_case(tmp_path):
    folder = tmp_path / "elsewhere"
    names = audio(folder)
    path = tmp_path / "lists" / "my corpus.csv"
    path.parent.mkdir()
    path.write_text("\ufeffNote,Path,Speaker,Gender\n"                       # Excel's BOM and header case
                    f'"says ""hi"", twice",{folder}/audio/{names[0]},alice,f\n'
                    f"\n,{folder}/audio/{names[1]},bob,M\n")
    assert csv_manifest.detect(str(path))
    listing = csv_manifest.read(str(path))
    assert sorted(listing.speakers) == ["alice", "bob"]
    assert listing.speakers["alice"].age is None
    assert listing.speakers["bob"].files == [f"{folder}/audio/{names[1]}"]


def test_relative_paths_are_relative_to_the_manifest_folder(tmp_path):
    sub = tmp_path / "corpus"
    path = manifest(sub, good_rows(), name="list.csv")
    listing = csv_manifest.read(str(path))
    assert listing.speakers["p226"].files[0].startswith(str(sub / "audio"))


def test_detect(tmp_path):
    assert not csv_manifest.detect(str(tmp_path))
    assert not csv_manifest.detect(str(tmp_path / "absent.csv"))
    assert "no CSV manifest found" in error(tmp_path)


@pytest.mark.parametrize("index, new, expected", [
    (1, "audio/x.flac,p225,F,23", "manifest.csv:3: audio file {root}/audio/x.flac not found"),
    (2, "{c},p226,X,22", "manifest.csv:4: unknown gender code 'X'"),
    (2, "{c},p226,M,very old", "manifest.csv:4: age 'very old'"),
    (3, "{c},p226,M,22", "manifest.csv:5: audio/{c_name} is listed twice (first on line 4)"),
    (3, "{d},p226,F,22", "manifest.csv:5: speaker p226 has gender F here but M on line 4"),
    (3, "{d},p226", "manifest.csv:5: 2 field(s), the header has 4"),
    (3, "{d},p226,M,22,oops", "manifest.csv:5: 5 field(s), the header has 4"),
    (3, ",p226,M,22", "manifest.csv:5: empty path"),
])
def test_bad_rows_name_file_and_line(tmp_path, index, new, expected):
    rows = good_rows()
    c, d = rows[2].split(",")[0], rows[3].split(",")[0]
    rows[index] = new.format(c=c, d=d)
    manifest(tmp_path, rows)
    message = error(tmp_path)
    assert str(tmp_path / "manifest.csv") in message
    assert expected.format(root=tmp_path, c_name=c.split("/")[1]) in message


def test_two_genders_message_names_both_lines(tmp_path):
    rows = good_rows()
    rows[3] = rows[3].replace("Male", "f")
    manifest(tmp_path, rows)
    message = error(tmp_path)
    assert f"{tmp_path}/manifest.csv:5: " in message and f"{tmp_path}/manifest.csv:4" in message


def test_header_missing_columns(tmp_path):
    manifest(tmp_path, good_rows(), header="file,speaker,sex,age")
    message = error(tmp_path)
    assert f"{tmp_path}/manifest.csv:1: " in message and "path, gender" in message


@pytest.mark.parametrize("content", ["path,speaker,gender\n", "path,speaker,gender\n\n,,\n", ""])
def test_empty_manifest_is_refused(tmp_path, content):
    (tmp_path / "manifest.csv").write_text(content)
    assert "has no data rows" in error(tmp_path)


@pytest.mark.parametrize("bad", ['audio/x.flac,"p225,F,23', 'audio/x.flac,p2\r25,F,23'])
def test_unreadable_row_names_the_line(tmp_path, bad):
    manifest(tmp_path, good_rows()[:1] + [bad, good_rows()[2]])
    assert "manifest.csv:3: cannot read the row" in error(tmp_path)
