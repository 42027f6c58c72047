"""trainer/distill_augment.py: perturbed copies keep the clip's length, are the same for the same seed and
differ between seeds, play at another speed, pass only the telephone band when asked, and follow the clips."""
import numpy as np
import tensorflow as tf

from trainer import distill_augment

RATE = distill_augment.SAMPLE_RATE


def _tone(hz, seconds=1.0):
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _peak_hz(audio):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * RATE / len(audio))


def test_change_speed_reads_the_input_at_factor_times_the_output_position():
    ramp = tf.range(10, dtype=tf.float32)
    np.testing.assert_allclose(distill_augment.change_speed(ramp, 1.0).numpy()[:9], np.arange(9.0))
    np.testing.assert_allclose(distill_augment.change_speed(ramp, 0.5).numpy(), np.arange(10.0) * 0.5)
    faster = distill_augment.change_speed(ramp, 2.0).numpy()
    np.testing.assert_allclose(faster[:4], [0.0, 2.0, 4.0, 6.0])
    assert not faster[5:].any()                             # past the input's end: silence
    # a 200 Hz tone played 1.1 times as fast is a 220 Hz tone
    assert abs(_peak_hz(distill_augment.change_speed(tf.constant(_tone(200.0)), 1.1).numpy()[:14000]) - 220.0) < 3.0


def test_the_gain_curve_is_smooth_within_eq_db_and_the_telephone_band_cuts_outside_it():
    seed = tf.constant([3, 4], tf.int64)
    bins = 8001
    hz = np.linspace(0, RATE / 2, bins)
    wide = distill_augment.gain_curve(seed, bins, tf.constant(False)).numpy()
    db = 20 * np.log10(wide)
    assert db.max() <= distill_augment.EQ_DB + 1e-3 and db.min() >= -distill_augment.EQ_DB - 1e-3
    assert np.abs(np.diff(db)).max() < 0.5                 # no steps between neighbouring bins
    assert db.std() > 0.5                                  # not flat
    phone = distill_augment.gain_curve(seed, bins, tf.constant(True)).numpy()
    low, high = distill_augment.TELEPHONE_BAND
    inside = (hz >= low) & (hz <= high)
    assert not phone[~inside].any()
    np.testing.assert_allclose(phone[inside], wide[inside])


def test_a_copy_keeps_the_length_is_repeatable_by_seed_and_moves_the_pitch():
    tone = tf.constant(_tone(150.0, 2.0))
    copies = [distill_augment.perturb(tone, tf.constant([0, i], tf.int64)).numpy() for i in range(6)]
    assert all(c.shape == tone.shape and np.isfinite(c).all() and np.abs(c).max() <= 1.0 for c in copies)
    np.testing.assert_array_equal(copies[0], distill_augment.perturb(tone, tf.constant([0, 0], tf.int64)).numpy())
    assert not np.allclose(copies[0], copies[1])
    peaks = [_peak_hz(c[:RATE]) for c in copies]
    low, high = distill_augment.SPEED
    assert all(150.0 * low - 3 <= p <= 150.0 * high + 3 for p in peaks)
    assert max(peaks) - min(peaks) > 5.0                   # the copies are other voices, not one


def test_with_copies_appends_perturbed_passes_after_the_clips():
    clips = np.stack([_tone(120.0), _tone(240.0)])
    dataset = tf.data.Dataset.from_tensor_slices(clips)
    assert distill_augment.with_copies(dataset, 0, 7) is dataset
    out = np.stack(list(distill_augment.with_copies(dataset, 2, 7).as_numpy_iterator()))
    assert out.shape == (6, RATE)
    np.testing.assert_array_equal(out[:2], clips)           # the clips themselves first
    changed = out[2:]
    assert not any(np.allclose(changed[i], changed[j]) for i in range(4) for j in range(i + 1, 4))
    again = np.stack(list(distill_augment.with_copies(dataset, 2, 7).as_numpy_iterator()))
    np.testing.assert_array_equal(out, again)               # the same run seed, the same copies


def test_copies_without_speed_keep_the_pitch_and_labelled_clips_keep_their_labels():
    tone = tf.constant(_tone(400.0, 2.0))                  # inside the telephone band, which some copies keep alone
    peaks = [_peak_hz(distill_augment.perturb(tone, tf.constant([0, i], tf.int64), speed=False).numpy()[:RATE])
             for i in range(6)]
    assert all(abs(p - 400.0) < 3.0 for p in peaks)
    clips = tf.data.Dataset.from_tensor_slices((np.stack([_tone(120.0), _tone(240.0)]), np.array([1, 0])))
    out = list(distill_augment.with_copies(clips, 2, 7, speed=False).as_numpy_iterator())
    assert [label for _, label in out] == [1, 0, 1, 0, 1, 0]
    assert not np.allclose(out[2][0], out[0][0])            # a changed copy, labelled as its clip
