"""The Data section's content (data.html.j2 lays it out): the corpus, the speakers of each split, the
clips made from them (counts, durations, two pictures) and ExampleValidator's anomalies."""
import collections
from typing import Any, Dict, List, Optional

from components.audio_synthesis import synthesis
from components.audio_synthesis.executor import skipped_utterances
from pipeline.config import LABEL_NAMES, SPLITS
from pipeline.report import figures
from pipeline.report.formats import DASH, Table, mean_range, table
from pipeline.report.gather import Facts, attempt


SKIP_WORDS = {synthesis.UNDECODABLE: "could not be decoded",
              synthesis.TOO_SHORT: "shorter than synthesis.min_piece_seconds",
              synthesis.SILENT: "silent (under synthesis.min_speech_dbfs)"}


def speech_seconds(row: dict) -> float:
    """Seconds of the clip covered by at least one utterance (overlaps counted once)."""
    spans = sorted((u["at_s"], min(u["at_s"] + u["seconds"], row["duration_s"])) for u in row.get("utterances", []))
    covered, end = 0.0, 0.0
    for start, stop in spans:
        covered += max(0.0, stop - max(start, end))
        end = max(end, stop)
    return covered


def _utterance_seconds(row: dict) -> float:
    return sum(u["seconds"] for u in row.get("utterances", []))


def _corpus(facts: Facts) -> Optional[Dict[str, Any]]:
    """The speaker index's counts, one row per corpus, and the files left out; None without an index."""
    corpus = facts.summary.corpus
    if not corpus:
        return None
    synthesis_skips = skipped_utterances(facts.manifest or [])
    corpora = []
    for name, c in corpus.corpora.items():
        split_text = ", ".join(f"{split} {sum(c.speakers_per_split.get(split, {}).values())}" for split in SPLITS)
        left_out = "; ".join([f"{n} {why}" for why, n in c.read_skipped.items()] + c.notes)
        corpora.append({"name": name, "root": c.root, "format": c.format, "speakers": c.speakers,
                        "files": c.files, "minutes": f"{c.seconds / 60:.1f}", "split": f"{c.split}: {split_text}",
                        "minors_left_out": c.minors_left_out, "left_out": left_out or DASH})
    skipped_rows = ([(f.path, f.reason) for f in corpus.skipped_files]
                    + [(f, f"skipped while mixing: {SKIP_WORDS.get(why, why)}") for f, why in synthesis_skips.items()])
    by_reason = collections.Counter(synthesis_skips.values())
    linked = [path for c in corpus.corpora.values() for path in c.links_outside_root_examples]
    return {"counts": [("speakers", corpus.speakers), ("audio files", corpus.files),
                       (f"speakers younger than {corpus.min_age:g} left out", corpus.minors_left_out),
                       ("skipped files (unreadable header, or not a regular file)", len(corpus.skipped_files)),
                       ("skipped while mixing (undecodable, too short or silent)",
                        f"{len(synthesis_skips)}" + (f" ({', '.join(f'{n} {why}' for why, n in sorted(by_reason.items()))})"
                                                     if synthesis_skips else "")),
                       ("audio reached through links leaving the data root",
                        f"{sum(c.links_outside_root for c in corpus.corpora.values())}"
                        + (f" (e.g. {', '.join(linked[:3])})" if linked else ""))],
            "corpora": corpora,
            "skipped": table(["skipped file", "reason"], skipped_rows) if skipped_rows else None}


def _speakers(facts: Facts) -> Optional[Table]:
    rows = []
    for split in SPLITS:
        part = facts.summary.splits.get(split)
        if part is None or part.speakers_in_split is None:
            continue
        groups = part.speakers_in_split
        female, male = len(groups.get("F", [])), len(groups.get("M", []))
        rows.append((split, female, male, female + male, DASH if part.speaker_ids is None else len(part.speaker_ids)))
    return table(["split", "female", "male", "total", "used in clips"], rows, numeric=(1, 2, 3, 4)) if rows else None


def _clips(rows: List[dict]) -> Table:
    labels = [name for name in LABEL_NAMES if any(r["label_name"] == name for r in rows)]
    modes = sorted({r["mode"] for r in rows})
    counts = sorted({r["num_speakers"] for r in rows})
    cells = []
    for split in SPLITS:
        split_rows = [r for r in rows if r["split"] == split]
        per = {key: collections.Counter(r[key] for r in split_rows) for key in ("label_name", "mode", "num_speakers")}
        cells.append([split, len(split_rows)] + [per["label_name"][n] for n in labels] + [per["mode"][m] for m in modes]
                     + [per["num_speakers"][n] for n in counts])
    headers = ["split", "clips"] + labels + modes + [f"{n} speaker{'s' if n > 1 else ''}" for n in counts]
    return table(headers, cells, numeric=range(1, len(headers)))


def _durations(rows: List[dict]) -> Table:
    cells = []
    for split in SPLITS:
        split_rows = [r for r in rows if r["split"] == split]
        cells.append((split, ", ".join(f"{d:g}" for d in sorted({r["duration_s"] for r in split_rows})) or DASH,
                      mean_range([speech_seconds(r) for r in split_rows]),
                      mean_range([_utterance_seconds(r) for r in split_rows]),
                      mean_range([float(len(r["utterances"])) for r in split_rows])))
    return table(["split", "clip length (s)", "speech (s)", "utterance audio (s)", "utterances"], cells,
                 numeric=(1, 2, 3, 4))


def _composition(facts: Facts, rows: List[dict]) -> Optional[figures.Picture]:
    modes = sorted({r["mode"] for r in rows})
    return attempt(facts, "data", "draw the clip composition picture", figures.clip_composition,
                   {m: dict(collections.Counter(r["num_speakers"] for r in rows if r["mode"] == m)) for m in modes},
                   {m: [_utterance_seconds(r) for r in rows if r["mode"] == m] for m in modes},
                   max(r["duration_s"] for r in rows))


def _anomalies(facts: Facts) -> Dict[str, Any]:
    """ok: every split matches the schema (then `splits` names them); otherwise a table of the anomalies."""
    if facts.anomalies is None:
        return {"checked": False}
    if not any(facts.anomalies.values()):
        return {"checked": True, "ok": True, "splits": ", ".join(sorted(facts.anomalies))}
    order = sorted(facts.anomalies, key=lambda s: (SPLITS.index(s) if s in SPLITS else len(SPLITS), s))
    rows = [(split, line) for split in order for line in facts.anomalies[split] or ["none"]]
    return {"checked": True, "ok": False,
            "table": table(["split", "anomaly"], rows, row_class=lambda r: None if r[1] == "none" else "bad")}


def context(facts: Facts) -> Dict[str, Any]:
    """What data.html.j2 shows; the pictures are drawn here, so a drawing that fails is noted in the section."""
    rows = facts.manifest
    return {
        "corpus": _corpus(facts), "speakers": _speakers(facts), "clips": _clips(rows) if rows else None,
        "durations": _durations(rows) if rows else None,
        "composition": _composition(facts, rows) if rows else None,
        "spectrograms": (attempt(facts, "data", "draw the spectrogram picture", figures.mel_spectrograms, facts.clips)
                         if facts.clips else None),
        "anomalies": _anomalies(facts),
    }
