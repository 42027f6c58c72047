"""Every setting of the pipeline, in one place.

The same `PipelineConfig` drives the local run, the Kubeflow compile and the tests (tests shrink it
with overrides; they do not fork it). A config file (YAML or JSON) holds any subset of the sections
below; `--set section.key=value` overrides single values on top of it.
"""
import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import yaml

from pipeline.errors import AudioClfError

SPLITS = ("train", "eval", "test")
GENDERS = ("M", "F")
# Labels as in the blog post: male 0, female 1; the optional third class holds clips of both genders.
LABELS = {"M": 0, "F": 1, "mixed": 2}
LABEL_NAMES = ["male", "female", "mixed"]


@dataclass
class CorpusConfig:
    """How the speaker index reads the corpora and splits their speakers."""
    # The corpora to read, combined: each a root path, or {root, format, name}. `format` is one of
    # librispeech, vctk, kaldi, commonvoice, csv, or auto (detected); `name` prefixes the speaker ids
    # (default: the root's folder name). `audioclf run --data-root` (repeatable) replaces this list;
    # empty and no --data-root: the corpora bundled in data/.
    sources: List[Any] = field(default_factory=list)
    # LibriSpeech subset folders under a root to read (e.g. ["train-clean-100"]); empty = every folder.
    subsets: List[str] = field(default_factory=list)
    # Extensions a folder scan picks up (LibriSpeech, VCTK); mp3/m4a/opus decode through ffmpeg.
    audio_extensions: List[str] = field(default_factory=lambda: [".flac", ".wav", ".mp3", ".m4a", ".ogg", ".opus"])
    # Speakers younger than this (where the metadata gives an age) are left out and counted.
    min_age: float = 16.0
    # A corpus with fewer speakers than this of either gender is not split: it goes whole to train
    # (the run says so). 3 is the least that puts one speaker of each gender in every split.
    min_speakers_to_split: int = 3
    # Speakers (not files) of each gender go to train/eval/test in these proportions.
    split_fractions: Dict[str, float] = field(default_factory=lambda: {"train": 0.8, "eval": 0.1, "test": 0.1})
    seed: int = 42
    # false: a corrupt audio file stops the run; true: it is skipped and listed in the outputs.
    skip_corrupt: bool = False


@dataclass
class SynthesisConfig:
    """How clips are built from utterances (see components/audio_synthesis/synthesis.py)."""
    # LibriSpeech is recorded at 16 kHz: resampling to the post's 22050 Hz adds no information above
    # 8 kHz and costs 38 % more samples in every later stage, so 16 kHz is the default.
    sample_rate: int = 16000
    # The post used 60 s clips. 4 s is predict's window: a 4-5 s utterance is one or two windows rather
    # than mostly padding, and a small corpus gives more distinct clips (README, "Model quality").
    # The synthesis benchmark measures 60 s clips.
    clip_seconds: float = 4.0
    clips: Dict[str, int] = field(default_factory=lambda: {"train": 1500, "eval": 200, "test": 100})
    # Probability that a clip is one random crop of one real utterance (one speaker, no speed change:
    # what `predict` hears) rather than one of the post's mixtures below.
    crop_probability: float = 0.5
    # Probability that a mixture is a "room full of people" (all utterances at once) rather than a sequence.
    simultaneous_probability: float = 0.5
    speakers_per_clip: List[int] = field(default_factory=lambda: [1, 3])
    pause_seconds: List[float] = field(default_factory=lambda: [0.0, 5.0])
    gain_db: List[float] = field(default_factory=lambda: [-6.0, 6.0])
    # Playback-speed factor (changes tempo and pitch together, as pydub's frame-rate trick in the post).
    speed: List[float] = field(default_factory=lambda: [0.9, 1.1])
    # Probability of white noise over a clip, at an SNR (dB) drawn from noise_snr_db.
    noise_probability: float = 0.3
    noise_snr_db: List[float] = field(default_factory=lambda: [10.0, 40.0])
    # No utterance piece shorter than this is placed in a clip (a sequence stops instead).
    min_piece_seconds: float = 1.0
    # Adds a third class, label 2: clips mixing both genders.
    mixed_class: bool = False
    seed: int = 7
    # Decoded utterances kept per Beam worker, so repeated draws don't decode the same file again.
    cache_mb: int = 512


