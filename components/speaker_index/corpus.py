"""The speaker index: every source corpus read, combined, and its speakers split.

Each source (a root folder or manifest, with a format that is detected or named) is read by its reader
(components/speaker_index/readers/). Speaker ids get their corpus name in front (`librispeech-mini/103`)
so two corpora cannot collide. Speakers, not files, are split, per corpus and per gender, so every corpus
large enough appears in train, eval and test; a corpus too small to split goes whole to train and the
index says so. Speakers younger than `corpus.min_age` (where the metadata gives an age) are left out
and counted.
"""
import json
import logging
import os
import random
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Union

from components.common import audio, fs
from components.speaker_index import readers
from components.common.vocabulary import GENDERS, SPLITS
from components.speaker_index.config import CorpusConfig
from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

INDEX_VERSION = 2
GENDER_WORD = {"F": "female", "M": "male"}
TRAIN_ONLY = "train only"
SPLIT_PER_GENDER = "split per gender"


@dataclass(frozen=True)
class Source:
    root: str
    format: str = readers.AUTO
    name: str = ""

    def corpus_name(self) -> str:
        if self.name:
            return self.name
        base = os.path.basename(str(self.root).rstrip("/")) or "corpus"
        return base[:-4] if base.lower().endswith(".csv") else base


SourceLike = Union[str, dict, Source]


def to_source(value: SourceLike) -> Source:
    if isinstance(value, Source):
        return value
    if isinstance(value, str):
        return Source(value)
    if isinstance(value, dict) and set(value) <= {"root", "format", "name"} and isinstance(value.get("root"), str):
        return Source(value["root"], value.get("format") or readers.AUTO, value.get("name") or "")
    raise AudioClfError(f"corpus source {value!r}: give a root path, or a mapping with 'root' and optionally "
                        f"'format' ({', '.join([readers.AUTO, *readers.formats()])}) and 'name'.")


def encode_sources(sources: Sequence[SourceLike]) -> str:
    """The `data_root` execution property: one plain root, or a JSON list for several or named sources."""
    parsed = [to_source(s) for s in sources]
    if len(parsed) == 1 and parsed[0] == Source(parsed[0].root):
        return parsed[0].root
    return json.dumps([{"root": s.root, "format": s.format, "name": s.name} for s in parsed])


def decode_sources(text: str) -> List[Source]:
    """Inverse of encode_sources; also accepts comma-separated roots (handy as a Kubeflow run parameter)."""
    text = str(text).strip()
    if not text:
        raise AudioClfError("no data root given; pass --data-root (it repeats) or set corpus.sources.")
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise AudioClfError(f"data_root {text[:200]!r} starts with '[' but is not a JSON list ({err}).") from err
        if not isinstance(values, list) or not values:
            raise AudioClfError(f"data_root {text[:200]!r}: a JSON list of sources must not be empty.")
        return [to_source(v) for v in values]
    return [Source(part.strip()) for part in text.split(",") if part.strip()]


def unique_names(sources: Sequence[Source]) -> List[str]:
    """Corpus names, made unique in order (a second `data` becomes `data-2`)."""
    names: List[str] = []
    for source in sources:
        base = source.corpus_name()
        if "/" in base:
            raise AudioClfError(f"corpus name {base!r} must not contain '/'; name the source differently.")
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


def split_speakers(ids_by_gender: Dict[str, List[str]], fractions: Dict[str, float], seed: Union[int, str]) -> Dict[str, str]:
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
                f"only {len(ids)} {GENDER_WORD[gender]} speaker(s) with audio "
                f"({', '.join(ids[:10]) or 'none'}); need at least {needed}, one per split ({', '.join(SPLITS)}). "
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


# Files named in the summary per corpus, of those reached through links leaving the data root.
LINK_EXAMPLES = 5


def _check_link(path: str, root: str, config: CorpusConfig, outside: List[str]) -> None:
    """Notes (or refuses, with corpus.refuse_links_outside_root) a file whose symbolic links leave the root."""
    if not fs.leaves_root(path, root):
        return
    if config.refuse_links_outside_root:
        raise AudioClfError(f"{path} leads out of the data root {root} through a symbolic link (to "
                            f"{os.path.realpath(path)}), and corpus.refuse_links_outside_root=true; copy the file "
                            f"into the corpus, remove the link, or set that setting to false.")
    outside.append(path)


def _file_entries(paths: Iterable[str], root: str, config: CorpusConfig, skipped: List[dict],
                  outside: List[str]) -> List[dict]:
    """Header facts of each file; corrupt ones (and ones that are not regular files) raise, or are listed
    in `skipped` with corpus.skip_corrupt; files reached through links leaving `root` are added to `outside`."""
    entries = []
    for path in paths:
        _check_link(path, root, config, outside)
        try:
            frames, rate = audio.audio_info(path)
        except AudioClfError as err:
            if not config.skip_corrupt:
                raise
            log.warning("skipping %s", err)
            skipped.append({"path": path, "reason": str(err)})
            continue
        entries.append({"path": path, "seconds": round(frames / rate, 4), "sample_rate": rate})
    return entries


