"""The server's command line for a serving config (what a KServe predictor container runs) is read back
by serving/server.py into the same settings: every flag it names exists."""
from serving import server
from serving.config import KSERVE_MODEL_DIR, ServingConfig


def test_server_command_round_trips_through_the_servers_own_parser():
    # Every setting differs from its default: a setting the command left out would come back as the default.
    config = ServingConfig(model_name="gender-v2", http_port=9000, max_request_mb=12.5, max_audio_seconds=600.0,
                           min_audio_seconds=0.25, max_recordings=4)
    command = config.server_command(KSERVE_MODEL_DIR)
    assert command[:3] == ["python", "-m", "serving.server"]
    model_dir, parsed = server.parse_args(command[3:])
    assert model_dir == "/mnt/models" and parsed == config
    assert server.parse_args(ServingConfig().server_command("m")[3:]) == ("m", ServingConfig())
