"""LibriSpeech layout: `SPEAKERS.TXT` + `<subset>/<speaker>/<chapter>/<file>.flac` (or any scanned audio).

SPEAKERS.TXT is pipe-separated (`ID | SEX | SUBSET | MINUTES | NAME`); `;` starts a comment; spacing is
ragged; NAME is last and may itself contain `|`. Speakers kept: listed *and* with audio on disk.
"""
import logging
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from components.common import fs
from components.speaker_index.readers.base import (SCAN_EXTENSIONS, CorpusListing, SpeakerRecord, clip, numbered_lines,
                                                   quote, read_metadata_text)
from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

FORMAT = "librispeech"
SPEAKERS_FILE = "SPEAKERS.TXT"
GENDERS = {"F": "F", "M": "M"}


@dataclass(frozen=True)
class SpeakerInfo:
    speaker_id: str
    gender: str
    subset: str
    minutes: Optional[float]
    name: str


def detect(root: str) -> bool:
    return fs.exists(fs.join(root, SPEAKERS_FILE))


def parse_speakers_txt(text: str, source: str = SPEAKERS_FILE) -> Dict[str, SpeakerInfo]:
    speakers: Dict[str, SpeakerInfo] = {}
    for lineno, raw in numbered_lines(text):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        fields = [f.strip() for f in line.split("|", 4)]
        if len(fields) < 2 or not fields[0]:
            raise AudioClfError(f"{source}:{lineno}: expected 'ID | SEX | SUBSET | MINUTES | NAME', got {quote(raw)}. "
                                f"Fix the line or start it with ';' to mark it as a comment.")
        speaker_id, gender = fields[0], fields[1].upper()
        if gender not in GENDERS:
            raise AudioClfError(f"{source}:{lineno}: speaker {clip(speaker_id)} has gender code {quote(fields[1])}; only "
                                f"'F' or 'M' are known. Correct the code or remove the speaker's line.")
        if speaker_id in speakers:
            raise AudioClfError(f"{source}:{lineno}: speaker {clip(speaker_id)} is listed twice; keep one line.")
        minutes = None
        if len(fields) > 3 and fields[3]:
            try:
                minutes = float(fields[3])
            except ValueError:
                minutes = None
        speakers[speaker_id] = SpeakerInfo(speaker_id, gender, fields[2] if len(fields) > 2 else "",
                                           minutes, fields[4] if len(fields) > 4 else "")
    return speakers


def read_speakers_file(data_root: str) -> Dict[str, SpeakerInfo]:
    path = fs.join(data_root, SPEAKERS_FILE)
    text = read_metadata_text(path, "a LibriSpeech-layout data root holds SPEAKERS.TXT beside its subset folders. "
                                    "Point --data-root at that folder (e.g. <dest>/LibriSpeech).")
    speakers = parse_speakers_txt(text, path)
    if not speakers:
        raise AudioClfError(f"{path} lists no speakers (only comments or blank lines).")
    return speakers


def scan_audio_files(data_root: str, subsets: Sequence[str], extensions: Sequence[str]) -> Dict[str, List[str]]:
    """Maps speaker id -> sorted file paths relative to data_root, for every subset folder read."""
    if not fs.isdir(data_root):
        raise AudioClfError(f"data root {data_root} does not exist or is not a folder; pass the folder that holds "
                            f"SPEAKERS.TXT (download one with `audioclf download`).")
    available = [d for d in fs.listdir(data_root) if fs.isdir(fs.join(data_root, d)) and not d.startswith(".")]
    if isinstance(subsets, str):  # one subset named as a string, not its characters
        subsets = [subsets]
    chosen = list(subsets) or available
    missing = [s for s in chosen if s not in available]
    if missing:
        raise AudioClfError(f"subset folder(s) {', '.join(missing)} not found under {data_root}; "
                            f"found: {', '.join(available) or 'none'}. Fix corpus.subsets.")
    extensions = tuple(e.lower() for e in extensions)
    files: Dict[str, List[str]] = {}
    for subset in chosen:
        for speaker in fs.listdir(fs.join(data_root, subset)):
            speaker_dir = fs.join(data_root, subset, speaker)
            if not fs.isdir(speaker_dir):
                continue
            for chapter in fs.listdir(speaker_dir):
                chapter_dir = fs.join(speaker_dir, chapter)
                if not fs.isdir(chapter_dir):
                    continue
                for name in fs.listdir(chapter_dir):
                    if name.lower().endswith(extensions):
                        files.setdefault(speaker, []).append(f"{subset}/{speaker}/{chapter}/{name}")
    return {spk: sorted(paths) for spk, paths in files.items()}


def read(root: str, subsets: Sequence[str] = (), extensions: Sequence[str] = SCAN_EXTENSIONS) -> CorpusListing:
    listed = read_speakers_file(root)
    on_disk = scan_audio_files(root, subsets, extensions)
    listing = CorpusListing(FORMAT)
    without_metadata = sorted(set(on_disk) - set(listed))
    if without_metadata:
        log.warning("%s: %d speaker folder(s) have no line in SPEAKERS.TXT and are left out: %s", root,
                        len(without_metadata), ", ".join(without_metadata[:20]))
        listing.count_skip("speaker folder without a SPEAKERS.TXT line", len(without_metadata))
        listing.notes.append(f"speaker folders without a SPEAKERS.TXT line: {', '.join(map(clip, without_metadata[:20]))}")
    not_on_disk = len(set(listed) - set(on_disk))
    if not_on_disk:
        listing.notes.append(f"{not_on_disk} speaker(s) listed in SPEAKERS.TXT have no audio here")
    for speaker_id in sorted(set(on_disk) & set(listed)):
        info = listed[speaker_id]
        listing.speakers[speaker_id] = SpeakerRecord(speaker_id, info.gender,
                                                     [fs.join(root, rel) for rel in on_disk[speaker_id]],
                                                     name=info.name)
    return listing
