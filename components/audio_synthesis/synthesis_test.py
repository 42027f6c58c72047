"""Clip synthesis: length, labels, speaker pools, determinism, modes, corrupt files."""
import numpy as np
import pytest
import soundfile

from components.audio_synthesis import synthesis
from components.speaker_index import corpus
from components.audio_synthesis.config import SynthesisConfig
from components.speaker_index.config import CorpusConfig
from components.common.errors import AudioClfError


@pytest.fixture
def index(small_corpus):
    return corpus.build_index(str(small_corpus), CorpusConfig())


def _config(**kw):
    # The post's mixtures only unless a test asks for crops or noise (both are on by default).
    base = dict(sample_rate=8000, clip_seconds=6.0, speakers_per_clip=[1, 2], crop_probability=0.0,
                noise_probability=0.0)
    base.update(kw)
    return SynthesisConfig(**base)


def _cache(index, config, skip=False):
    return synthesis.UtteranceCache(config.sample_rate, 1 << 28, skip, config)


def test_clip_length_label_and_speakers_from_own_split_and_gender(index):
    config = _config()
    for split in ("train", "eval", "test"):
        pools = synthesis.split_pools(index, split)
        cache = _cache(index, config)
        for i in range(12):
            samples, meta = synthesis.synthesize_clip(split, i, pools, config, cache.get)
            assert samples.dtype == np.float32 and len(samples) == 6 * 8000
            assert np.max(np.abs(samples)) <= synthesis.PEAK + 1e-6 and np.any(samples)
            gender = "M" if meta["label"] == 0 else "F"
            assert meta["label"] == i % 2
            assert set(meta["speakers"]) <= set(index["splits"][split][gender])
            for u in meta["utterances"]:
                assert index["speakers"][u["speaker"]]["split"] == split
                assert 0.9 <= u["speed"] <= 1.1 and -6 <= u["gain_db"] <= 6
                assert u["at_s"] + u["seconds"] <= 6.0 + 1e-3


def test_same_seed_same_bytes_other_seed_other_clip(index):
    config = _config()
    pools = synthesis.split_pools(index, "train")
    a, meta_a = synthesis.synthesize_clip("train", 3, pools, config, _cache(index, config).get)
    # A cache that has seen other clips first must not change the result.
    warm = _cache(index, config)
    for i in range(6):
        synthesis.synthesize_clip("train", i, pools, config, warm.get)
    b, meta_b = synthesis.synthesize_clip("train", 3, pools, config, warm.get)
    assert a.tobytes() == b.tobytes() and meta_a == meta_b
    c, _ = synthesis.synthesize_clip("train", 3, pools, _config(seed=8), _cache(index, config).get)
    assert a.tobytes() != c.tobytes()


def test_sequential_mode_has_pauses_within_range_and_no_overlap(index):
    config = _config(simultaneous_probability=0.0, clip_seconds=30.0, pause_seconds=[1.0, 2.0], speakers_per_clip=[2, 2])
    pools = synthesis.split_pools(index, "train")
    _, meta = synthesis.synthesize_clip("train", 0, pools, config, _cache(index, config).get)
    assert meta["mode"] == "sequential" and len(meta["utterances"]) >= 2
    for prev, nxt in zip(meta["utterances"], meta["utterances"][1:]):
        gap = nxt["at_s"] - (prev["at_s"] + prev["seconds"])
        assert 1.0 - 1e-3 <= gap <= 2.0 + 1e-3


def test_simultaneous_mode_overlays_every_chosen_speaker(index):
    config = _config(simultaneous_probability=1.0, speakers_per_clip=[2, 2])
    pools = synthesis.split_pools(index, "train")
    _, meta = synthesis.synthesize_clip("train", 1, pools, config, _cache(index, config).get)
    assert meta["mode"] == "simultaneous" and meta["num_speakers"] == 2 and len(meta["utterances"]) == 2


def test_mixed_class_has_both_genders(index):
    config = _config(mixed_class=True, speakers_per_clip=[2, 3])
    pools = synthesis.split_pools(index, "train")
    _, meta = synthesis.synthesize_clip("train", 2, pools, config, _cache(index, config).get)
    assert meta["label"] == 2 and {u["gender"] for u in meta["utterances"]} == {"F", "M"}


