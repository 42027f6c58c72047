"""Every setting of the pipeline, composed in one place.

Each section is defined by the code that owns it (components/*/config.py, trainer/config.py); this
module assembles them into `PipelineConfig`, which drives the local run, the Kubeflow compile and the
tests (tests shrink it with overrides; they do not fork it). A config file (YAML or JSON) holds any
subset of the sections; `--set section.key=value` overrides single values on top of it.

`load_config` refuses a bad setting before anything runs, in one line naming it (exit code 2): each value
is coerced to its field's type, or refused, and checked against the range declared with the field
(components/common/settings.py); each section's `validate()` then checks its rules between settings, and
`validate` below those between sections. The memory the settings imply is checked by the commands
(pipeline/memory.py): against this machine for `audioclf run`, against the pods for a compile.
"""
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import yaml

from components.audio_evaluator.config import EvaluatorConfig
from components.audio_example_gen.config import ExamplesConfig
from components.audio_synthesis.config import SynthesisConfig, clip_samples, label_names as synthesis_label_names
from components.audio_synthesis.config import synthesis_classes
from components.audio_trainer.config import KubeflowConfig, ResourcesConfig, TFJobConfig
from components.common import beam_args
from components.common.errors import AudioClfError
from components.common.settings import ROOT, build_section, section_from_json, setting
from components.common.vocabulary import GENDERS, LABEL_NAMES, LABELS, SPLITS
from components.speaker_index.config import CorpusConfig
from serving.config import ServingConfig
from trainer.config import TrainerConfig

# The names above are this module's vocabulary too: the CLI, runners, report and bench read them here.
__all__ = ["PipelineConfig", "CorpusConfig", "SynthesisConfig", "ExamplesConfig", "TrainerConfig", "EvaluatorConfig",
           "PusherConfig", "BeamConfig", "KubeflowConfig", "ResourcesConfig", "TFJobConfig", "SPLITS", "GENDERS",
           "LABELS", "LABEL_NAMES", "load_config", "validate", "section_from_json", "clip_samples", "label_names",
           "num_classes", "synthesis_classes"]


@dataclass
class PusherConfig:
    """Where blessed models go: <serving_dir>/<version>/ (empty: <output>/serving)."""
    serving_dir: str = ""


@dataclass
class BeamConfig:
    """Beam runs with the DirectRunner on local processes unless `extra_args` name another runner."""
    # Local Beam worker processes, 1-256 (each holds its clips and synthesis.cache_mb of utterances).
    direct_num_workers: int = setting(2, low=1, high=256)
    direct_running_mode: str = "multi_processing"
    extra_args: List[str] = field(default_factory=list)

    def pipeline_args(self, image: str) -> List[str]:
        """The Beam arguments of every Beam component: `extra_args` naming a runner go through untouched;
        else the DirectRunner's, with the step's `image` named so that TFX stages nothing
        (components/common/beam_args.py)."""
        if any(a.startswith("--runner") for a in self.extra_args):
            return list(self.extra_args)
        return beam_args.direct_runner(self.direct_running_mode, self.direct_num_workers, image, self.extra_args)


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
    serving: ServingConfig = field(default_factory=ServingConfig)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def beam_pipeline_args(self) -> List[str]:
        """The Beam arguments of every Beam component (BeamConfig.pipeline_args with the step image)."""
        return self.beam.pipeline_args(self.kubeflow.image)

    def section_json(self, section: str) -> str:
        """One section as canonical JSON: what a component receives as an execution property, so
        that a change elsewhere in the config does not invalidate that component's cache."""
        return json.dumps(dataclasses.asdict(getattr(self, section)), sort_keys=True)


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
    try:
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        problem = str(err).splitlines()[0]
        raise AudioClfError(f"--set {key}={raw}: the value is not valid YAML ({problem}).") from err


def _merge(base: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    for key, value in extra.items():
        whole = key in ("split_fractions", "clips", "node_selector")   # mappings replaced as a whole, not merged
        if isinstance(value, dict) and isinstance(base.get(key), dict) and not whole:
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _read_file(path: str) -> Dict[str, Any]:
    """The mapping of sections in the YAML/JSON file at `path` (an empty file: no settings)."""
    try:
        with open(path, encoding="utf-8") as f:
            loaded = yaml.safe_load(f)
    except FileNotFoundError as err:
        raise AudioClfError(f"config file {path} not found; pass an existing YAML/JSON file to --config.") from err
    except IsADirectoryError as err:
        raise AudioClfError(f"config file {path} is a folder; pass a YAML/JSON file to --config.") from err
    except UnicodeDecodeError as err:
        raise AudioClfError(f"config file {path} is not text (byte {err.start} is not UTF-8); pass a YAML/JSON "
                            f"file to --config.") from err
    except OSError as err:
        raise AudioClfError(f"config file {path} cannot be read: {err.strerror}.") from err
    except yaml.YAMLError as err:
        problem = " ".join(str(err).split())
        raise AudioClfError(f"config file {path} is not valid YAML/JSON: {problem}") from err
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise AudioClfError(f"config file {path} holds a {type(loaded).__name__} ({str(loaded)[:60]}), not a mapping "
                            f"of sections (e.g. `synthesis: {{clip_seconds: 4}}`).")
    return loaded


def load_config(path: Optional[str] = None, overrides: Sequence[str] = ()) -> PipelineConfig:
    """Defaults, then the file at `path` (YAML or JSON), then each `section.key=value` override."""
    values = PipelineConfig().to_dict()
    if path:
        _merge(values, _read_file(path))
    explicit: Dict[str, Any] = {}
    for assignment in overrides:
        _set_dotted(explicit, assignment)
    _merge(values, explicit)
    config = build_section(PipelineConfig, values, ROOT)
    validate(config)
    return config


def validate(config: PipelineConfig) -> None:
    """Refuses settings that cannot work, naming the setting and what to change: each section checks
    itself (its owner knows its rules)."""
    for section in dataclasses.fields(config):
        check = getattr(getattr(config, section.name), "validate", None)
        if check:
            check()
    samples, nyquist = clip_samples(config.synthesis), config.synthesis.sample_rate / 2
    if config.trainer.n_fft > samples:
        raise AudioClfError(f"config: trainer.n_fft={config.trainer.n_fft} is longer than a clip ({samples} samples: "
                            f"synthesis.clip_seconds x synthesis.sample_rate); lower n_fft or lengthen the clips.")
    for name in ("mel_f_min", "mel_f_max"):
        if getattr(config.trainer, name) > nyquist:
            raise AudioClfError(f"config: trainer.{name}={getattr(config.trainer, name):g} is above half the sample rate "
                                f"({nyquist:g} Hz at synthesis.sample_rate={config.synthesis.sample_rate}).")
    config.trainer.check_sample_rate(config.synthesis.sample_rate)


def label_names(config: PipelineConfig) -> List[str]:
    return synthesis_label_names(config.synthesis)


def num_classes(config: PipelineConfig) -> int:
    return synthesis_classes(config.synthesis)
