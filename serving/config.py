"""The `serving` settings section: what the model server accepts."""
from dataclasses import dataclass
from typing import ClassVar, List

from components.common.errors import AudioClfError
from components.common.settings import setting

# Where KServe's storage initializer puts the model of an InferenceService (its `/mnt/models`).
KSERVE_MODEL_DIR = "/mnt/models"


@dataclass
class ServingConfig:
    """Limits of `audioclf serve` (and of the KServe InferenceService that runs the same server)."""
    SECTION: ClassVar[str] = "serving"   # its name in the config, in messages
    model_name: str = "audioclf"          # the name in /v1/models/<name>:predict and /v2/models/<name>/infer
    http_port: int = setting(8080, low=1, high=65535)   # KServe's default
    # A request body above this is refused with 413 before it is read whole: base64 audio is 4/3 of the
    # file, so 32 MB takes a ~24 MB file, about 12 min of 16 kHz 16-bit WAV or hours of MP3.
    max_request_mb: float = setting(32.0, above=0.0, high=1024.0)
    # Decoded audio above this per recording is refused with 400 (a small MP3 can decode to hours).
    max_audio_seconds: float = setting(1800.0, above=0.0, high=86400.0)
    # Shorter audio is refused with 400: a few samples would get a confident-looking answer.
    min_audio_seconds: float = setting(0.5, low=0.0, high=86400.0)
    # Recordings per request (V1 instances, V2 batch).
    max_recordings: int = setting(16, low=1, high=1024)
    # `audioclf predict`: a file above this is refused before it is read (the server's bound is
    # max_request_mb). 100 MB holds 30 min of 48 kHz stereo 16-bit WAV.
    max_file_mb: float = setting(100.0, above=0.0, high=1_000_000.0)

    def limits(self):
        """The audio limits the server and `audioclf predict` apply (components.common.audio.Limits)."""
        from components.common.audio import Limits  # pylint: disable=import-outside-toplevel  (numpy, soundfile)

        return Limits(max_bytes=int(self.max_file_mb * 1e6), max_seconds=self.max_audio_seconds,
                      min_seconds=self.min_audio_seconds)

    def server_command(self, model_dir: str) -> List[str]:
        """The command line that serves `model_dir` with these settings (serving/server.py's flags): what
        a KServe predictor container runs."""
        return ["python", "-m", "serving.server", "--model", model_dir, "--model-name", self.model_name,
                "--port", str(self.http_port), "--max-request-mb", str(self.max_request_mb),
                "--max-audio-seconds", str(self.max_audio_seconds), "--min-audio-seconds",
                str(self.min_audio_seconds), "--max-recordings", str(self.max_recordings)]

    def validate(self) -> None:
        if not self.model_name or not self.model_name.replace("-", "").replace("_", "").isalnum():
            raise AudioClfError(f"config: serving.model_name={self.model_name!r} must be letters, digits, '-' or '_'.")
        if not 0 < self.http_port < 65536:
            raise AudioClfError(f"config: serving.http_port={self.http_port} must be a TCP port (1-65535).")
        if not 0 < self.max_request_mb <= 1024:
            raise AudioClfError(f"config: serving.max_request_mb={self.max_request_mb} must be in (0, 1024].")
        if not 0 < self.max_audio_seconds <= 24 * 3600:
            raise AudioClfError(f"config: serving.max_audio_seconds={self.max_audio_seconds} must be in (0, 86400].")
        if not 0 <= self.min_audio_seconds < self.max_audio_seconds:
            raise AudioClfError(f"config: serving.min_audio_seconds={self.min_audio_seconds} must be >= 0 and below "
                                f"serving.max_audio_seconds={self.max_audio_seconds}.")
        if not 0 < self.max_file_mb <= 100_000:
            raise AudioClfError(f"config: serving.max_file_mb={self.max_file_mb} must be in (0, 100000].")
        if not 1 <= self.max_recordings <= 1024:
            raise AudioClfError(f"config: serving.max_recordings={self.max_recordings} must be in [1, 1024].")