def test_stretch_changes_duration_by_the_speed_factor():
    x = np.sin(np.arange(16000, dtype=np.float32) / 10)
    fast = np.zeros(synthesis.stretched_length(len(x), 2.0), dtype=np.float32)
    synthesis.stretch_into(fast, x, 2.0, 0.5, 0)
    assert len(fast) == 8000 and np.allclose(fast[:100], 0.5 * x[0:200:2], atol=1e-6)


def test_truncated_flac_body_is_an_error_or_skipped(index, small_corpus):
    config = _config()
    victim = sorted((small_corpus / "dev-mini").rglob("*.flac"))[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])  # header intact, body cut
    rel = str(victim)  # the index holds full paths
    with pytest.raises(AudioClfError, match=rf"{victim.name}: cannot decode audio"):
        _cache(index, config).get(rel)
    skipping = _cache(index, config, skip=True)
    assert skipping.get(rel) is None and rel in skipping.bad


def test_skipped_files_are_listed_per_clip_not_per_worker(index, small_corpus):
    """With skip_corrupt, a clip's manifest line must not depend on what its worker saw before."""
    config = _config()
    speaker = index["splits"]["train"]["M"][0]
    for path in (small_corpus / "dev-mini" / speaker.split("/")[-1]).rglob("*.flac"):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    pools = synthesis.split_pools(index, "train")
    fresh = {i: synthesis.synthesize_clip("train", i, pools, config, _cache(index, config, skip=True).get)[1]
             for i in range(0, 12, 2)}
    shared = _cache(index, config, skip=True)
    for i in sorted(fresh, reverse=True):
        _, meta = synthesis.synthesize_clip("train", i, pools, config, shared.get)
        assert meta == fresh[i]
    assert any(m["skipped_files"] for m in fresh.values())
    assert all(speaker not in m["speakers"] for m in fresh.values())


def test_crops_are_one_real_utterance_at_its_own_pitch(index):
    config = _config(crop_probability=0.7, clip_seconds=3.0)
    pools = synthesis.split_pools(index, "train")
    metas = [synthesis.synthesize_clip("train", i, pools, config, _cache(index, config).get)[1] for i in range(40)]
    crops = [m for m in metas if m["mode"] == synthesis.CROP]
    assert 18 <= len(crops) <= 38 and {m["mode"] for m in metas} >= {synthesis.CROP}
    for meta in crops:
        (placed,) = meta["utterances"]
        assert meta["num_speakers"] == 1 and placed["speed"] == 1.0
        gender = "M" if meta["label"] == 0 else "F"
        assert index["speakers"][placed["speaker"]]["gender"] == gender
        assert placed["seconds"] <= 3.0 and meta["noise_snr_db"] is None
    # Crops off: the mixtures are byte for byte what they were before crops existed.
    plain = _config(clip_seconds=3.0)
    assert all(synthesis.synthesize_clip("train", i, pools, plain, _cache(index, plain).get)[1]["mode"] != synthesis.CROP
               for i in range(10))


def test_eval_crops_are_clean_single_utterances_and_train_is_unchanged(index):
    """synthesis.eval_clip_mode=crops: every eval clip one real utterance at its own pitch with no noise,
    whatever crop_probability and noise_probability say; the train split's clips are untouched."""
    mixed = _config(crop_probability=0.3, noise_probability=1.0, clip_seconds=3.0)
    crops = _config(crop_probability=0.3, noise_probability=1.0, clip_seconds=3.0, eval_clip_mode="crops")
    pools = synthesis.split_pools(index, "eval")
    metas = [synthesis.synthesize_clip("eval", i, pools, crops, _cache(index, crops).get)[1] for i in range(12)]
    assert all(m["mode"] == synthesis.CROP and m["noise_snr_db"] is None and m["num_speakers"] == 1
               and m["utterances"][0]["speed"] == 1.0 for m in metas)
    before = [synthesis.synthesize_clip("eval", i, pools, mixed, _cache(index, mixed).get)[1] for i in range(12)]
    assert {m["mode"] for m in before} != {synthesis.CROP} and any(m["noise_snr_db"] for m in before)
    train = synthesis.split_pools(index, "train")
    for i in range(6):
        a, meta_a = synthesis.synthesize_clip("train", i, train, mixed, _cache(index, mixed).get)
        b, meta_b = synthesis.synthesize_clip("train", i, train, crops, _cache(index, crops).get)
        np.testing.assert_array_equal(a, b)
        assert meta_a == meta_b


