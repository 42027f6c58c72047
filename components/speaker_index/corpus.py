"""Reading a LibriSpeech-layout corpus and splitting its speakers.

Layout: `<data_root>/SPEAKERS.TXT` and `<data_root>/<subset>/<speaker>/<chapter>/<file>.flac` (or .wav).
Speakers, not files, are split so that no voice is heard in two splits.
"""
import logging
import random
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from components.common import audio, fs
from pipeline.config import GENDERS, SPLITS, CorpusConfig
from pipeline.errors import AudioClfError

SPEAKERS_FILE = "SPEAKERS.TXT"
INDEX_VERSION = 1


@dataclass(frozen=True)
class SpeakerInfo:
    speaker_id: str
    gender: str
    subset: str
    minutes: Optional[float]
    name: str


def parse_speakers_txt(text: str, source: str = SPEAKERS_FILE) -> Dict[str, SpeakerInfo]:
    """Parses LibriSpeech's pipe-separated SPEAKERS.TXT.

    `;` starts a comment line; spacing around fields is ragged; the NAME field is last and may itself
    contain `|` (e.g. "|CBW|Simon"), so a line is split into at most five fields.
    """
    speakers: Dict[str, SpeakerInfo] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        fields = [f.strip() for f in line.split("|", 4)]
        if len(fields) < 2 or not fields[0]:
            raise AudioClfError(f"{source}:{lineno}: expected 'ID | SEX | SUBSET | MINUTES | NAME', got {raw!r}. "
                                f"Fix the line or start it with ';' to mark it as a comment.")
        speaker_id, gender = fields[0], fields[1].upper()
        if gender not in GENDERS:
            raise AudioClfError(f"{source}:{lineno}: speaker {speaker_id} has gender code {fields[1]!r}; only "
                                f"'F' or 'M' are known. Correct the code or remove the speaker's line.")
        if speaker_id in speakers:
            raise AudioClfError(f"{source}:{lineno}: speaker {speaker_id} is listed twice; keep one line.")
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
    try:
        text = fs.read_text(path)
    except FileNotFoundError as err:
        raise AudioClfError(f"{path} not found: a LibriSpeech-layout data root holds SPEAKERS.TXT beside its subset "
                            f"folders. Point --data-root at that folder (e.g. <dest>/LibriSpeech).") from err
    except (OSError, UnicodeDecodeError) as err:
        raise AudioClfError(f"{path} cannot be read ({err}); check its permissions and that it is a text file.") from err
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


def split_speakers(ids_by_gender: Dict[str, List[str]], fractions: Dict[str, float], seed: int) -> Dict[str, str]:
    """Assigns each speaker a split, per gender: sorted, shuffled with the seed, cut by the fractions.

    Deterministic for the same speakers, fractions and seed. Each split gets at least one speaker of
    each gender, or the corpus is refused with what is missing.
    """
    assignment: Dict[str, str] = {}
    for gender in GENDERS:
        ids = sorted(ids_by_gender.get(gender, []), key=lambda s: (len(s), s))
        needed = len(SPLITS)
        if len(ids) < needed:
            raise AudioClfError(
                f"only {len(ids)} {'female' if gender == 'F' else 'male'} speaker(s) with audio "
                f"({', '.join(ids) or 'none'}); need at least {needed}, one per split ({', '.join(SPLITS)}). "
                f"Add speakers of that gender to the corpus or include more subsets.")
        random.Random(f"{seed}:{gender}").shuffle(ids)
        counts = {s: max(1, round(len(ids) * fractions[s])) for s in SPLITS if s != "train"}
        counts["train"] = len(ids) - sum(counts.values())
        if counts["train"] < 1:
            raise AudioClfError(f"{len(ids)} {gender} speakers leave none for train with split fractions {fractions}; "
                                f"raise corpus.split_fractions.train or add speakers.")
        start = 0
        for split in SPLITS:
            for speaker in ids[start:start + counts[split]]:
                assignment[speaker] = split
            start += counts[split]
    return assignment


def build_index(data_root: str, config: CorpusConfig) -> dict:
    """The speaker index as a JSON-able dict (its fields are described in component.py)."""
    data_root = str(data_root).rstrip("/")
    listed = read_speakers_file(data_root)
    on_disk = scan_audio_files(data_root, config.subsets, config.audio_extensions)
    if not on_disk:
        raise AudioClfError(f"no audio files ({', '.join(config.audio_extensions)}) found under "
                            f"{data_root}/<subset>/<speaker>/<chapter>/; check --data-root and corpus.subsets.")
    without_metadata = sorted(set(on_disk) - set(listed))
    if without_metadata:
        logging.warning("%d speaker folder(s) have no line in SPEAKERS.TXT and are left out: %s",
                        len(without_metadata), ", ".join(without_metadata[:20]))
    not_on_disk = sorted(set(listed) - set(on_disk))

    speakers: Dict[str, dict] = {}
    skipped: List[dict] = []
    for speaker_id in sorted(set(on_disk) & set(listed)):
        entries = []
        for rel in on_disk[speaker_id]:
            path = fs.join(data_root, rel)
            try:
                frames, rate = audio.audio_info(path)
            except AudioClfError as err:
                if not config.skip_corrupt:
                    raise
                logging.warning("skipping %s", err)
                skipped.append({"path": rel, "reason": str(err)})
                continue
            entries.append({"path": rel, "seconds": round(frames / rate, 4), "sample_rate": rate})
        if entries:
            info = listed[speaker_id]
            speakers[speaker_id] = {"gender": info.gender, "name": info.name, "listed_subset": info.subset,
                                    "files": entries, "seconds": round(sum(e["seconds"] for e in entries), 3)}

    ids_by_gender: Dict[str, List[str]] = {g: [] for g in GENDERS}
    for speaker_id, entry in speakers.items():
        ids_by_gender[entry["gender"]].append(speaker_id)
    assignment = split_speakers(ids_by_gender, config.split_fractions, config.seed)
    for speaker_id, split in assignment.items():
        speakers[speaker_id]["split"] = split

    splits = {split: {g: sorted((s for s in assignment if assignment[s] == split and speakers[s]["gender"] == g),
                                key=lambda s: (len(s), s)) for g in GENDERS} for split in SPLITS}
    index = {"version": INDEX_VERSION, "data_root": data_root, "seed": config.seed,
             "split_fractions": config.split_fractions, "speakers": speakers, "splits": splits,
             "skipped_files": skipped, "listed_not_on_disk": not_on_disk,
             "on_disk_without_metadata": without_metadata}
    check_index(index)
    return index


def check_index(index: dict) -> None:
    """No speaker in two splits, and both genders in every split; raises with what is missing."""
    seen: Dict[str, str] = {}
    for split, by_gender in index["splits"].items():
        for gender, ids in by_gender.items():
            if not ids:
                raise AudioClfError(f"split '{split}' has no {gender} speaker; add speakers or change split fractions.")
            for speaker_id in ids:
                if speaker_id in seen:
                    raise AudioClfError(f"speaker {speaker_id} is in both '{seen[speaker_id]}' and '{split}'.")
                seen[speaker_id] = split
