"""Decoding real files of every bundled format: intact ones decode, a cut FLAC body is an error."""
from pathlib import Path

import pytest

from components.common import audio
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