def test_noise_at_the_drawn_snr(index):
    config = _config(noise_probability=1.0, noise_snr_db=[20.0, 20.0], crop_probability=1.0, clip_seconds=3.0)
    quiet = _config(crop_probability=1.0, clip_seconds=3.0)
    pools = synthesis.split_pools(index, "train")
    noisy, meta = synthesis.synthesize_clip("train", 3, pools, config, _cache(index, config).get)
    clean, _ = synthesis.synthesize_clip("train", 3, pools, quiet, _cache(index, quiet).get)
    assert meta["noise_snr_db"] == 20.0
    speech = clean != 0
    noise = noisy - clean   # same draws: the clip differs by the noise alone (and the peak scaling, none here)
    snr = 10 * np.log10(np.mean(clean[speech] ** 2) / np.mean(noise ** 2))
    assert snr == pytest.approx(20.0, abs=0.5)
    again, _ = synthesis.synthesize_clip("train", 3, pools, config, _cache(index, config).get)
    np.testing.assert_array_equal(noisy, again)   # deterministic


def _band_power(samples, rate, low, high):
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    return spectrum[(freqs >= low) & (freqs < high)].sum()


def test_channel_filters_the_clip_at_the_drawn_cutoffs(index):
    """A channel of 300 Hz - 1.5 kHz at 8 kHz: the clip's energy below 100 Hz and above 3 kHz falls by far
    more than in the pass band, the utterances are placed as without it, and clean eval crops get none."""
    config = _config(channel_probability=1.0, channel_highpass_hz=[300.0, 300.0], channel_lowpass_hz=[1500.0, 1500.0],
                     crop_probability=1.0, clip_seconds=3.0)
    plain = _config(crop_probability=1.0, clip_seconds=3.0)
    pools = synthesis.split_pools(index, "train")
    filtered, meta = synthesis.synthesize_clip("train", 5, pools, config, _cache(index, config).get)
    clean, clean_meta = synthesis.synthesize_clip("train", 5, pools, plain, _cache(index, plain).get)
    assert meta["channel"] == {"highpass_hz": 300.0, "lowpass_hz": 1500.0} and clean_meta["channel"] is None
    assert meta["utterances"] == clean_meta["utterances"]   # the channel is drawn after the clip's own draws
    ratio = lambda low, high: _band_power(filtered, 8000, low, high) / _band_power(clean, 8000, low, high)  # noqa: E731
    assert ratio(600, 1000) > 0.3   # the pass band (the peak scaling moves every band alike)
    assert ratio(10, 100) < 0.03 * ratio(600, 1000) and ratio(3000, 4000) < 0.03 * ratio(600, 1000)
    again, _ = synthesis.synthesize_clip("train", 5, pools, config, _cache(index, config).get)
    np.testing.assert_array_equal(filtered, again)
    # A low-pass at the Nyquist frequency is left out; eval crops (eval_clip_mode=crops) stay clean.
    wide = _config(channel_probability=1.0, channel_lowpass_hz=[4000.0, 4000.0], crop_probability=1.0, clip_seconds=3.0)
    assert synthesis.synthesize_clip("train", 5, pools, wide, _cache(index, wide).get)[1]["channel"]["lowpass_hz"] is None
    crops = _config(channel_probability=1.0, eval_clip_mode="crops", clip_seconds=3.0)
    _, eval_meta = synthesis.synthesize_clip("eval", 0, synthesis.split_pools(index, "eval"), crops, _cache(index, crops).get)
    assert eval_meta["channel"] is None


