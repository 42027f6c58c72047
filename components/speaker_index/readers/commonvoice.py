"""Mozilla Common Voice release layout: `validated.tsv` (+ `other.tsv`) and `clips/<path>`.

Speaker = `client_id`. Gender is self-reported per clip, in two vocabularies (`male`/`female` in older
releases, `male_masculine`/`female_feminine` in newer ones). A row with an empty gender or any other
value (`other`, `intersex`, `non-binary`, `do_not_wish_to_say`, ...) is skipped and counted, never
guessed and never an error: it is the corpus's data, not a user's mistake. Likewise a clip named in a
tsv but absent from clips/ (releases are often copied in part) is skipped and counted. Age is a
decade bucket; a speaker's age is the bucket's lower bound (teens: 13) of its most frequent bucket.

Rows that disagree with themselves are not guessed at either: a row with more fields than the header
(a tab inside a field shifts the gender column) and every row of a client_id that reports both genders
are skipped and counted.

`subsets` is ignored: the tsv files read are always validated.tsv and other.tsv.
"""
import collections
import csv
import logging
from typing import Dict, List, Optional, Sequence, Tuple

from components.common import fs
from components.speaker_index.readers.base import (SCAN_EXTENSIONS, CorpusListing, SpeakerRecord, clip, numbered_lines,
                                                   quote, read_metadata_text)
from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

FORMAT = "commonvoice"
TSV_FILES = ("validated.tsv", "other.tsv")   # the first is required
CLIPS = "clips"
REQUIRED = ("client_id", "path", "gender")
GENDERS = {"male": "M", "female": "F", "male_masculine": "M", "female_feminine": "F"}
# Lower bound of each age bucket in years; Common Voice spells the 40s bucket "fourties".
AGES = {"teens": 13.0, "twenties": 20.0, "thirties": 30.0, "fourties": 40.0, "forties": 40.0, "fifties": 50.0,
        "sixties": 60.0, "seventies": 70.0, "eighties": 80.0, "nineties": 90.0}
MISSING_CLIP = "clip named in the tsv not found in clips/"


def detect(root: str) -> bool:
    return fs.exists(fs.join(root, TSV_FILES[0])) and fs.isdir(fs.join(root, CLIPS))


def split_row(line: str, where: str) -> List[str]:
    try:
        return next(csv.reader([line], delimiter="\t", quoting=csv.QUOTE_NONE))
    except csv.Error as err:
        raise AudioClfError(f"{where}: cannot read the row ({err}): {quote(line)}. Fix or remove the line.") from err


def read_tsv(path: str) -> List[Tuple[int, Dict[str, str]]]:
    """(line number, column -> value) per data row; an error for a bad header or a short row."""
    text = read_metadata_text(path, "a Common Voice release holds validated.tsv beside clips/; point the data "
                                    "root at the language folder (e.g. cv-corpus-17.0/en).").lstrip("\ufeff")
    header: Optional[List[str]] = None
    rows = []
    for lineno, line in numbered_lines(text):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        fields = split_row(line, where)
        if header is None:
            header = [h.strip().lower() for h in fields]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise AudioClfError(f"{where}: the header lacks column(s) {', '.join(missing)} (found: "
                                    f"{clip(', '.join(header))}). Common Voice tsv files start with a tab-separated header "
                                    f"naming {', '.join(REQUIRED)}; restore it.")
            continue
        if len(fields) < len(header):
            raise AudioClfError(f"{where}: {len(fields)} tab-separated field(s), the header has {len(header)}: "
                                f"{quote(line)}. Restore the missing tabs or remove the line.")
        rows.append((lineno, dict(zip(header, fields)) if len(fields) == len(header) else None))
    if header is None:
        raise AudioClfError(f"{path} is empty; it needs a header row naming {', '.join(REQUIRED)}.")
    return rows


def read(root: str, subsets: Sequence[str] = (), extensions: Sequence[str] = SCAN_EXTENSIONS) -> CorpusListing:
    listing = CorpusListing(FORMAT)
    if subsets:
        listing.notes.append(f"{root}: corpus.subsets ignored: Common Voice is read from {' and '.join(TSV_FILES)}")
    clips_dir = fs.join(root, CLIPS)
    if not fs.isdir(clips_dir):
        raise AudioClfError(f"{clips_dir} is not a folder; a Common Voice release keeps its audio in clips/ beside "
                            f"validated.tsv. Point the data root at that folder.")
    on_disk = set(fs.listdir(clips_dir))
    seen = set()
    genders: Dict[str, set] = collections.defaultdict(set)
    ages: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    files: Dict[str, List[str]] = collections.defaultdict(list)
    missing = []
    for index, name in enumerate(TSV_FILES):
        path = fs.join(root, name)
        if index and not fs.exists(path):
            continue
        for _, row in read_tsv(path):
            if row is None:
                listing.count_skip("row with more fields than the header")
                continue
            clip = row["path"].strip()
            if clip in seen:
                listing.count_skip("row repeating a clip already listed")
                continue
            seen.add(clip)
            gender_word = row["gender"].strip().lower()
            if not gender_word:
                listing.count_skip("row without gender")
                continue
            if gender_word not in GENDERS:
                listing.count_skip("row with another gender")
                continue
            if clip not in on_disk and ("/" not in clip or not fs.exists(fs.join(clips_dir, clip))):
                missing.append(clip)
                listing.count_skip(MISSING_CLIP)
                continue
            speaker = row["client_id"].strip()
            if not speaker:
                listing.count_skip("row without client_id")
                continue
            age_word = row.get("age", "").strip().lower()
            if age_word and age_word not in AGES:
                listing.count_skip("unknown age value")
            elif age_word:
                ages[speaker][AGES[age_word]] += 1
            genders[speaker].add(GENDERS[gender_word])
            files[speaker].append(fs.join(clips_dir, clip))
    if missing:
        log.warning("%s: %d clip(s) named in the tsv files are not in clips/ and are left out: %s", root,
                        len(missing), ", ".join(missing[:10]))
    for speaker in sorted(files):
        if len(genders[speaker]) > 1:
            listing.count_skip("row of a client_id that reports both genders", len(files[speaker]))
            listing.notes.append(f"client_id {speaker[:16]}… reports both genders; its clips are left out")
            continue
        age = ages[speaker].most_common(1)[0][0] if ages[speaker] else None
        listing.speakers[speaker] = SpeakerRecord(speaker, genders[speaker].pop(), sorted(files[speaker]), age=age)
    return listing
