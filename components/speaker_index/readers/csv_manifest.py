"""A user's own CSV manifest: one row per audio file with `path`, `speaker`, `gender` (and optional `age`).

The root is the .csv file itself or a folder holding `manifest.csv`. Relative paths are relative to the
manifest's folder, so a corpus folder can be moved or copied to a bucket as a whole. Unlike a published
corpus, everything in a manifest was written by the user, so every problem is an error naming the line
(a missing file, a repeated path, a speaker given two genders), not something silently skipped.
Columns other than those four are ignored; header names are matched in any case.

`subsets` is ignored (a note says so when some are given).
"""
import csv
import os
from typing import Dict, List, Optional, Sequence, Tuple

from components.common import fs
from components.speaker_index.readers.base import (SCAN_EXTENSIONS, CorpusListing, SpeakerRecord, clip,
                                                   parse_age, parse_gender, quote, read_metadata_text)
from components.common.errors import AudioClfError

FORMAT = "csv"
MANIFEST = "manifest.csv"
REQUIRED = ("path", "speaker", "gender")
EXPECTED = "path,speaker,gender[,age]"


def is_csv_file(root: str) -> bool:
    return str(root).lower().endswith(".csv") and fs.exists(root) and not fs.isdir(root)


def detect(root: str) -> bool:
    return is_csv_file(root) or fs.exists(fs.join(root, MANIFEST))


def manifest_path(root: str) -> str:
    if is_csv_file(root):
        return root
    path = fs.join(root, MANIFEST)
    if not fs.exists(path):
        raise AudioClfError(f"{root}: no CSV manifest found (expected a .csv file or a folder holding {MANIFEST}). "
                            f"Write one with a header row '{EXPECTED}' and one row per audio file.")
    return path


def csv_rows(text: str, source: str):
    """(first line number, fields) per non-blank record; lines split on '\\n' only (like numbered_lines)."""
    pieces = text.split("\n")
    if pieces and pieces[-1] == "":
        pieces.pop()
    reader = csv.reader((piece + "\n" for piece in pieces), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise AudioClfError(f"{source}:{start}: cannot read the row ({err}); check its quotes.") from err
        lineno, start = start, reader.line_num + 1
        if any(f.strip() for f in fields):
            yield lineno, fields


def resolve(folder: str, path: str) -> str:
    return path if fs.is_remote(path) or os.path.isabs(path) else fs.join(folder, path)


def read(root: str, subsets: Sequence[str] = (), extensions: Sequence[str] = SCAN_EXTENSIONS) -> CorpusListing:
    path = manifest_path(root)
    folder = os.path.dirname(path)
    text = read_metadata_text(path, f"a CSV manifest with a header row '{EXPECTED}'.").lstrip("\ufeff")
    listing = CorpusListing(FORMAT)
    if subsets:
        listing.notes.append(f"{path}: corpus.subsets ignored for a CSV manifest")
    header: Optional[List[str]] = None
    columns: Dict[str, int] = {}
    path_lines: Dict[str, int] = {}
    speaker_gender: Dict[str, Tuple[str, int]] = {}
    ages: Dict[str, float] = {}
    files: Dict[str, List[str]] = {}
    for lineno, fields in csv_rows(text, path):
        where = f"{path}:{lineno}"
        if header is None:
            header = [h.strip().lower() for h in fields]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise AudioClfError(f"{where}: the header row lacks column(s) {', '.join(missing)} (found: "
                                    f"{clip(', '.join(header))}). The first row must name the columns: '{EXPECTED}'.")
            columns = {name: header.index(name) for name in REQUIRED + ("age",) if name in header}
            continue
        if len(fields) < len(header) or any(f.strip() for f in fields[len(header):]):
            raise AudioClfError(f"{where}: {len(fields)} field(s), the header has {len(header)}: "
                                f"{quote(','.join(fields))}. Quote values that contain commas, and give every column.")
        rel, speaker = fields[columns["path"]].strip(), fields[columns["speaker"]].strip()
        if not rel or not speaker:
            raise AudioClfError(f"{where}: empty {'path' if not rel else 'speaker'}; every row needs a path, a speaker "
                                f"and a gender.")
        gender = parse_gender(fields[columns["gender"]], where)
        age = parse_age(fields[columns["age"]], where) if "age" in columns else None
        full = resolve(folder, rel)
        if full in path_lines:
            raise AudioClfError(f"{where}: {clip(rel)} is listed twice (first on line {path_lines[full]}); keep one row.")
        path_lines[full] = lineno
        if speaker in speaker_gender and speaker_gender[speaker][0] != gender:
            first_gender, first_line = speaker_gender[speaker]
            raise AudioClfError(f"{where}: speaker {clip(speaker)} has gender {gender} here but {first_gender} on line "
                                f"{first_line} ({path}:{first_line}); correct one of the two.")
        speaker_gender.setdefault(speaker, (gender, lineno))
        if not fs.exists(full):
            raise AudioClfError(f"{where}: audio file {clip(full)} not found. Paths are absolute or relative to the "
                                f"manifest's folder {folder or '.'}; correct the path or remove the row.")
        if age is not None:
            ages.setdefault(speaker, age)
        files.setdefault(speaker, []).append(full)
    if not files:
        raise AudioClfError(f"{path} has no data rows; add one row per audio file under the header '{EXPECTED}'.")
    for speaker in sorted(files):
        listing.speakers[speaker] = SpeakerRecord(speaker, speaker_gender[speaker][0], sorted(files[speaker]),
                                                  age=ages.get(speaker))
    return listing