def test_a_channel_that_could_pass_nothing_is_refused():
    with pytest.raises(AudioClfError, match="channel_highpass_hz"):
        _config(channel_probability=0.5, channel_highpass_hz=[100.0, 4000.0], channel_lowpass_hz=[3400.0, 8000.0]).validate()
    _config(channel_probability=0.0, channel_highpass_hz=[100.0, 4000.0]).validate()   # off: not checked


def test_clip_whose_files_all_fail_to_decode_names_them(index):
    """With skip_corrupt, the speaker index lists no skipped file (the headers read fine): the message
    must name the files that failed instead of pointing at an empty list."""
    config = _config()
    pools = synthesis.split_pools(index, "train")
    expected = r"clip train-0: none of the \d+ file\(s\) tried could be used \(\S+\.flac \(undecodable\)"
    with pytest.raises(AudioClfError, match=expected) as err:
        synthesis.synthesize_clip("train", 0, pools, config, lambda path: None)
    assert "check the skipped files" not in str(err.value)


def spoil_speaker(index, small_corpus):
    """Train's first male speaker: its first file becomes 3 s of digital silence, the others 0.1 s of speech."""
    speaker = index["splits"]["train"]["M"][0]
    files = sorted((small_corpus / "dev-mini" / speaker.split("/")[-1]).rglob("*.flac"))
    soundfile.write(files[0], np.zeros(3 * 16000, np.float32), 16000)
    for path in files[1:]:
        samples, rate = soundfile.read(path, dtype="float32")
        soundfile.write(path, samples[: rate // 10], rate)
    return speaker, files


def test_silent_and_too_short_utterances_are_skipped_and_counted(index, small_corpus):
    """A silent utterance would make a clip of nothing labelled male; a 0.1 s one is under min_piece_seconds."""
    speaker, files = spoil_speaker(index, small_corpus)
    config = _config(crop_probability=0.5)
    cache = _cache(index, config)
    pools = synthesis.split_pools(index, "train")
    metas = [synthesis.synthesize_clip("train", i, pools, config, cache.get, cache.reasons)[1] for i in range(0, 24, 2)]
    assert all(speaker not in m["speakers"] for m in metas)
    why = {path: reason for m in metas for path, reason in m["skipped_why"].items()}
    assert why[str(files[0])] == synthesis.SILENT and {why.get(str(f)) for f in files[1:]} <= {synthesis.TOO_SHORT, None}
    assert synthesis.TOO_SHORT in why.values()
    assert "dBFS, under synthesis.min_speech_dbfs=-50" in cache.bad[str(files[0])]
    for meta in metas:
        assert sorted(meta["skipped_why"]) == meta["skipped_files"]
        assert all(u["seconds"] >= config.min_piece_seconds / config.speed[1] - 1e-3 for u in meta["utterances"])
    refusing = _cache(index, _config(unusable_utterances="fail"))
    with pytest.raises(AudioClfError, match=r"silent \(its loudest 50 ms frame is at -inf dBFS.*unusable_utterances=skip"):
        refusing.get(str(files[0]))
    with pytest.raises(AudioClfError, match=r"too short \(0.10 s, under synthesis.min_piece_seconds=1\)"):
        refusing.get(str(files[1]))


def test_loudness_of_the_loudest_frame():
    rate = 8000
    quiet = np.full(rate, 10 ** (-60 / 20), np.float32)   # -60 dBFS throughout
    assert synthesis.loudest_frame_dbfs(quiet, rate) == pytest.approx(-60.0, abs=0.01)
    quiet[4000:4400] = 0.5                                # one loud 50 ms frame is enough
    assert synthesis.loudest_frame_dbfs(quiet, rate) == pytest.approx(20 * np.log10(0.5), abs=0.01)
    assert synthesis.unusable(np.full(rate, 1e-4, np.float32), _config(sample_rate=rate))[0] == synthesis.SILENT
    with pytest.raises(AudioClfError, match="synthesis.unusable_utterances='maybe' must be one of skip, fail"):
        _config(unusable_utterances="maybe").validate()
