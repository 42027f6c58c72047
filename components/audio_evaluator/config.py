"""The `evaluator` settings section: what blesses a model."""
from dataclasses import dataclass
from typing import ClassVar

from components.common.settings import setting


@dataclass
class EvaluatorConfig:
    """The Evaluator's blessing: thresholds on the test clips (TFMA) and on real test utterances."""
    SECTION: ClassVar[str] = "evaluator"   # its name in the config, in messages
    # Catches a broken model (chance is 0.5), not a mediocre one: demo runs on the bundled corpus give
    # 0.81-0.91 test-clip accuracy and vary from run to run (see the README), so a floor near them
    # would fail the demo at random.
    accuracy_floor: float = setting(0.7, low=0.0, high=2.0, note="above 1.0 nothing is blessed")
    # Allowed drop of accuracy against the latest blessed model (0: no regression at all), on the test
    # clips and on the real test utterances alike.
    max_regression: float = setting(0.0, low=0.0, high=1.0)
    # Real speech: every utterance of the test speakers, classified whole as `audioclf predict` does.
    # A product that tells gender should get 9 of 10 single utterances of unseen speakers right.
    real_accuracy_floor: float = setting(0.9, low=0.0, high=2.0, note="above 1.0 nothing is blessed")
    # The model must not be worse than the median-F0 rule (a pitch threshold fitted on the train
    # speakers) on the same utterances by more than this (0.0: not worse at all).
    max_deficit_vs_pitch_rule: float = setting(0.0, low=0.0, high=1.0)
    # Train utterances the pitch rule's threshold is fitted on: round-robin over the train speakers
    # (every voice before a second utterance of any), whole (cutting them to 8 s cost 7 points).
    pitch_fit_utterances: int = setting(400, low=2, high=10 ** 7)
    # Folder keeping each audio file's median F0 (pitch rule) between runs, keyed by a hash of the file's
    # bytes and the F0 settings; "" turns it off. pYIN takes ~2.5 of the demo's minutes on its first run.
    f0_cache: str = "~/.cache/audioclf/f0"
