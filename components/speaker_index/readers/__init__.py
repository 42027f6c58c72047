"""Corpus readers, one module per layout, and the detection of a root's layout.

Each module has `FORMAT` (its name in `corpus.sources[].format`), `detect(root) -> bool` and
`read(root, subsets, extensions) -> CorpusListing` (readers/base.py). Detection tries them in the order
of READERS: the first whose marker file is present wins (LibriSpeech's SPEAKERS.TXT before VCTK's
speaker-info.txt, since a VCTK copy in LibriSpeech layout carries both).
"""
from typing import Sequence

from components.common import fs
from components.speaker_index.readers import commonvoice, csv_manifest, kaldi, librispeech, vctk
from components.speaker_index.readers.base import SCAN_EXTENSIONS, CorpusListing
from components.common.errors import AudioClfError

READERS = {module.FORMAT: module for module in (librispeech, vctk, kaldi, commonvoice, csv_manifest)}
AUTO = "auto"


def formats() -> Sequence[str]:
    return list(READERS)


def detect_format(root: str) -> str:
    for name, module in READERS.items():
        if module.detect(root):
            return name
    if not fs.exists(root):
        raise AudioClfError(f"data root {root} does not exist; pass a corpus folder (or a CSV manifest file).")
    raise AudioClfError(
        f"{root}: no known corpus layout found (looked for: LibriSpeech SPEAKERS.TXT, VCTK speaker-info.txt, a Kaldi "
        f"data dir with wav.scp/utt2spk/spk2gender (here or in data/), Common Voice validated.tsv + clips/, a CSV "
        f"manifest (a .csv file or a folder with manifest.csv)). Point --data-root at the corpus root, or name the "
        f"format in corpus.sources (one of {', '.join(READERS)}).")


def read_corpus(root: str, fmt: str = AUTO, subsets: Sequence[str] = (),
                extensions: Sequence[str] = SCAN_EXTENSIONS) -> CorpusListing:
    fmt = detect_format(root) if fmt in (AUTO, "", None) else fmt
    if fmt not in READERS:
        raise AudioClfError(f"corpus format {fmt!r} for {root} is unknown; use one of {', '.join(READERS)} or '{AUTO}'.")
    return READERS[fmt].read(root, subsets=subsets, extensions=extensions)