@dataclass
class ExamplesConfig:
    """How clips become tf.train.Example records."""
    # "pcm16": the samples as little-endian int16 bytes (half the size of floats and faster to read,
    # see bench/); "float": a float_list feature.
    audio_encoding: str = "pcm16"
    num_shards: int = 2


@dataclass
class TrainerConfig:
    """The model on raw audio (trainer/model.py) and its training (trainer/task.py)."""
    n_fft: int = 512            # 32 ms windows at 16 kHz
    hop_length: int = 256       # 16 ms between spectrogram frames
    n_mels: int = 64
    mel_f_max: float = 0.0      # top of the mel filter bank in Hz (0: half the sample rate)
    batch_norm_momentum: float = 0.99   # moving statistics over ~100 steps (0.9 swings: README, r5 vs r8)
    mel_f_min: float = 0.0      # bottom of the mel filter bank in Hz
    # What is subtracted from the dB mel spectrogram of each clip: "band_mean" each band's mean over time
    # (removes a fixed recording-channel response, but also the long-term spectral envelope, a gender
    # cue); "max" the clip's loudest value (gain invariance only; the envelope stays); "none".
    normalization: str = "max"
    # SpecAugment-style masking while training (0: off): this many time masks of up to time_mask_frames
    # frames and frequency masks of up to freq_mask_bins mel bands, each set to the clip's mean.
    time_masks: int = 2
    time_mask_frames: int = 20
    freq_masks: int = 2
    freq_mask_bins: int = 8
    # A third input channel beside mel and delta: a cepstral pitch map computed in the graph
    # (trainer/model.py CepstralPitch), so that the model sees the voice's F0 at a few Hz resolution.
    pitch_channel: bool = True
    # The clip's F0 distribution (trainer/model.py PitchHistogram, in the graph) fed to the softmax layer
    # beside the pooled conv features: the evidence the median-F0 rule uses, on which a threshold is linear.
    pitch_histogram: bool = False
    # Pooling after the last conv block: "max" (the post) or "avg" over time and frequency; "time_max" or
    # "time_avg" over time only, keeping where in frequency each filter fired (pitch, formants).
    pooling: str = "time_avg"
    label_smoothing: float = 0.1
    delta_win_length: int = 5   # frames used by the delta (must be odd)
    frame_length: int = 64      # spectrogram frames per segment (~1 s at the defaults)
    frame_hop: int = 32         # half-overlapping segments
    conv_filters: List[int] = field(default_factory=lambda: [16, 32, 64, 64])  # four Conv3D blocks
    kernel_size: List[int] = field(default_factory=lambda: [3, 3, 3])
    dropout: float = 0.2
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    # "constant", or "cosine": decays to 1 % of learning_rate over epochs x steps per epoch.
    lr_schedule: str = "cosine"
    # Exponential moving average of the weights (momentum per step; 0: off). The model kept is the
    # average, not one epoch's weights: early stopping then only stops, it restores nothing.
    weight_ema: float = 0.0
    batch_size_per_replica: int = 16
    epochs: int = 12
    # 0: one pass over the train split per epoch (its examples are counted at the start of training).
    steps_per_epoch: int = 0
    patience: int = 4           # early stopping: epochs without a better eval value of early_stopping_metric
    # What early stopping watches on the eval clips, and which epoch's weights it restores: "loss" (eval
    # cross-entropy) or "accuracy". 200 eval clips make accuracy move in 0.5-point steps and tie often, and
    # it swings between epochs; the loss is a smoother signal (README, "Model quality", r8 vs r9).
    early_stopping_metric: str = "loss"
    # tf.data cache of parsed clips: "memory", "" (none) or a path prefix for an on-disk cache.
    cache: str = "memory"
    shuffle_buffer: int = 512
    # Confusion-matrix images and the classification report go to TensorBoard every this many epochs.
    report_every_epochs: int = 1
    seed: int = 11