def _read_source(source: Source, name: str, config: CorpusConfig, skipped_files: List[dict]):
    """(corpus facts, speakers of this corpus keyed by namespaced id)."""
    root = str(source.root).rstrip("/") if fs.is_remote(source.root) else os.path.abspath(source.root)
    listing = readers.read_corpus(root, source.format, config.subsets, config.audio_extensions)
    speakers: Dict[str, dict] = {}
    minors: List[str] = []
    outside: List[str] = []
    for speaker_id, record in sorted(listing.speakers.items()):
        if record.age is not None and record.age < config.min_age:
            minors.append(speaker_id)
            continue
        entries = _file_entries(record.files, root, config, skipped_files, outside)
        if entries:
            speakers[f"{name}/{speaker_id}"] = {
                "corpus": name, "gender": record.gender, "age": record.age, "name": record.name, "files": entries,
                "seconds": round(sum(e["seconds"] for e in entries), 3)}
    if minors:
        log.info("%s: %d speaker(s) younger than corpus.min_age=%g left out", name, len(minors), config.min_age)
    if outside:
        log.warning("%s: %d file(s) reached through symbolic links leading out of %s, e.g. %s", name, len(outside),
                    root, ", ".join(outside[:LINK_EXAMPLES]))
    facts = {"root": root, "format": listing.format, "read_skipped": listing.skipped, "notes": listing.notes,
             "minors_left_out": len(minors), "speakers_read": len(listing.speakers),
             "links_outside_root": len(outside), "links_outside_root_examples": outside[:LINK_EXAMPLES]}
    return facts, speakers


def _assign_splits(name: str, speakers: Dict[str, dict], config: CorpusConfig, only_corpus: bool) -> str:
    """Sets each speaker's split; returns how this corpus was split."""
    by_gender = {g: [s for s, e in speakers.items() if e["gender"] == g] for g in GENDERS}
    smallest = min(len(ids) for ids in by_gender.values())
    if smallest < max(len(SPLITS), config.min_speakers_to_split) and not only_corpus:
        for entry in speakers.values():
            entry["split"] = "train"
        counts = ", ".join(f"{len(by_gender[g])} {GENDER_WORD[g]}" for g in GENDERS)
        log.warning("corpus %s is too small to split (%s speakers; corpus.min_speakers_to_split=%d per gender): "
                        "all of it goes to train", name, counts, config.min_speakers_to_split)
        return f"{TRAIN_ONLY} ({counts} speakers, fewer than {config.min_speakers_to_split} of a gender)"
    for speaker, split in split_speakers(by_gender, config.split_fractions, f"{config.seed}:{name}").items():
        speakers[speaker]["split"] = split
    return SPLIT_PER_GENDER


def build_index(sources: Union[SourceLike, Sequence[SourceLike]], config: CorpusConfig) -> dict:
    """The speaker index as a JSON-able dict (its fields are described in component.py)."""
    if isinstance(sources, (str, dict, Source)):
        sources = decode_sources(sources) if isinstance(sources, str) else [sources]
    sources = [to_source(s) for s in sources]
    if not sources:
        raise AudioClfError("no corpus given; pass --data-root (it repeats) or set corpus.sources.")
    names = unique_names(sources)
    corpora: Dict[str, dict] = {}
    speakers: Dict[str, dict] = {}
    skipped_files: List[dict] = []
    for source, name in zip(sources, names):
        facts, corpus_speakers = _read_source(source, name, config, skipped_files)
        if not corpus_speakers:
            raise AudioClfError(f"{facts['root']}: no speaker with readable audio found ({facts['format']} layout; "
                                f"left out while reading: {facts['read_skipped'] or 'nothing'}, minors: "
                                f"{facts['minors_left_out']}). Check the folder and corpus.subsets/audio_extensions.")
        facts["split"] = _assign_splits(name, corpus_speakers, config, only_corpus=len(sources) == 1)
        facts["speakers"] = len(corpus_speakers)
        facts["files"] = sum(len(e["files"]) for e in corpus_speakers.values())
        facts["seconds"] = round(sum(e["seconds"] for e in corpus_speakers.values()), 1)
        facts["speakers_per_split"] = {
            split: {g: sum(1 for e in corpus_speakers.values() if e["split"] == split and e["gender"] == g)
                    for g in GENDERS} for split in SPLITS}
        corpora[name] = facts
        speakers.update(corpus_speakers)

    splits = {split: {g: sorted((s for s, e in speakers.items() if e["split"] == split and e["gender"] == g),
                                key=lambda s: (len(s), s)) for g in GENDERS} for split in SPLITS}
    index = {"version": INDEX_VERSION, "seed": config.seed, "split_fractions": config.split_fractions,
             "min_age": config.min_age, "corpora": corpora, "speakers": speakers, "splits": splits,
             "skipped_files": skipped_files}
    check_index(index)
    return index


def check_index(index: dict) -> None:
    """No speaker in two splits, and both genders in every split; raises with what is missing."""
    seen: Dict[str, str] = {}
    for split, by_gender in index["splits"].items():
        for gender, ids in by_gender.items():
            if not ids:
                raise AudioClfError(
                    f"split '{split}' has no {GENDER_WORD.get(gender, gender)} speaker: every corpus given is too small "
                    f"to split (corpus.min_speakers_to_split per gender). Add a larger corpus or speakers, or "
                    f"change corpus.split_fractions.")
            for speaker_id in ids:
                if speaker_id in seen:
                    raise AudioClfError(f"speaker {speaker_id} is in both '{seen[speaker_id]}' and '{split}'.")
                seen[speaker_id] = split


def split_files(index: dict, split: str) -> List[dict]:
    """Every utterance of the split's speakers: {path, speaker, corpus, gender, seconds}, in speaker order."""
    rows = []
    for gender in GENDERS:
        for speaker in index["splits"][split][gender]:
            entry = index["speakers"][speaker]
            rows += [{"path": f["path"], "speaker": speaker, "corpus": entry["corpus"], "gender": entry["gender"],
                      "seconds": f["seconds"]} for f in entry["files"]]
    return sorted(rows, key=lambda r: (r["corpus"], r["speaker"], r["path"]))
