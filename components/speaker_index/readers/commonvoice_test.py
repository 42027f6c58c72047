"""Common Voice reader: the real sample, both gender vocabularies, what is skipped, and bad tsv files."""
import collections
import csv
import os
import shutil
from pathlib import Path

import pytest

from components.speaker_index.readers import commonvoice
from components.common.errors import AudioClfError
from conftest import REPO

CORPUS = REPO / "data" / "commonvoice-mini"
HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment"
CLIPS = sorted(p.name for p in (CORPUS / "clips").glob("*.mp3"))[:6]


def row(client, clip, gender="", age="", sentence="a sentence"):
    return f"{client}\t{clip}\t{sentence}\t2\t0\t{age}\t{gender}\t\t\tfa\t"


def build(root: Path, validated, other=None, clips=CLIPS) -> Path:
    """A Common Voice layout with real mp3 clips and the given tsv rows."""
    (root / "clips").mkdir(parents=True)
    for clip in clips:
        shutil.copyfile(CORPUS / "clips" / clip, root / "clips" / clip)
    (root / "validated.tsv").write_text("\n".join([HEADER] + validated) + "\n")
    if other is not None:
        (root / "other.tsv").write_text("\n".join([HEADER] + other) + "\n")
    return root


def error(root):
    with pytest.raises(AudioClfError) as info:
        commonvoice.read(str(root))
    return str(info.value)


def test_real_corpus_matches_its_readme():
    assert commonvoice.detect(str(CORPUS))
    listing = commonvoice.read(str(CORPUS))
    speakers = listing.speakers.values()
    assert listing.format == "commonvoice"
    assert len(speakers) == 10
    assert collections.Counter(s.gender for s in speakers) == {"F": 1, "M": 9}
    assert sum(len(s.files) for s in speakers) == 68
    assert listing.skipped == {"row without gender": 6}
    assert {s.age for s in speakers} == {20.0, 30.0}
    assert all(os.path.exists(f) for s in speakers for f in s.files)
    # Both vocabularies are in the sample and both are read.
    with open(CORPUS / "validated.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    by_word = collections.defaultdict(set)
    for r in rows:
        by_word[r["gender"]].add(r["client_id"])
    assert by_word["male"] and by_word["female"] and by_word["male_masculine"]
    assert all(listing.speakers[c].gender == "M" for c in by_word["male"] | by_word["male_masculine"])
    assert all(listing.speakers[c].gender == "F" for c in by_word["female"])


def test_small_release_skips_and_counts_without_guessing(tmp_path):
    c = CLIPS
    root = build(tmp_path / "cv", [
        row("alice", c[0], "female_feminine", "teens"),
        row("alice", c[1], "Female", "teens"),
        row("bob", c[2], "MALE_MASCULINE", "fourties"),
        row("carol", c[3], "other", "twenties"),
        row("dave", c[4], "", "thirties"),
        row("erin", "missing.mp3", "female", "thirties"),
        row("bob", c[5], "male", "centenarian"),
    ], other=[
        row("alice", c[0], "female_feminine", "teens"),        # the same clip again: once
        row("frank", c[4], "do_not_wish_to_say", ""),          # dave's clip again: already seen
    ])
    assert commonvoice.detect(str(root))
    listing = commonvoice.read(str(root))
    assert sorted(listing.speakers) == ["alice", "bob"]
    alice, bob = listing.speakers["alice"], listing.speakers["bob"]
    assert (alice.gender, alice.age, len(alice.files)) == ("F", 13.0, 2)
    assert (bob.gender, bob.age, len(bob.files)) == ("M", 40.0, 2)
    assert bob.files == sorted(bob.files)
    assert all(f.startswith(str(root / "clips")) and os.path.exists(f) for f in alice.files + bob.files)
    assert listing.skipped == {"row with another gender": 1, "row without gender": 1,
                               "clip named in the tsv not found in clips/": 1, "unknown age value": 1,
                               "row repeating a clip already listed": 2}


def test_other_tsv_adds_speakers_and_empty_age_is_none(tmp_path):
    root = build(tmp_path / "cv", [row("alice", CLIPS[0], "female", "twenties")],
                 other=[row("bob", CLIPS[1], "male", "")])
    listing = commonvoice.read(str(root))
    assert listing.speakers["alice"].age == 20.0
    assert listing.speakers["bob"].age is None


def test_client_with_both_genders_is_left_out(tmp_path):
    root = build(tmp_path / "cv", [row("alice", CLIPS[0], "female"), row("alice", CLIPS[1], "male"),
                                   row("bob", CLIPS[2], "male")])
    listing = commonvoice.read(str(root))
    assert sorted(listing.speakers) == ["bob"]
    assert listing.skipped == {"row of a client_id that reports both genders": 2}


def test_row_with_extra_tab_is_skipped_not_misread(tmp_path):
    root = build(tmp_path / "cv", [row("alice", CLIPS[0], "female"),
                                   row("bob", CLIPS[1], "male", sentence="tab\tinside")])
    listing = commonvoice.read(str(root))
    assert sorted(listing.speakers) == ["alice"]
    assert listing.skipped == {"row with more fields than the header": 1}


def test_header_missing_columns_is_named(tmp_path):
    root = build(tmp_path / "cv", [row("alice", CLIPS[0], "female")])
    text = (root / "validated.tsv").read_text().replace("client_id\t", "speaker\t").replace("\tgender\t", "\tsex\t")
    (root / "validated.tsv").write_text(text)
    message = error(root)
    assert f"{root}/validated.tsv:1: " in message
    assert "client_id, gender" in message


def test_short_row_names_file_and_line(tmp_path):
    root = build(tmp_path / "cv", [row("alice", CLIPS[0], "female")], other=["", "bob\tclip.mp3\tmale"])
    message = error(root)
    assert f"{root}/other.tsv:3: 3 tab-separated field(s), the header has 11" in message


def test_empty_tsv_and_detection(tmp_path):
    root = build(tmp_path / "cv", [])
    (root / "validated.tsv").write_text("")
    assert "is empty" in error(root)
    shutil.rmtree(root / "clips")
    assert not commonvoice.detect(str(root))