@dataclass
class EvaluatorConfig:
    """The Evaluator's blessing: thresholds on the test clips (TFMA) and on real test utterances."""
    # Catches a broken model (chance is 0.5), not a mediocre one: demo runs on the bundled corpus give
    # 0.81-0.91 test-clip accuracy and vary from run to run (see the README), so a floor near them
    # would fail the demo at random.
    accuracy_floor: float = 0.7
    # Allowed drop of accuracy against the latest blessed model (0: no regression at all), on the test
    # clips and on the real test utterances alike.
    max_regression: float = 0.0
    # Real speech: every utterance of the test speakers, classified whole as `audioclf predict` does.
    # A product that tells gender should get 9 of 10 single utterances of unseen speakers right.
    real_accuracy_floor: float = 0.9
    # The model must not be worse than the median-F0 rule (a pitch threshold fitted on the train
    # speakers) on the same utterances by more than this (0.0: not worse at all).
    max_deficit_vs_pitch_rule: float = 0.0
    # Train utterances the pitch rule's threshold is fitted on: round-robin over the train speakers
    # (every voice before a second utterance of any), whole (cutting them to 8 s cost 7 points).
    pitch_fit_utterances: int = 400


@dataclass
class PusherConfig:
    """Where blessed models go: <serving_dir>/<version>/ (empty: <output>/serving)."""
    serving_dir: str = ""


@dataclass
class BeamConfig:
    """Beam runs with the DirectRunner on local processes unless `extra_args` name another runner."""
    direct_num_workers: int = 2
    direct_running_mode: str = "multi_processing"
    extra_args: List[str] = field(default_factory=list)

    def pipeline_args(self) -> List[str]:
        args = list(self.extra_args)
        if not any(a.startswith("--runner") for a in args):
            args += [f"--direct_running_mode={self.direct_running_mode}",
                     f"--direct_num_workers={self.direct_num_workers}"]
        return args


@dataclass
class ResourcesConfig:
    """Kubernetes requests/limits of one container (quantities as Kubernetes writes them)."""
    cpu: str = "2"
    memory: str = "8Gi"
    gpus: int = 0
    gpu_resource: str = "nvidia.com/gpu"   # the extended resource a GPU is requested as
    # Node label value that picks the accelerator (GKE: cloud.google.com/gke-accelerator=nvidia-tesla-t4);
    # empty: no accelerator selector.
    accelerator_type: str = ""
    accelerator_label: str = "cloud.google.com/gke-accelerator"
    node_selector: Dict[str, str] = field(default_factory=dict)   # further node labels

    def node_labels(self) -> Dict[str, str]:
        labels = dict(self.node_selector)
        if self.accelerator_type:
            labels[self.accelerator_label] = self.accelerator_type
        return labels


@dataclass
class TFJobConfig:
    """Multi-worker training as a Kubeflow Training Operator TFJob (kubeflow.trainer_launcher: tfjob)."""
    workers: int = 2
    namespace: str = "kubeflow"
    # The workers' service account: read access to the pipeline root, write access to the model folder
    # (e.g. Workload Identity). Standalone KFP runs its steps as pipeline-runner in `kubeflow`; on
    # multi-user Kubeflow use the profile namespace and its default-editor.
    service_account: str = "pipeline-runner"
    poll_seconds: float = 15.0
    timeout_minutes: float = 720.0
    # Seconds a finished TFJob (and its pods' logs) stays before the operator deletes it.
    ttl_seconds_after_finished: int = 86400


