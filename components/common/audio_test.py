"""Decoding real files of every bundled format: intact ones decode, a cut FLAC body is an error."""
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from components.common import audio, fs
from components.common.errors import AudioClfError

DATA = Path(__file__).resolve().parents[2] / "data"


def test_every_bundled_common_voice_mp3_decodes():
    """An MP3 header's frame count is an estimate: intact clips decode a few hundred samples short of it."""
    clips = sorted((DATA / "commonvoice-mini" / "clips").glob("*.mp3"))
    assert len(clips) == 74
    for clip in clips:
        samples = audio.decode_audio(str(clip), 16000)
        assert len(samples) > 8000 and abs(samples).max() > 0.01, clip


def test_a_flac_with_its_body_cut_is_refused(tmp_path):
    flac = sorted((DATA / "speechocean762-adults" / "WAVE").rglob("*.flac"))[0]
    cut = tmp_path / "cut.flac"
    cut.write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    with pytest.raises(AudioClfError, match=r"cut.flac: cannot decode audio \((decoded \d+ of the \d+ samples|.*lost sync)"):
        audio.decode_audio(str(cut), 16000)


LIMITS = audio.Limits(max_bytes=10_000, max_seconds=10.0, min_seconds=0.5)


def test_duration_and_finiteness_limits():
    """The limits the model server and `audioclf predict` share (serving.*)."""
    audio.check_samples(np.zeros(8000, np.float32), 8000, "x", LIMITS)
    with pytest.raises(AudioClfError, match=r"x: 0.125 s of audio; at least 0.5 s"):
        audio.check_samples(np.zeros(1000, np.float32), 8000, "x", LIMITS)
    with pytest.raises(AudioClfError, match=r"x: 20 s of audio; at most 10 s per recording \(serving.max_audio_seconds\)"):
        audio.check_samples(np.zeros(160000, np.float32), 8000, "x", LIMITS)
    with pytest.raises(AudioClfError, match="NaN or infinite samples"):
        audio.check_samples(np.full(8000, np.inf, np.float32), 8000, "x", LIMITS)


def test_nan_samples_in_a_float_wav_are_refused(tmp_path):
    samples = np.zeros(8000, np.float32)
    samples[100] = np.nan
    soundfile.write(tmp_path / "nan.wav", samples, 8000, subtype="FLOAT")
    with pytest.raises(AudioClfError, match="nan.wav: the audio holds NaN or infinite samples"):
        audio.decode_audio(str(tmp_path / "nan.wav"), 8000)


def test_too_long_or_too_large_is_refused_before_decoding(tmp_path, monkeypatch):
    soundfile.write(tmp_path / "long.wav", np.zeros(8000 * 12, np.float32), 8000, subtype="PCM_16")
    monkeypatch.setattr(audio, "_decode_with_soundfile", lambda *a: pytest.fail("decoded"))
    with pytest.raises(AudioClfError, match=r"long.wav: 12 s of audio; at most 10 s"):
        audio.decode_audio(str(tmp_path / "long.wav"), 8000, limits=LIMITS._replace(max_bytes=None))
    with pytest.raises(AudioClfError, match=r"long.wav is larger than 0.01 MB \(serving.max_file_mb\)"):
        audio.decode_audio(str(tmp_path / "long.wav"), 8000, limits=LIMITS)


@pytest.mark.parametrize("make, kind", [
    (lambda p: os.mkfifo(p), r"a FIFO \(named pipe\)"),
    (lambda p: os.symlink("/dev/zero", p), "a character device"),
    (lambda p: os.mkdir(p), "a folder"),
])
def test_only_regular_files_are_opened(tmp_path, make, kind, no_hang):
    """A FIFO would block open() forever and /dev/zero would never end: both are refused from os.stat."""
    path = tmp_path / "x.flac"
    make(str(path))
    for read in (lambda: audio.decode_audio(str(path), 8000), lambda: audio.audio_info(str(path)),
                 lambda: fs.read_bytes(str(path))):
        with pytest.raises(AudioClfError, match=rf"x.flac.* is {kind}, not a regular file"):
            read()


def test_links_leaving_the_root(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (outside / "a.flac").write_bytes(b"x")
    (root / "in.flac").write_bytes(b"x")
    os.symlink(outside / "a.flac", root / "out.flac")
    os.symlink(root / "in.flac", root / "inside-link.flac")
    assert fs.leaves_root(str(root / "out.flac"), str(root))
    assert not fs.leaves_root(str(root / "in.flac"), str(root))
    assert not fs.leaves_root(str(root / "inside-link.flac"), str(root))
    assert not fs.leaves_root(str(outside / "a.flac"), str(root))   # named outside (a manifest's absolute path)
    (root / "m.csv").write_text("")
    assert fs.leaves_root(str(root / "out.flac"), str(root / "m.csv"))
