"""VCTK layout: `speaker-info.txt` + `<audio folder>/<speaker>/<files>`.

speaker-info.txt is whitespace-separated with a header line starting with `ID` (ID AGE GENDER ACCENTS
REGION [COMMENTS]). REGION and COMMENTS hold spaces, so only the first three columns are read. Two
releases are in use: the old one names speakers `225`, VCTK 0.92 names them `p225` (and `s5`); an
all-digit id becomes `p<id>` so both give the same speaker ids as the audio folders.

The audio folder is the first present of AUDIO_FOLDERS. VCTK 0.92's `wav48_silence_trimmed` has every
utterance twice (`_mic1`, `_mic2`); the second microphone would double each speaker's weight with
near-duplicates, so a `_mic2` file is dropped when its `_mic1` twin is there.

`subsets` is ignored: VCTK has no subset folders (a note says so when some are given).
"""
import logging
from typing import Dict, List, Optional, Sequence, Tuple

from components.common import fs
from components.speaker_index.readers.base import (SCAN_EXTENSIONS, CorpusListing, SpeakerRecord, clip, numbered_lines,
                                                   parse_age, parse_gender, quote, read_metadata_text)
from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

FORMAT = "vctk"
INFO_FILE = "speaker-info.txt"
AUDIO_FOLDERS = ("wav48_silence_trimmed", "wav48", "wav")
MIC1, MIC2 = "_mic1", "_mic2"


def detect(root: str) -> bool:
    return fs.exists(fs.join(root, INFO_FILE))


def normalize_id(speaker_id: str) -> str:
    """The old release's `225` is the 0.92 release's (and the audio folder's) `p225`."""
    return f"p{speaker_id}" if speaker_id.isdigit() else speaker_id


def parse_speaker_info(text: str, source: str = INFO_FILE) -> Dict[str, Tuple[str, Optional[float]]]:
    """speaker id -> (gender, age) from the text of speaker-info.txt."""
    speakers: Dict[str, Tuple[str, Optional[float]]] = {}
    first_line: Dict[str, int] = {}
    for lineno, raw in numbered_lines(text):
        fields = raw.split()
        if not fields or fields[0].upper() == "ID":
            continue
        where = f"{source}:{lineno}"
        if len(fields) < 3:
            raise AudioClfError(f"{where}: expected 'ID AGE GENDER [ACCENTS REGION ...]', got {quote(raw)}. "
                                f"Fix the line or remove it.")
        speaker_id = normalize_id(fields[0])
        if speaker_id in speakers:
            raise AudioClfError(f"{where}: speaker {clip(speaker_id)} is listed twice (first on line "
                                f"{first_line[speaker_id]}); keep one line.")
        gender = parse_gender(fields[2], where)
        speakers[speaker_id] = (gender, parse_age(fields[1], where))
        first_line[speaker_id] = lineno
    return speakers


def audio_folder(root: str) -> str:
    for name in AUDIO_FOLDERS:
        if fs.isdir(fs.join(root, name)):
            return name
    raise AudioClfError(f"{root}: no VCTK audio folder found (looked for {', '.join(f + '/' for f in AUDIO_FOLDERS)}). "
                        f"Point the data root at the folder that holds {INFO_FILE} and the audio folder.")


def select_files(names: Sequence[str], extensions: Sequence[str]) -> Tuple[List[str], int]:
    """(audio files to keep, number of `_mic2` copies dropped because their `_mic1` twin is present)."""
    suffixes = tuple(e.lower() for e in extensions)
    audio = [n for n in names if n.lower().endswith(suffixes)]
    stems = {n.rsplit(".", 1)[0].lower() for n in audio}
    kept, dropped = [], 0
    for name in audio:
        stem = name.rsplit(".", 1)[0].lower()
        if stem.endswith(MIC2) and stem[:-len(MIC2)] + MIC1 in stems:
            dropped += 1
        else:
            kept.append(name)
    return sorted(kept), dropped


def read(root: str, subsets: Sequence[str] = (), extensions: Sequence[str] = SCAN_EXTENSIONS) -> CorpusListing:
    path = fs.join(root, INFO_FILE)
    text = read_metadata_text(path, f"a VCTK data root holds {INFO_FILE} beside its audio folder "
                                    f"({' or '.join(AUDIO_FOLDERS)}). Point the data root at that folder.")
    listed = parse_speaker_info(text, path)
    if not listed:
        raise AudioClfError(f"{path} lists no speakers (only the header or blank lines).")
    folder = audio_folder(root)
    listing = CorpusListing(FORMAT)
    if subsets:
        listing.notes.append(f"{root}: corpus.subsets ignored: VCTK has no subset folders")
    without_metadata, found = [], set()
    for name in fs.listdir(fs.join(root, folder)):
        speaker_dir = fs.join(root, folder, name)
        if name.startswith(".") or not fs.isdir(speaker_dir):
            continue
        speaker_id = normalize_id(name)
        files, dropped = select_files(fs.listdir(speaker_dir), extensions)
        if dropped:
            listing.count_skip("second-microphone copy", dropped)
        if not files:
            continue
        if speaker_id not in listed:
            without_metadata.append(name)
            continue
        found.add(speaker_id)
        gender, age = listed[speaker_id]
        listing.speakers[speaker_id] = SpeakerRecord(speaker_id, gender, [fs.join(speaker_dir, f) for f in files],
                                                     age=age)
    if without_metadata:
        log.warning("%s: %d speaker folder(s) in %s/ have no line in %s and are left out: %s", root,
                        len(without_metadata), folder, INFO_FILE, ", ".join(without_metadata[:20]))
        listing.count_skip(f"speaker folder without a {INFO_FILE} line", len(without_metadata))
        listing.notes.append(f"speaker folders without a {INFO_FILE} line: {', '.join(map(clip, without_metadata[:20]))}")
    not_on_disk = sorted(set(listed) - found)
    if not_on_disk:
        listing.notes.append(f"{len(not_on_disk)} speaker(s) listed in {INFO_FILE} have no audio in {folder}/: "
                             f"{', '.join(map(clip, not_on_disk[:20]))}")
    return listing
