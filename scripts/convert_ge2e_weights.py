"""Converts Resemblyzer's pretrained GE2E speaker encoder (PyPI `resemblyzer` 0.1.4, Apache-2.0) into
the arrays trainer/speaker_encoder.py loads, and writes the reference embeddings its test compares with.

Run once, in the virtualenv that has PyTorch and Resemblyzer (`make embedding-venv`):

    .venv-embedding/bin/python scripts/convert_ge2e_weights.py

Writes (each whole or not at all):
- trainer/assets/ge2e_resemblyzer.npz: per LSTM layer l (0-2) the input kernel [in, 1024] (PyTorch's
  weight_ih transposed; gate order i, f, g, o is Keras's i, f, c, o), the recurrent kernel [256, 1024]
  and one bias (bias_ih + bias_hh); the projection's kernel [256, 256] and bias; and the 40-band Slaney
  mel filter bank for 400-point frames at 16 kHz (librosa.filters.mel, as Resemblyzer computes its
  frames), so the trainer needs neither PyTorch nor librosa to build the layer.
- trainer/assets/ge2e_reference.npz: `VoiceEncoder.embed_utterance` of the first 2 s and 4 s of three
  bundled utterances, raw (no loudness normalization or VAD), the figures the port must reproduce.
"""
import os
import sys

import librosa
import numpy as np
import resemblyzer
import torch
from resemblyzer import VoiceEncoder

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(REPO, "trainer", "assets")
REFERENCE_FILES = ["data/librispeech-mini/dev-mini/83/11691/83-11691-0000.flac",
                   "data/speechocean762-adults/WAVE/SPEAKER0457/004570010.flac",
                   "data/vctk-mini/dev-mini/p225/0/p225-0-003.flac"]
REFERENCE_SECONDS = (2.0, 4.0)


def _save(path, **arrays):
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    print(f"wrote {os.path.relpath(path, REPO)} ({os.path.getsize(path) / 1e6:.2f} MB)")


def main() -> int:
    state = torch.load(os.path.join(os.path.dirname(resemblyzer.__file__), "pretrained.pt"),
                       map_location="cpu")["model_state"]
    w = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in state.items()}
    arrays = {}
    for layer in range(3):
        arrays[f"lstm{layer}_kernel"] = np.ascontiguousarray(w[f"lstm.weight_ih_l{layer}"].T)
        arrays[f"lstm{layer}_recurrent_kernel"] = np.ascontiguousarray(w[f"lstm.weight_hh_l{layer}"].T)
        arrays[f"lstm{layer}_bias"] = w[f"lstm.bias_ih_l{layer}"] + w[f"lstm.bias_hh_l{layer}"]
    arrays["projection_kernel"] = np.ascontiguousarray(w["linear.weight"].T)
    arrays["projection_bias"] = w["linear.bias"]
    arrays["mel_filters"] = librosa.filters.mel(sr=16000, n_fft=400, n_mels=40).astype(np.float32)
    os.makedirs(ASSETS, exist_ok=True)
    _save(os.path.join(ASSETS, "ge2e_resemblyzer.npz"), **arrays)

    encoder = VoiceEncoder("cpu", verbose=False)
    paths, seconds, embeddings = [], [], []
    for rel in REFERENCE_FILES:
        wav, _ = librosa.load(os.path.join(REPO, rel), sr=16000, mono=True)
        for s in REFERENCE_SECONDS:
            if len(wav) < int(s * 16000):
                raise SystemExit(f"{rel}: shorter than {s} s; pick another reference file.")
            paths.append(rel)
            seconds.append(s)
            embeddings.append(encoder.embed_utterance(wav[:int(s * 16000)]))
    _save(os.path.join(ASSETS, "ge2e_reference.npz"), paths=np.array(paths), seconds=np.array(seconds),
          embeddings=np.stack(embeddings).astype(np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
