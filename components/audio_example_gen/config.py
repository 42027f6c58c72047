"""The `examples` settings section: how clips become tf.train.Example records."""
from dataclasses import dataclass

from components.common.errors import AudioClfError


@dataclass
class ExamplesConfig:
    """How clips become tf.train.Example records."""
    # "pcm16": the samples as little-endian int16 bytes (half the size of floats and faster to read,
    # see bench/); "float": a float_list feature.
    audio_encoding: str = "pcm16"
    num_shards: int = 2

    def validate(self) -> None:
        """Refuses settings that cannot work, naming the setting and what to change."""
        if self.audio_encoding not in ("pcm16", "float"):
            raise AudioClfError(f"config: examples.audio_encoding={self.audio_encoding!r}; use 'pcm16' or 'float'.")
        if self.num_shards < 1:
            raise AudioClfError("config: examples.num_shards must be >= 1.")
