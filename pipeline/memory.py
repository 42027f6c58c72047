"""The memory a configuration implies, checked before anything runs.

Each stage's estimate is its largest buffers, from the settings alone (the components hold more than
this, never less):
- AudioSynthesis, per Beam worker: a clip being mixed (float32) with its resampling buffers (float64
  positions, int64 indices, float32 pieces: ~SYNTHESIS_BYTES_PER_SAMPLE bytes a sample), plus
  `synthesis.cache_mb` of decoded utterances; times `beam.direct_num_workers` locally.
- AudioExampleGen: Beam's DirectRunner groups a split's encoded examples before writing its shards, so
  the largest split's clips at 2 bytes a sample (pcm16) or ~5 (float).
- Trainer: the tf.data memory cache (`trainer.cache: memory`) of the decoded train and eval clips, plus
  the shuffle buffer and one batch, at 4 bytes a sample.
`audioclf run` compares the largest with the memory available on this machine (MemAvailable in
/proc/meminfo, else physical memory); `audioclf compile/submit/schedule` compare the Trainer's with
`kubeflow.trainer.memory` and the others with `kubeflow.components.memory`.
"""
import os
import re
from dataclasses import dataclass
from typing import List, Optional

from components.audio_synthesis.config import clip_samples
from components.common.errors import AudioClfError

SYNTHESIS_BYTES_PER_SAMPLE = 48
FLOAT32 = 4
ENCODED_BYTES = {"pcm16": 2, "float": 5}
QUANTITY = re.compile(r"^([0-9.]+)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
UNITS = {None: 1, "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15,
         "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50}
# What to change, per stage, when its estimate does not fit.
ADVICE = {"AudioSynthesis": "lower synthesis.clip_seconds, synthesis.sample_rate, synthesis.cache_mb or "
                            "beam.direct_num_workers",
          "AudioExampleGen": "lower synthesis.clip_seconds, synthesis.sample_rate or synthesis.clips",
          "Trainer": "lower synthesis.clip_seconds, synthesis.sample_rate or synthesis.clips, or set trainer.cache "
                     "to '' (no cache) or a path prefix (a cache on disk)"}


@dataclass
class Need:
    stage: str
    size: int  # bytes
    how: str   # the estimate's terms, in words and numbers


def needs(config, workers: int = 1) -> List[Need]:
    """Each stage's estimate; `workers`: Beam worker processes sharing the machine."""
    samples = clip_samples(config.synthesis)
    clips = config.synthesis.clips
    trainer = config.trainer
    per_worker = samples * SYNTHESIS_BYTES_PER_SAMPLE + (config.synthesis.cache_mb << 20)
    encoded = ENCODED_BYTES.get(config.examples.audio_encoding, FLOAT32)
    largest = max(clips.values())
    held = trainer.shuffle_buffer + trainer.batch_size_per_replica
    if trainer.cache == "memory":
        held += clips.get("train", 0) + clips.get("eval", 0)
    return [
        Need("AudioSynthesis", workers * per_worker,
             f"{workers} worker(s) x ({samples:,} samples x {SYNTHESIS_BYTES_PER_SAMPLE} bytes + "
             f"synthesis.cache_mb={config.synthesis.cache_mb} MB)"),
        Need("AudioExampleGen", largest * samples * encoded,
             f"{largest:,} clips x {samples:,} samples x {encoded} bytes"),
        Need("Trainer", held * samples * FLOAT32,
             f"{held:,} clips (cache {'train + eval, ' if trainer.cache == 'memory' else 'off, '}"
             f"shuffle buffer, batch) x {samples:,} samples x {FLOAT32} bytes"),
    ]


def available_bytes() -> Optional[int]:
    """Memory this machine can give a run now: MemAvailable in /proc/meminfo, else physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def quantity_bytes(text: str) -> Optional[int]:
    """A Kubernetes memory quantity ("8Gi", "512M", "2000000000") in bytes; None if not one."""
    match = QUANTITY.match(str(text).strip())
    if not match:
        return None
    try:
        return int(float(match.group(1)) * UNITS[match.group(2)])
    except ValueError:
        return None


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def _refuse(need: Need, limit: int, where: str) -> AudioClfError:
    return AudioClfError(f"config: the {need.stage} step needs about {_gb(need.size)} of memory ({need.how}), more "
                         f"than the {_gb(limit)} {where}; {ADVICE[need.stage]}.")


def _workers(config) -> int:
    """Beam worker processes on one machine: beam.direct_num_workers with the DirectRunner, else 1."""
    direct = not any(a.startswith("--runner") for a in config.beam.extra_args)
    return config.beam.direct_num_workers if direct else 1


def check_local(config, available: Optional[int] = None) -> None:
    """Refuses settings whose largest stage does not fit in this machine's available memory."""
    available = available_bytes() if available is None else available
    if not available:
        return
    for need in needs(config, _workers(config)):
        if need.size > available:
            raise _refuse(need, available, "available on this machine")


def check_pods(config) -> None:
    """Refuses settings whose stages do not fit in the memory of the Kubeflow pods that run them."""
    kubeflow = config.kubeflow
    for need in needs(config, _workers(config)):
        resources = kubeflow.trainer if need.stage == "Trainer" else kubeflow.components
        name = "trainer" if need.stage == "Trainer" else "components"
        limit = quantity_bytes(resources.memory)
        if limit and need.size > limit:
            raise _refuse(need, limit, f"of kubeflow.{name}.memory={resources.memory}")
