"""Config loading, overrides and the refusals of settings that cannot work."""
import ast
from pathlib import Path

import pytest

from pipeline.config import KubeflowConfig, load_config, section_from_json, SynthesisConfig
from components.common.errors import AudioClfError


def test_defaults_are_valid_and_documented_choices():
    config = load_config()
    assert config.synthesis.sample_rate == 16000
    assert config.examples.audio_encoding == "pcm16"
    assert config.beam_pipeline_args() == ["--direct_running_mode=multi_processing", "--direct_num_workers=2",
                                           f"--sdk_container_image={config.kubeflow.image}"]


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("synthesis:\n  clip_seconds: 30\n  clips: {train: 5, eval: 2, test: 2}\n")
    config = load_config(str(path), ["synthesis.clip_seconds=12.5", "synthesis.gain_db=[-3, 3]"])
    assert config.synthesis.clip_seconds == 12.5
    assert config.synthesis.clips == {"train": 5, "eval": 2, "test": 2}
    assert config.synthesis.gain_db == [-3, 3]
    assert section_from_json(SynthesisConfig, config.section_json("synthesis")) == config.synthesis


def test_runner_passthrough_replaces_direct_runner_args():
    config = load_config(overrides=["beam.extra_args=['--runner=FlinkRunner']"])
    assert config.beam_pipeline_args() == ["--runner=FlinkRunner"]


def test_tfx_builds_no_package_of_itself_for_the_direct_runner_unless_told_how_to_stage():
    """TFX's Beam executors build a 52 MB sdist of TFX into the temp dir (never removed) unless a Beam
    argument says where the workers get their packages; the DirectRunner's workers need none."""
    from tfx.utils import dependency_utils   # pylint: disable=import-outside-toplevel
    args = load_config().beam_pipeline_args()
    assert dependency_utils.make_beam_dependency_flags(args) == args   # returned as is: nothing built
    own = load_config(overrides=["beam.extra_args=['--setup_file=./setup.py']"]).beam_pipeline_args()
    assert own == ["--setup_file=./setup.py", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]


