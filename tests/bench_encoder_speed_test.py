"""bench/encoder_speed.py --quick (a smoke run, not a measurement): every variant is timed at every batch,
and the Keras layers, their XLA compilation and the three rewrites of the encoder's LSTM stack compute
what the shipped layer (the fused kernel) computes (the distilled student, another network, is timed only)."""
import json

import pytest

from bench import encoder_speed

pytestmark = pytest.mark.bench


def test_quick_run_times_every_variant_and_the_rewrites_match_the_shipped_encoder(tmp_path):
    out = tmp_path / "encoder_speed.md"
    assert encoder_speed.main(["--quick", "--no-wait-idle", "--retries", "0", "--out", str(out)]) == 0
    result = json.loads((tmp_path / "encoder_speed.json").read_text())
    assert {(r["variant"], r["batch"]) for r in result["rows"]} == {
        (v, b) for v in (encoder_speed.SHIPPED, encoder_speed.KERAS, "projected-scan", "projected-unrolled",
                         "wavefront", encoder_speed.KERAS + ", XLA-compiled", encoder_speed.STUDENT)
        for b in (1, 2)}
    rewrites = [r for r in result["rows"] if r["variant"] != encoder_speed.STUDENT]
    assert all(r["max_abs_difference"] < 1e-5 and r["ms_per_call"] > 0 for r in rewrites)
    assert all(r["max_abs_difference"] is None and r["ms_per_call"] > 0 for r in result["rows"] if r not in rewrites)
    assert result["windows_per_clip"] == 1 and result["lstm_mflop_per_clip"] == pytest.approx(432.5, abs=0.1)
    assert "smoke run" in out.read_text() and "float32 [1x512]x[512x1024]" in out.read_text()


def test_flops_count_the_three_layers_input_and_recurrent_products():
    # 160 frames x 2 x (in + 256) x 1024 per layer: in = 40 mel bands, then 256, 256
    assert encoder_speed.lstm_flops(1, 160) == 160 * 2 * ((40 + 256) + 2 * (256 + 256)) * 1024
    assert encoder_speed.lstm_flops(2, 160) == 2 * encoder_speed.lstm_flops(1, 160)
    assert encoder_speed.lstm_flops(2, 80) == encoder_speed.lstm_flops(1, 160)   # shorter windows: less work
