"""bench/bench_serving.py end to end on a small model (--quick: a smoke run, not a measurement): the
server starts from its own environment, answers every request, and the table has every row."""
import pytest

from bench import bench_serving
from sample_artifacts import export_tiny_model  # tests/sample_artifacts.py

pytestmark = pytest.mark.bench


def test_quick_run_writes_every_row(tmp_path):
    out = tmp_path / "serving.md"
    bench_serving.main(["--model", str(export_tiny_model(tmp_path)), "--quick", "--clients", "1,2",
                        "--out", str(out)])
    text = out.read_text()
    assert "in process (predict's path)" in text and "`audioclf serve`, 1 client" in text
    assert "`audioclf serve`, 2 clients" in text and "smoke run" in text
