"""The `evaluator` settings section: what blesses a model."""
from dataclasses import dataclass

from components.common.errors import AudioClfError


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

    def validate(self) -> None:
        """Refuses settings that cannot work, naming the setting and what to change."""
        if self.accuracy_floor < 0:
            raise AudioClfError(f"config: evaluator.accuracy_floor={self.accuracy_floor} must be >= 0 "
                                "(above 1.0 nothing is blessed).")
        if self.max_regression < 0:
            raise AudioClfError("config: evaluator.max_regression must be >= 0.")
        if self.real_accuracy_floor < 0 or self.max_deficit_vs_pitch_rule < 0:
            raise AudioClfError("config: evaluator.real_accuracy_floor and evaluator.max_deficit_vs_pitch_rule must be >= 0.")
        if self.pitch_fit_utterances < 2:
            raise AudioClfError("config: evaluator.pitch_fit_utterances must be >= 2.")