@dataclass
class KubeflowConfig:
    """How `audioclf compile/submit/schedule` build the pipeline for Kubeflow Pipelines (KFP v2)."""
    # The image every step runs (docker/Dockerfile, tagged by docker/build.sh from the project version).
    image: str = "ghcr.io/audioclf/audioclf:0.1.0"
    # Where artifacts go; blessed models go to <pipeline_root>/serving unless pusher.serving_dir is set.
    pipeline_root: str = "gs://audioclf-pipelines/root"
    # Default of the `data_root` run-time parameter: a corpus root the pods can read, several separated
    # by commas, or a JSON list of {root, format, name} (corpus.sources, when set, is used instead).
    data_root: str = "gs://audioclf-pipelines/data/LibriSpeech"
    components: ResourcesConfig = field(default_factory=ResourcesConfig)   # every step but the Trainer
    trainer: ResourcesConfig = field(default_factory=lambda: ResourcesConfig(cpu="4", memory="16Gi"))
    # "pod": TFX's Trainer trains in its own pod (one worker; GPUs there are used by a mirrored strategy);
    # "tfjob": the Trainer step creates a TFJob with tfjob.workers workers (trainer resources each) and waits.
    trainer_launcher: str = "pod"
    tfjob: TFJobConfig = field(default_factory=TFJobConfig)
    experiment: str = "audioclf"


@dataclass
class PipelineConfig:
    name: str = "audioclf"
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)
    examples: ExamplesConfig = field(default_factory=ExamplesConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    pusher: PusherConfig = field(default_factory=PusherConfig)
    beam: BeamConfig = field(default_factory=BeamConfig)
    kubeflow: KubeflowConfig = field(default_factory=KubeflowConfig)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def section_json(self, section: str) -> str:
        """One section as canonical JSON: what a component receives as an execution property, so
        that a change elsewhere in the config does not invalidate that component's cache."""
        return json.dumps(dataclasses.asdict(getattr(self, section)), sort_keys=True)


SECTIONS = {"corpus": CorpusConfig, "synthesis": SynthesisConfig, "examples": ExamplesConfig,
            "trainer": TrainerConfig, "evaluator": EvaluatorConfig, "pusher": PusherConfig, "beam": BeamConfig, "kubeflow": KubeflowConfig}
# Sub-sections inside a section.
SUBSECTIONS = {(KubeflowConfig, "components"): ResourcesConfig, (KubeflowConfig, "trainer"): ResourcesConfig,
               (KubeflowConfig, "tfjob"): TFJobConfig}


def section_from_json(cls, text: str):
    return _build(cls, json.loads(text), cls.__name__)


def _build(cls, values: Dict[str, Any], where: str):
    if not isinstance(values, dict):
        raise AudioClfError(f"config: '{where}' must be a mapping, got {values!r}.")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise AudioClfError(f"config: unknown setting(s) {', '.join(where + '.' + k for k in unknown)}; "
                            f"known: {', '.join(sorted(known))}.")
    kwargs = {}
    for key, value in values.items():
        sub = SECTIONS.get(key) if cls is PipelineConfig else SUBSECTIONS.get((cls, key))
        kwargs[key] = _build(sub, value, key) if sub else value
    return cls(**kwargs)


def _set_dotted(values: Dict[str, Any], assignment: str) -> None:
    if "=" not in assignment:
        raise AudioClfError(f"--set {assignment!r}: expected section.key=value, e.g. synthesis.clip_seconds=5.")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise AudioClfError(f"--set {key}: '{part}' is not a section.")
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""


def _merge(base: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key not in ("split_fractions", "clips", "node_selector"):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def load_config(path: Optional[str] = None, overrides: Sequence[str] = ()) -> PipelineConfig:
    """Defaults, then the file at `path` (YAML or JSON), then each `section.key=value` override."""
    values = PipelineConfig().to_dict()
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                loaded = yaml.safe_load(f) or {}
        except FileNotFoundError as err:
            raise AudioClfError(f"config file {path} not found; pass an existing YAML/JSON file to --config.") from err
        except yaml.YAMLError as err:
            raise AudioClfError(f"config file {path} is not valid YAML/JSON: {err}") from err
        _merge(values, loaded)
    explicit: Dict[str, Any] = {}
    for assignment in overrides:
        _set_dotted(explicit, assignment)
    _merge(values, explicit)
    config = _build(PipelineConfig, values, "config")
    validate(config)
    return config


def _check_range(name: str, pair, low_bound=None) -> None:
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] <= pair[1]):
        raise AudioClfError(f"config: {name} must be [low, high] with low <= high, got {pair!r}.")
    if low_bound is not None and pair[0] < low_bound:
        raise AudioClfError(f"config: {name} must not go below {low_bound}, got {pair!r}.")


