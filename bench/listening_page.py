"""A page to listen to the label audit's suspects (bench/label_audit.py --listen FILE.html).

Every classifier here contradicts the labels of a few bundled speakers; only a person listening can say
whether the label or the voice is unusual. The page puts each suspect's utterances beside those of two
reference speakers of the same corpus, one per label, on whom every classifier agrees with the label,
so the listener hears what the corpus's F and M sound like first. The audio is linked, not copied:
the page works from where it is written as long as the checkout's data/ is beside it.
"""
import html
import os
import statistics
from typing import Dict, List, Optional, Sequence

REFERENCE_UTTERANCES = 3
CLASSIFIERS = ("pitch", "mfcc", "model")
NAMES = {"pitch": "pitch rule", "mfcc": "MFCC + LR", "model": "model", "formant_lr": "formants LR"}


def playable(rows: List[dict]) -> List[str]:
    """A speaker's distinct utterances (each run has its own data root), the copy on this machine first."""
    by_name: Dict[str, str] = {}
    for r in rows:
        name = os.path.basename(r["path"])
        if name not in by_name or (not os.path.exists(by_name[name]) and os.path.exists(r["path"])):
            by_name[name] = r["path"]
    return [by_name[n] for n in sorted(by_name)]


def references(by_speaker: Dict[str, List[dict]], corpus: str, suspects: set) -> Dict[str, dict]:
    """Per label ("F", "M"): the speaker of `corpus`, not a suspect, on whom every classifier agrees with the
    label on every utterance, with the median F0 nearest the median of such speakers; absent if none."""
    agreed: Dict[str, List[tuple]] = {"F": [], "M": []}
    for speaker, rows in sorted(by_speaker.items()):
        if speaker in suspects or rows[0]["corpus"] != corpus:
            continue
        f0s = [r["f0"] for r in rows if r.get("f0")]
        if f0s and all(r[k] == r["truth"] for r in rows for k in CLASSIFIERS):
            agreed["F" if rows[0]["truth"] else "M"].append((statistics.median(f0s), speaker))
    out = {}
    for label, found in agreed.items():
        if found:
            middle = statistics.median(f for f, _ in found)
            f0, speaker = min(found, key=lambda item: (abs(item[0] - middle), item[1]))
            out[label] = {"speaker": speaker, "median_f0_hz": round(f0, 1),
                          "paths": playable(by_speaker[speaker])[:REFERENCE_UTTERANCES]}
    return out


def _audio(path: str, page_dir: str) -> str:
    if not os.path.exists(path):
        return f"<li>{html.escape(os.path.basename(path))}: <em>not on this machine</em></li>"
    link = html.escape(os.path.relpath(path, page_dir))
    return f'<li><audio controls preload="metadata" src="{link}"></audio> {html.escape(os.path.basename(path))}</li>'


def _section(title: str, detail: str, paths: List[str], page_dir: str) -> str:
    return (f"<section><h3>{html.escape(title)}</h3><p>{html.escape(detail)}</p><ul>"
            + "".join(_audio(p, page_dir) for p in paths) + "</ul></section>")


def _speaker_section(kind: str, facts: dict, by_speaker: Dict[str, List[dict]], page_dir: str) -> str:
    said = ", ".join(f"{NAMES.get(k[:-len('_disagrees')], k)} {v:.0%}"
                     for k, v in facts.items() if k.endswith("_disagrees") and v is not None)
    f0 = "-" if facts["median_f0_hz"] is None else f"{facts['median_f0_hz']:.0f} Hz"
    return _section(f"{kind} {facts['speaker'].rsplit('/', 1)[-1]}: labelled {facts['label']}",
                    f"median F0 {f0}; disagree with the label: {said}", playable(by_speaker[facts["speaker"]]), page_dir)


def write(path: str, suspects: List[dict], by_speaker: Dict[str, List[dict]], source: Optional[str] = None,
          also: Sequence[dict] = ()) -> str:
    """Writes the page to `path` (through a temporary file: never half-written); returns `path`. `also`: other
    speakers' facts (label_audit.speaker_facts), listed after the suspects of their corpus, not as suspects."""
    page_dir = os.path.dirname(os.path.abspath(path))
    names = {s["speaker"] for s in suspects} | {s["speaker"] for s in also}
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Label audit: listen to the suspects</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}audio{vertical-align:middle}"
             "section{border-top:1px solid #ccc}li{list-style:none;margin:.3em 0}</style></head><body>",
             "<h1>Label audit: listen to the suspects</h1>",
             "<p>Every classifier contradicts these speakers' gender labels. Listen to the reference speakers "
             "first, then to each suspect, and decide whether the label is wrong. If it is, correct the "
             "speaker's line in the corpus's label file (for a Kaldi data dir, <code>spk2gender</code>) and say "
             "so in the corpus's README; nothing else uses this page.</p>"]
    if source:
        parts.append(f"<p>From {html.escape(source)}.</p>")
    if not suspects:
        parts.append("<p>No speaker meets the audit's criterion.</p>")
    if also:
        parts.append("<p>After the suspects, marked <em>Also</em>: speakers the audit does not flag (its two "
                     "baselines do not both contradict them often enough) whose labels other witnesses contradict.</p>")
    for corpus in sorted({s["corpus"] for s in suspects} | {s["corpus"] for s in also}):
        parts.append(f"<h2>{html.escape(corpus)}</h2>")
        for label, ref in sorted(references(by_speaker, corpus, names).items()):
            parts.append(_section(f"Reference {label}: {ref['speaker'].rsplit('/', 1)[-1]}",
                                  f"labelled {label}, median F0 {ref['median_f0_hz']:.0f} Hz; every classifier agrees",
                                  ref["paths"], page_dir))
        parts += [_speaker_section("Suspect", s, by_speaker, page_dir) for s in suspects if s["corpus"] == corpus]
        parts += [_speaker_section("Also", s, by_speaker, page_dir) for s in also if s["corpus"] == corpus]
    parts.append("</body></html>\n")
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    os.replace(tmp, path)
    return path
