"""The memory a configuration implies: each stage's estimate from the settings, refused with the numbers
when it does not fit this machine or the Kubeflow pods."""
import pytest

from components.common.errors import AudioClfError
from pipeline import memory
from pipeline.config import load_config


def test_each_stage_is_estimated_from_clip_length_counts_and_buffers():
    config = load_config(overrides=["synthesis.clips={train: 100, eval: 10, test: 10}", "synthesis.cache_mb=0",
                                    "trainer.shuffle_buffer=20", "trainer.batch_size_per_replica=10"])
    samples = 4 * 16000
    needs = {need.stage: need.size for need in memory.needs(config, workers=3)}
    assert needs == {"AudioSynthesis": 3 * samples * memory.SYNTHESIS_BYTES_PER_SAMPLE,
                     "AudioExampleGen": 100 * samples * 2,
                     "Trainer": (100 + 10 + 20 + 10) * samples * 4}
    uncached = load_config(overrides=["trainer.cache=''", "trainer.shuffle_buffer=20", "trainer.batch_size_per_replica=10"])
    assert memory.needs(uncached)[2].size == 30 * samples * 4


def test_run_refuses_what_does_not_fit_with_the_numbers():
    config = load_config()
    memory.check_local(config, available=64 << 30)
    with pytest.raises(AudioClfError, match=r"the AudioSynthesis step needs about 1\.1 GB of memory \(2 worker\(s\) x "
                                            r"\(64,000 samples x 48 bytes \+ synthesis.cache_mb=512 MB\)\), more than the "
                                            r"0\.5 GB available on this machine; lower synthesis.clip_seconds"):
        memory.check_local(config, available=500_000_000)


def test_compile_compares_with_the_pods_memory():
    memory.check_pods(load_config())
    with pytest.raises(AudioClfError, match=r"the Trainer step needs .* of kubeflow.trainer.memory=100Mi; .*trainer.cache"):
        memory.check_pods(load_config(overrides=["kubeflow.trainer.memory=100Mi"]))


@pytest.mark.parametrize("text, size", [("8Gi", 8 << 30), ("512M", 512 * 10 ** 6), ("2000000000", 2 * 10 ** 9),
                                        ("1.5Gi", 3 << 29), ("lots", None)])
def test_kubernetes_memory_quantities(text, size):
    assert memory.quantity_bytes(text) == size


def test_available_memory_is_read_from_this_machine():
    assert memory.available_bytes() > 0