def validate(config: PipelineConfig) -> None:
    """Refuses settings that cannot work, naming the setting and what to change."""
    fractions = config.corpus.split_fractions
    if sorted(fractions) != sorted(SPLITS):
        raise AudioClfError(f"config: corpus.split_fractions must name exactly {', '.join(SPLITS)}; got {sorted(fractions)}.")
    if any(v <= 0 for v in fractions.values()):
        raise AudioClfError(f"config: every corpus.split_fractions value must be > 0; got {fractions}.")
    if not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-6):
        raise AudioClfError(f"config: corpus.split_fractions add up to {sum(fractions.values()):g}, not 1; "
                            f"got {fractions}. Adjust them so that train + eval + test = 1.")
    syn = config.synthesis
    if syn.sample_rate < 4000:
        raise AudioClfError(f"config: synthesis.sample_rate={syn.sample_rate} is too low for speech; use >= 4000 Hz.")
    if syn.min_piece_seconds <= 0:
        raise AudioClfError("config: synthesis.min_piece_seconds must be > 0.")
    if syn.clip_seconds < syn.min_piece_seconds:
        raise AudioClfError(f"config: synthesis.clip_seconds={syn.clip_seconds:g} is shorter than the shortest "
                            f"allowed utterance piece, synthesis.min_piece_seconds={syn.min_piece_seconds:g}; "
                            f"raise clip_seconds or lower min_piece_seconds.")
    if sorted(syn.clips) != sorted(SPLITS):
        raise AudioClfError(f"config: synthesis.clips must give a count for each of {', '.join(SPLITS)}; got {syn.clips}.")
    for split, count in syn.clips.items():
        if not isinstance(count, int) or count <= 0:
            raise AudioClfError(f"config: synthesis.clips.{split}={count!r}: zero clips requested; "
                                f"every split needs at least one clip (2 or more for both labels).")
    for name in ("simultaneous_probability", "crop_probability", "noise_probability"):
        if not 0.0 <= getattr(syn, name) <= 1.0:
            raise AudioClfError(f"config: synthesis.{name} must be within [0, 1].")
    _check_range("synthesis.noise_snr_db", syn.noise_snr_db)
    _check_range("synthesis.speakers_per_clip", syn.speakers_per_clip, 1)
    _check_range("synthesis.pause_seconds", syn.pause_seconds, 0.0)
    _check_range("synthesis.gain_db", syn.gain_db)
    _check_range("synthesis.speed", syn.speed)
    if syn.speed[0] <= 0:
        raise AudioClfError("config: synthesis.speed factors must be > 0.")
    if syn.mixed_class and syn.speakers_per_clip[1] < 2:
        raise AudioClfError("config: synthesis.mixed_class needs synthesis.speakers_per_clip to allow 2 or more speakers.")
    if config.examples.audio_encoding not in ("pcm16", "float"):
        raise AudioClfError(f"config: examples.audio_encoding={config.examples.audio_encoding!r}; use 'pcm16' or 'float'.")
    if config.examples.num_shards < 1:
        raise AudioClfError("config: examples.num_shards must be >= 1.")
    tr = config.trainer
    if len(tr.conv_filters) != 4 or len(tr.kernel_size) != 3:
        raise AudioClfError("config: trainer.conv_filters needs 4 values (one per block) and trainer.kernel_size 3.")
    if tr.normalization not in ("band_mean", "max", "none"):
        raise AudioClfError(f"config: trainer.normalization={tr.normalization!r}; use band_mean, max or none.")
    if tr.lr_schedule not in ("constant", "cosine"):
        raise AudioClfError(f"config: trainer.lr_schedule={tr.lr_schedule!r}; use constant or cosine.")
    if tr.pooling not in ("max", "avg", "time_max", "time_avg"):
        raise AudioClfError(f"config: trainer.pooling={tr.pooling!r}; use max, avg, time_max or time_avg.")
    if tr.early_stopping_metric not in ("loss", "accuracy"):
        raise AudioClfError(f"config: trainer.early_stopping_metric={tr.early_stopping_metric!r}; use loss or accuracy.")
    if not 0.0 <= tr.weight_ema < 1.0:
        raise AudioClfError(f"config: trainer.weight_ema={tr.weight_ema} must be within [0, 1) (0: off; e.g. 0.99).")
    if not 0.0 <= tr.label_smoothing < 1.0:
        raise AudioClfError("config: trainer.label_smoothing must be within [0, 1).")
    if min(tr.time_masks, tr.freq_masks, tr.time_mask_frames, tr.freq_mask_bins) < 0:
        raise AudioClfError("config: trainer.time_masks, freq_masks, time_mask_frames and freq_mask_bins must be >= 0.")
    if tr.delta_win_length < 3 or tr.delta_win_length % 2 == 0:
        raise AudioClfError("config: trainer.delta_win_length must be an odd number >= 3.")
    for name in ("batch_size_per_replica", "epochs", "patience", "report_every_epochs", "shuffle_buffer"):
        if getattr(tr, name) < 1:
            raise AudioClfError(f"config: trainer.{name} must be >= 1, got {getattr(tr, name)}.")
    if tr.steps_per_epoch < 0:
        raise AudioClfError("config: trainer.steps_per_epoch must be >= 0 (0: one pass over the train split).")
    ev = config.evaluator
    if ev.accuracy_floor < 0:
        raise AudioClfError(f"config: evaluator.accuracy_floor={ev.accuracy_floor} must be >= 0 (above 1 nothing is blessed).")
    if ev.max_regression < 0:
        raise AudioClfError("config: evaluator.max_regression must be >= 0.")
    if ev.real_accuracy_floor < 0 or ev.max_deficit_vs_pitch_rule < 0:
        raise AudioClfError("config: evaluator.real_accuracy_floor and evaluator.max_deficit_vs_pitch_rule must be >= 0.")
    if ev.pitch_fit_utterances < 2:
        raise AudioClfError("config: evaluator.pitch_fit_utterances must be >= 2.")
    co = config.corpus
    if isinstance(co.subsets, str):
        co.subsets = [co.subsets]   # one subset named as a string, not its characters
    if not isinstance(co.sources, list):
        co.sources = [co.sources]
    if co.min_speakers_to_split < len(SPLITS):
        raise AudioClfError(f"config: corpus.min_speakers_to_split must be >= {len(SPLITS)} (one speaker of each "
                            f"gender per split).")
    if config.beam.direct_num_workers < 1:
        raise AudioClfError("config: beam.direct_num_workers must be >= 1.")
    kf = config.kubeflow
    if kf.trainer_launcher not in ("pod", "tfjob"):
        raise AudioClfError(f"config: kubeflow.trainer_launcher={kf.trainer_launcher!r}; use 'pod' or 'tfjob'.")
    if kf.tfjob.workers < 1:
        raise AudioClfError("config: kubeflow.tfjob.workers must be >= 1.")
    for name in ("components", "trainer"):
        res = getattr(kf, name)
        if res.gpus < 0:
            raise AudioClfError(f"config: kubeflow.{name}.gpus must be >= 0.")
        # Quantities are strings in Kubernetes; YAML reads `cpu: 2` as a number.
        res.cpu, res.memory = str(res.cpu), str(res.memory)


def clip_samples(synthesis: SynthesisConfig) -> int:
    """Samples in every clip (and so in every model input window)."""
    return int(round(synthesis.clip_seconds * synthesis.sample_rate))


def label_names(config: PipelineConfig) -> List[str]:
    return LABEL_NAMES[:num_classes(config)]


def num_classes(config: PipelineConfig) -> int:
    return synthesis_classes(config.synthesis)


def synthesis_classes(synthesis: SynthesisConfig) -> int:
    """Classes the clips are labelled with: male and female, plus mixed with synthesis.mixed_class."""
    return 3 if synthesis.mixed_class else 2