@pytest.mark.parametrize("override, message", [
    ("corpus.split_fractions={train: 0.7, eval: 0.1, test: 0.1}", r"add up to 0.9, not 1"),
    ("synthesis.clip_seconds=0.5", r"clip_seconds=0.5 is shorter than the shortest allowed utterance piece"),
    ("synthesis.clips={train: 0, eval: 1, test: 1}",
     r"synthesis.clips.train=0 must be an integer in \[1, 1000000\] \(every split needs at least one clip\)"),
    ("synthesis.speed=[1.2, 0.8]", r"synthesis.speed must be \[low, high\]"),
    ("synthesis.nonsense=1", r"unknown setting\(s\) synthesis.nonsense"),
    ("examples.audio_encoding=mp3", r"use 'pcm16' or 'float'"),
    ("nokey", r"expected section.key=value"),
    ("synthesis.crop_probability=1.5", r"synthesis.crop_probability=1.5 must be a number in \[0, 1\]"),
    ("synthesis.eval_clip_mode=real", r"synthesis.eval_clip_mode='real' must be one of as_train, crops"),
    ("synthesis.noise_snr_db=[40, 10]", r"synthesis.noise_snr_db must be \[low, high\]"),
    ("synthesis={channel_probability: 0.5, channel_highpass_hz: [100, 5000]}",
     r"synthesis.channel_highpass_hz=\[100.0, 5000.0\] reaches synthesis.channel_lowpass_hz"),
    ("synthesis.channel_lowpass_hz=[8000, 3000]", r"synthesis.channel_lowpass_hz must be \[low, high\]"),
    ("trainer.normalization=layer", r"trainer.normalization='layer'; use band_mean, max or none"),
    ("trainer.lr_schedule=step", r"trainer.lr_schedule='step'"),
    ("trainer.pooling=min", r"trainer.pooling='min'; use max, avg, time_max or time_avg"),
    ("trainer.conv_norm=layer", r"trainer.conv_norm='layer'; use batch or group"),
    ("trainer={conv_norm: group, conv_norm_groups: 3}", r"conv_norm_groups=3 does not divide every trainer.conv_filters"),
    ("trainer.early_stopping_metric=auc", r"trainer.early_stopping_metric='auc'; use loss or accuracy"),
    ("trainer.weight_ema=1.0", r"trainer.weight_ema=1.0 must be a number in \[0, 1\) \(0: off; e.g. 0.99\)"),
    ("trainer.label_smoothing=1.0", r"trainer.label_smoothing=1.0 must be a number in \[0, 1\)"),
    ("evaluator.pitch_fit_utterances=1", r"evaluator.pitch_fit_utterances=1 must be an integer in \[2, "),
    ("corpus.min_speakers_to_split=2", r"corpus.min_speakers_to_split=2 must be an integer in \[3, "),
    ("serving.max_request_mb=0", r"serving.max_request_mb=0 must be a number in \(0, 1024\]"),
    ("kubeflow.deploy=seldon", r"kubeflow.deploy='seldon'; use '' \(no deployment\) or 'kserve'"),
    ("kubeflow.kserve.canary_traffic_percent=100", r"canary_traffic_percent=100 must be an integer in \[0, 99\] \(0: no canary"),
    ("kubeflow.kserve.name=Audio_Clf", r"kubeflow.kserve.name='Audio_Clf' must be lower-case letters"),
    ("kubeflow.kserve.name=" + "a" * 46, r"at most 45 characters"),
    ("kubeflow.kserve.namespace=-x", r"kubeflow.kserve.namespace='-x' is not a Kubernetes namespace name"),
    ("kubeflow.kserve.deployment_mode=Raw", r"deployment_mode='Raw'; use '' \(the cluster's default\)"),
    ("kubeflow.kserve={deployment_mode: RawDeployment, canary_traffic_percent: 10}", r"needs Serverless mode"),
    ("kubeflow.kserve={min_replicas: 2, max_replicas: 1}", r"max_replicas=1 is below min_replicas=2"),
    ("kubeflow.kserve.timeout_minutes=0", r"kubeflow.kserve.timeout_minutes=0 must be a number in \(0, 10080\]"),
    ("synthesis={clip_seconds: 0.02, min_piece_seconds: 0.01}", r"trainer.n_fft=512 is longer than a clip \(320 samples"),
    ("trainer.mel_f_max=9000", r"trainer.mel_f_max=9000 is above half the sample rate \(8000 Hz"),
    ("trainer.hop_length=1024", r"trainer.hop_length=1024 is above trainer.n_fft=512"),
    ("trainer={speaker_embedding: false, head_dropout: 0.5}", r"trainer.head_dropout=0.5 drops one of two heads, "
                                                              r"and without trainer.speaker_embedding=true the model has one"),
    ("trainer.head_dropout=0.5", r"a fitted speaker head is not trained with the conv head; set head_dropout=0 or "
                                 r"speaker_embedding_head=trained"),
    ("trainer.speaker_embedding_head=joint", r"trainer.speaker_embedding_head='joint'; use trained or fitted"),
    ("trainer.conv_filters=[16, 32]", r"trainer.conv_filters needs 4 values"),
    ("kubeflow.kserve.resources.gpus=-1", r"kubeflow.kserve.resources.gpus=-1 must be an integer in \[0, 64\]"),
])
def test_bad_settings_are_refused_with_the_setting_named(override, message):
    with pytest.raises(AudioClfError, match=message):
        load_config(overrides=[override])


def test_missing_config_file(tmp_path):
    with pytest.raises(AudioClfError, match="not found"):
        load_config(str(tmp_path / "absent.yaml"))


def test_one_subset_named_as_a_string_is_one_subset():
    assert load_config(overrides=["corpus.subsets=dev-mini"]).corpus.subsets == ["dev-mini"]


def test_the_serving_image_is_tagged_with_the_project_version_like_the_pipeline_image():
    setup = ast.parse((Path(__file__).resolve().parents[1] / "setup.py").read_text())
    (version,) = [ast.literal_eval(node.value) for node in setup.body if isinstance(node, ast.Assign)
                  and any(getattr(t, "id", None) == "VERSION" for t in node.targets)]
    kubeflow = KubeflowConfig()
    assert kubeflow.image == f"ghcr.io/audioclf/audioclf:{version}"
    assert kubeflow.kserve.image == f"ghcr.io/audioclf/audioclf-serving:{version}"
    assert kubeflow.deploy == ""   # deploying is opted into


def test_the_speaker_encoder_is_refused_at_a_rate_it_was_not_trained_on():
    with pytest.raises(AudioClfError, match=r"trainer.speaker_embedding=true needs synthesis.sample_rate=16000 \(the "
                                            r"pretrained speaker encoder's rate\), not 8000"):
        load_config(overrides=["synthesis.sample_rate=8000", "trainer.speaker_embedding=true"])
    assert load_config(overrides=["trainer.speaker_embedding=true"]).trainer.speaker_embedding
