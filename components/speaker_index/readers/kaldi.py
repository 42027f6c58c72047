"""Kaldi data directory: `wav.scp`, `utt2spk`, `spk2gender` and optionally `spk2age`.

The data dir is `<root>/data/` when it holds wav.scp, else `<root>` itself. Relative paths in wav.scp
are relative to `<root>` (the corpus root the user names), which is how corpora that ship `data/` beside
their audio write them. Only plain file paths are read: a piped command (`sox ... |`) or an archive
offset (`foo.ark:123`) would need Kaldi or a shell to produce the audio, and `segments` (utterances cut
out of longer recordings) would need the cutting, so all three are refused with what to do instead.
Tables are strict (no guessing a speaker's gender from anything but spk2gender).

`subsets` is ignored: a Kaldi data dir is one set (a note says so when some are given).
"""
import logging
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

from components.common import fs
from components.speaker_index.readers.base import (SCAN_EXTENSIONS, CorpusListing, SpeakerRecord, clip, numbered_lines,
                                                   parse_age, parse_gender, quote, read_metadata_text)
from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

FORMAT = "kaldi"
DATA_SUBDIR = "data"
WAV_SCP, UTT2SPK, SPK2GENDER, SPK2AGE, SEGMENTS = "wav.scp", "utt2spk", "spk2gender", "spk2age", "segments"
GENDERS = {"f": "F", "m": "M"}
ARK_OFFSET = re.compile(r"\.ark:\d+$")
MISSING_FILE = f"file named in {WAV_SCP} not found"

# A table: key -> (value, line number).
Table = Dict[str, Tuple[str, int]]


def data_dir(root: str) -> Optional[str]:
    for candidate in (fs.join(root, DATA_SUBDIR), root):
        if fs.exists(fs.join(candidate, WAV_SCP)):
            return candidate
    return None


def detect(root: str) -> bool:
    return data_dir(root) is not None


def parse_table(text: str, source: str, columns: str, rest_of_line: bool = False) -> Table:
    """`<key> <value>` lines. `rest_of_line` keeps everything after the key as the value (wav.scp),
    otherwise a line must have exactly two fields. Duplicate keys are refused."""
    table: Table = {}
    for lineno, raw in numbered_lines(text):
        line = raw.strip()
        if not line:
            continue
        fields = line.split(None, 1) if rest_of_line else line.split()
        if len(fields) != 2:
            raise AudioClfError(f"{source}:{lineno}: expected '{columns}' (two fields), got {quote(raw)}. "
                                f"Fix or remove the line.")
        key, value = fields[0], fields[1].strip()
        if key in table:
            raise AudioClfError(f"{source}:{lineno}: {clip(key)} is listed twice (first on line {table[key][1]}); "
                                f"keep one line.")
        table[key] = (value, lineno)
    return table


def check_plain_path(path: str, where: str) -> None:
    if path.endswith("|") or any(c.isspace() for c in path):
        raise AudioClfError(f"{where}: {quote(path)} is a piped command (or a path with spaces); only plain file "
                            f"paths are supported. Convert the audio to files first (e.g. run the command into "
                            f"FLAC/WAV files) and list those paths in {WAV_SCP}.")
    if ARK_OFFSET.search(path):
        raise AudioClfError(f"{where}: {quote(path)} points into a Kaldi archive; only plain file paths are "
                            f"supported. Extract the audio to files first and list those paths in {WAV_SCP}.")


def resolve(root: str, path: str) -> str:
    return path if fs.is_remote(path) or os.path.isabs(path) else fs.join(root, path)


def read_table(folder: str, name: str, columns: str, rest_of_line: bool = False) -> Tuple[str, Table]:
    path = fs.join(folder, name)
    text = read_metadata_text(path, f"a Kaldi data dir needs {WAV_SCP}, {UTT2SPK} and {SPK2GENDER} "
                                    f"({SPK2AGE} is optional); add the missing file.")
    return path, parse_table(text, path, columns, rest_of_line)


def read(root: str, subsets: Sequence[str] = (), extensions: Sequence[str] = SCAN_EXTENSIONS) -> CorpusListing:
    folder = data_dir(root)
    if folder is None:
        raise AudioClfError(f"{root}: no Kaldi {WAV_SCP} found here or in {DATA_SUBDIR}/; point the data root at "
                            f"the corpus folder that holds the data dir.")
    segments = fs.join(folder, SEGMENTS)
    if fs.exists(segments):
        raise AudioClfError(f"{segments}: Kaldi segments (utterances cut out of longer recordings) are not supported. "
                            f"Cut each segment into its own audio file, list those in {WAV_SCP}, and remove "
                            f"{SEGMENTS}.")
    scp_path, wavs = read_table(folder, WAV_SCP, "<utt-id> <path>", rest_of_line=True)
    utt_path, utt2spk = read_table(folder, UTT2SPK, "<utt-id> <spk-id>")
    gender_path, spk2gender = read_table(folder, SPK2GENDER, "<spk-id> m|f")
    age_path, spk2age = fs.join(folder, SPK2AGE), {}
    if fs.exists(age_path):
        age_path, spk2age = read_table(folder, SPK2AGE, "<spk-id> <years>")
    if not wavs:
        raise AudioClfError(f"{scp_path} lists no utterances; it needs '<utt-id> <path>' lines.")

    genders = {spk: parse_gender(code, f"{gender_path}:{line}", GENDERS) for spk, (code, line) in spk2gender.items()}
    ages = {spk: parse_age(years, f"{age_path}:{line}") for spk, (years, line) in spk2age.items()}
    listing = CorpusListing(FORMAT)
    if subsets:
        listing.notes.append(f"{root}: corpus.subsets ignored: a Kaldi data dir is a single set")
    files: Dict[str, List[str]] = {}
    referenced = set()
    missing: List[str] = []
    for utt, (path, line) in wavs.items():
        where = f"{scp_path}:{line}"
        check_plain_path(path, where)
        if utt not in utt2spk:
            raise AudioClfError(f"{where}: utterance {clip(utt)} has no line in {utt_path}; add '{clip(utt)} <spk-id>' there "
                                f"or remove it from {WAV_SCP}.")
        speaker, spk_line = utt2spk[utt]
        if speaker not in genders:
            raise AudioClfError(f"{utt_path}:{spk_line}: speaker {clip(speaker)} has no line in {gender_path}; add "
                                f"'{clip(speaker)} m' or '{clip(speaker)} f' there.")
        referenced.add(speaker)
        full = resolve(root, path)
        if not fs.exists(full):
            missing.append(full)
            listing.count_skip(MISSING_FILE)
            continue
        files.setdefault(speaker, []).append(full)
    if missing:
        log.warning("%s: %d file(s) named in %s not found, left out: %s", root, len(missing), scp_path,
                        ", ".join(missing[:10]))
    without_files = sorted(referenced - set(files))
    if without_files:
        log.warning("%s: %d speaker(s) have none of their files on disk and are left out: %s", root,
                        len(without_files), ", ".join(without_files[:20]))
        listing.count_skip("speaker without any existing file", len(without_files))
    for speaker in sorted(files):
        listing.speakers[speaker] = SpeakerRecord(speaker, genders[speaker], sorted(files[speaker]),
                                                  age=ages.get(speaker))
    extra = len(set(utt2spk) - set(wavs))
    if extra:
        listing.notes.append(f"{extra} utterance(s) in {utt_path} have no {WAV_SCP} line")
    return listing
