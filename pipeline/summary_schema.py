"""The shape of `summary.json`, typed: pipeline/summary.py writes a `RunSummary`, and everything that reads
one (the CLI, the report, bench) loads it with `load` and reads fields.

`summary.schema.json` beside this file is the same shape as JSON Schema, for readers outside Python; it is
generated from these classes (`python -m pipeline.summary_schema > pipeline/summary.schema.json`) and a
test keeps the two equal.
"""
import json
import sys
from typing import Dict, List, Literal, Optional, Tuple

import pydantic

from components.audio_evaluator.real_speech_result import RealSpeechResult, Strict
from components.common import fs
from components.common.errors import AudioClfError

SCHEMA_FILE = "summary.schema.json"


class ComponentRun(Strict):
    """One component's execution in the run (ML Metadata): its state and the artifact URIs it read and wrote."""
    status: Literal["complete", "cached", "failed", "running", "interrupted", "new", "canceled", "unknown", "not run"]
    execution_id: Optional[int] = None
    inputs: Dict[str, List[str]] = {}
    outputs: Dict[str, List[str]] = {}


class CorpusFacts(Strict):
    """One corpus as the speaker index read it (components/speaker_index/corpus.py)."""
    root: str
    format: str
    read_skipped: Dict[str, int]
    notes: List[str]
    minors_left_out: int
    speakers_read: int
    split: str
    speakers: int
    files: int
    seconds: float
    speakers_per_split: Dict[str, Dict[str, int]]
    # Audio files reached through symbolic links that lead out of the root, and a few of them
    # (corpus.refuse_links_outside_root refuses them); 0 in summaries written before this count.
    links_outside_root: int = 0
    links_outside_root_examples: List[str] = []


class SkippedFile(Strict):
    path: str
    reason: str


class CorpusPart(Strict):
    corpora: Dict[str, CorpusFacts]
    speakers: int
    files: int
    minors_left_out: int
    min_age: float
    skipped_files: List[SkippedFile]


class SkippedUtterances(Strict):
    """Utterances AudioSynthesis drew for a clip but did not use (components/audio_synthesis/synthesis.py:
    undecodable with corpus.skip_corrupt, too short for synthesis.min_piece_seconds, or silent under
    synthesis.min_speech_dbfs): distinct files, per reason, and the first few by path."""
    count: int
    by_reason: Dict[str, int]
    examples: List[SkippedFile]


class SplitPart(Strict):
    """The speakers the index put in a split (gender -> ids) and the clips synthesized from them; a part
    is missing when its component did not run."""
    speakers_in_split: Optional[Dict[str, List[str]]] = None
    clips: Optional[int] = None
    speaker_ids: Optional[List[str]] = None
    label_counts: Optional[Dict[str, int]] = None
    mode_counts: Optional[Dict[str, int]] = None


class Training(Strict):
    """From the Trainer's training.json (trainer/task.py); eval_report: the best epoch's eval-split report."""
    strategy: Optional[str] = None
    replicas: Optional[int] = None
    global_batch: Optional[int] = None
    train_clips: Optional[int] = None
    eval_clips: Optional[int] = None
    steps_per_epoch: Optional[int] = None
    epochs_run: Optional[int] = None
    best_epoch: Optional[int] = None
    stopped_early: Optional[bool] = None
    best_eval_accuracy: Optional[float] = None
    kept_weights: Optional[str] = None
    early_stopping_metric: Optional[str] = None
    eval_report: Optional[dict] = None
    # trainer.speaker_embedding_head=fitted: what the head was fitted on (clips per class, C, weight, window
    # step) and its accuracy on those clips (trainer/speaker_head.py); None without it.
    speaker_head: Optional[dict] = None


class Validation(Strict):
    """TFMA's verdict on the test clips; failures: one sentence per failed threshold."""
    ok: bool
    failures: List[str]
    compared_with_baseline: bool


