"""Pretrained speaker embeddings of every utterance a finished k-fold run scored, for bench/embedding_check.py.

The question it serves: would a pretrained speech representation, a front end the model family cannot
learn from ~250 speakers, carry a second cue beyond pitch? The network is Resemblyzer's GE2E speaker
encoder (PyPI `resemblyzer`, Apache-2.0; a 3-layer LSTM on 40-band mel frames, trained to tell speakers
apart on LibriSpeech train-other-500 and VoxCeleb 1 and 2; it never saw a gender label, and none of the
bundled LibriSpeech speakers is from train-other-500). Each utterance is loaded at 16 kHz and embedded
whole (`VoiceEncoder.embed_utterance`: 1.6 s windows, half overlapping, averaged, unit length), after
Resemblyzer's own preprocessing (loudness to -30 dBFS, long silences cut by WebRTC VAD) unless `--raw`.

It needs PyTorch and Resemblyzer, which the project does not install: `make embedding-venv` creates
`.venv-embedding` with them (requirements/embedding.txt). Run with that virtualenv:

    .venv-embedding/bin/python -m bench.speaker_embeddings --run r10 [--raw]

Writes `.cache/speaker_embeddings/resemblyzer[-raw].npz` (paths relative to data/, one 256-vector each);
bench/embedding_check.py reads it. Progress every 200 files; the file is written whole or not at all.
"""
import argparse
import os
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from bench import _util
from bench.kfold_results import KFOLD_RESULTS, read_run_here

CACHE_DIR = os.path.join(_util.REPO_ROOT, ".cache", "speaker_embeddings")
SAMPLE_RATE = 16000


def cache_path(raw: bool) -> str:
    return os.path.join(CACHE_DIR, "resemblyzer-raw.npz" if raw else "resemblyzer.npz")


def data_key(path: str) -> str:
    """A bundled file's path relative to data/ (the same file whatever checkout a run read it from)."""
    marker = os.sep + "data" + os.sep
    if marker not in path:
        raise SystemExit(f"bench: error: {path}: not a bundled corpus file (no /data/ in its path); the check "
                         "covers runs over the bundled corpora.")
    return path.split(marker, 1)[1]


def utterance_paths(run: str, results: str = KFOLD_RESULTS) -> List[str]:
    _, by_speaker = read_run_here(run, results)
    return sorted({r["path"] for rows in by_speaker.values() for r in rows})


def embed(paths: Sequence[str], raw: bool = False, log=print) -> Dict[str, np.ndarray]:
    try:
        import librosa
        import torch
        from resemblyzer import VoiceEncoder, preprocess_wav
    except ImportError as e:
        raise SystemExit(f"bench: error: {e}. The speaker embeddings need PyTorch and Resemblyzer: run "
                         "`make embedding-venv`, then `.venv-embedding/bin/python -m bench.speaker_embeddings`.")
    torch.set_num_threads(1)
    encoder = VoiceEncoder("cpu", verbose=False)
    out, started = {}, time.monotonic()
    for i, path in enumerate(paths):
        if not os.path.isfile(path):
            raise SystemExit(f"bench: error: {path}: no such file (the run scored it); restore the corpus or "
                             "name a run over this checkout's data/.")
        wav, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True)
        if not raw:
            trimmed = preprocess_wav(wav, source_sr=SAMPLE_RATE)
            wav = trimmed if len(trimmed) >= SAMPLE_RATE // 10 else wav   # all "silence" to the VAD: keep it whole
        out[data_key(path)] = encoder.embed_utterance(wav).astype(np.float32)
        if (i + 1) % 200 == 0 or i + 1 == len(paths):
            log(f"speaker embeddings: {i + 1} of {len(paths)} files, {time.monotonic() - started:.0f} s")
    return out


def save(embeddings: Dict[str, np.ndarray], path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    keys = sorted(embeddings)
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, keys=np.array(keys), vectors=np.stack([embeddings[k] for k in keys]))
    os.replace(tmp, path)


def load(path: str) -> Dict[str, np.ndarray]:
    if not os.path.isfile(path):
        raise SystemExit(f"bench: error: {path}: no speaker embeddings; run `make embedding-venv` and "
                         "`.venv-embedding/bin/python -m bench.speaker_embeddings --run r10` first.")
    with np.load(path) as f:
        return dict(zip(f["keys"].tolist(), f["vectors"]))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="r10", help="a finished k-fold run whose utterances to embed")
    parser.add_argument("--results", default=KFOLD_RESULTS)
    parser.add_argument("--raw", action="store_true", help="no loudness normalization or VAD trimming")
    parser.add_argument("--out", default=None, help="default .cache/speaker_embeddings/resemblyzer[-raw].npz")
    args = parser.parse_args(argv)
    paths = utterance_paths(args.run, args.results)
    out = args.out or cache_path(args.raw)
    save(embed(paths, args.raw), out)
    print(f"speaker embeddings: {len(paths)} utterances -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
