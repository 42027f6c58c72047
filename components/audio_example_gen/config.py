"""The `examples` settings section: how clips become tf.train.Example records."""
from dataclasses import dataclass
from typing import ClassVar

from components.common.errors import AudioClfError
from components.common.settings import setting


@dataclass
class ExamplesConfig:
    """How clips become tf.train.Example records."""
    SECTION: ClassVar[str] = "examples"   # its name in the config, in messages
    # "pcm16": the samples as little-endian int16 bytes (half the size of floats and faster to read,
    # see bench/); "float": a float_list feature.
    audio_encoding: str = "pcm16"
    # Output files per split, 1-10000: Beam's writer holds a shard's examples in memory.
    num_shards: int = setting(2, low=1, high=10_000)

    def validate(self) -> None:
        """Refuses settings that cannot work, naming the setting and what to change."""
        if self.audio_encoding not in ("pcm16", "float"):
            raise AudioClfError(f"config: examples.audio_encoding={self.audio_encoding!r}; use 'pcm16' or 'float'.")