class TestClips(Strict):
    """TFMA on the test split: slice -> metric -> value (None: NaN), the overall confusion matrix (rows: true
    class), the verdict and the evaluation artifact's URI."""
    __test__ = False  # not a pytest class
    metrics: Dict[str, Dict[str, Optional[float]]]
    confusion_matrix: Optional[List[List[int]]]
    validation: Validation
    evaluation: str


class ModelPart(Strict):
    """Training, test-clip metrics, the real-speech gate, blessing and push; each part is None when its
    component did not run (e.g. the anomaly gate stopped the run)."""
    model: Optional[str] = None
    training: Optional[Training] = None
    test: Optional[TestClips] = None
    real_speech: Optional[RealSpeechResult] = None
    baseline_model: Optional[str] = None
    blessed: Optional[bool] = None
    pushed: Optional[bool] = None
    pushed_model: Optional[str] = None

    def test_metric(self, name: str, slice_name: str = "overall") -> Optional[float]:
        return self.test.metrics.get(slice_name, {}).get(name) if self.test else None

    def not_blessed_reasons(self) -> List[str]:
        """Why a model was not blessed: TFMA's failed thresholds on the test clips and the real-speech gate's."""
        reasons = list(self.test.validation.failures) if self.test else []
        reasons += self.real_speech.gate.failures if self.real_speech else []
        return reasons or ["no blessing was recorded"]


class RunSummary(Strict):
    """What a run did: status (a failed run names its error; an interrupted one, the signal and the component
    it was running, None when it was between components), the components in pipeline order, the corpora
    read, the clips per split and the model."""
    pipeline: str
    run_id: Optional[str]
    status: Literal["complete", "failed", "interrupted"]
    error: Optional[str]
    interrupted_at: Optional[str] = None
    components: Dict[str, ComponentRun]
    corpus: Optional[CorpusPart]
    splits: Dict[str, SplitPart]
    model: ModelPart
    # None when AudioSynthesis did not run (and in summaries written before this part existed).
    skipped_utterances: Optional[SkippedUtterances] = None

    def output_uri(self, component: str, key: str) -> Optional[str]:
        return output_uri(self.components, component, key)

    def status_of(self, component: str) -> str:
        entry = self.components.get(component)
        return entry.status if entry else "not run"

    def stopped_at(self) -> Optional[Tuple[Optional[str], str]]:
        """(component, error) of a failed run: the first component whose execution failed (None when the
        run failed outside any component), or of an interrupted run (interrupted_at); None for a run that
        ended by itself."""
        if self.status == "interrupted":
            return self.interrupted_at, self.error or "interrupted"
        if self.status != "failed":
            return None
        failed = [name for name, entry in self.components.items() if entry.status == "failed"]
        return (failed[0] if failed else None), self.error or "no error message was recorded"

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def output_uri(components: Dict[str, ComponentRun], component: str, key: str) -> Optional[str]:
    """The first URI `component` wrote under output `key` (None when it did not run or wrote nothing there)."""
    entry = components.get(component)
    uris = entry.outputs.get(key) if entry else None
    return uris[0] if uris else None


def load(path: str) -> RunSummary:
    """The summary at `path`; a missing, unparsable or misshapen file is a user error that names the file,
    the first wrong field and what to do."""
    if not fs.exists(path):
        raise AudioClfError(f"{path} is missing; pass the --output folder of a finished `audioclf run`.")
    try:
        return RunSummary.model_validate_json(fs.read_text(path))
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        problem = "not valid JSON" if first["type"] == "json_invalid" else f"{where}: {first['msg']}"
        raise AudioClfError(f"{path} is not a summary this version can read ({problem}; {err.error_count()} "
                            f"problem(s)); run `audioclf run` into that folder again to rewrite it.") from err


def json_schema() -> dict:
    return RunSummary.model_json_schema()


if __name__ == "__main__":
    json.dump(json_schema(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
