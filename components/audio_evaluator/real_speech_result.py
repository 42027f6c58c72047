"""The shape of `real_speech.json`, the real-speech gate's result: typed, so that the Evaluator refuses to
write a result its readers (summary.json, the report, bench) could not read, and they read fields instead
of digging with `.get` chains. pipeline/summary_schema.py embeds it in summary.json's schema.
"""
from typing import Dict, List, Optional

import pydantic


class Strict(pydantic.BaseModel):
    """Unknown fields are refused: a renamed field fails at the writer, not silently at a reader."""
    model_config = pydantic.ConfigDict(extra="forbid")


class ClassScores(Strict):
    """None: undefined (nothing predicted as, or no utterance of, the class)."""
    precision: Optional[float]
    recall: Optional[float]
    support: int


class Scores(Strict):
    """Accuracy with its 95 % Wilson interval and precision/recall per class, on `n` utterances."""
    n: int
    correct: int
    accuracy: Optional[float]
    ci95: Optional[List[float]]
    per_class: Dict[str, ClassScores]


class PitchRuleScores(pydantic.BaseModel):
    """The rule's scores per corpus ("overall" and each corpus name, as extra fields) and how it was fitted."""
    model_config = pydantic.ConfigDict(extra="allow")
    __pydantic_extra__: Dict[str, Scores]
    threshold_hz: float
    fit_utterances: int
    fit_speakers: int
    no_f0: int

    @property
    def by_corpus(self) -> Dict[str, Scores]:
        return dict(self.__pydantic_extra__ or {})


class Condition(Strict):
    name: str
    value: float
    required: float
    text: str
    passed: bool


class Gate(Strict):
    passed: bool
    conditions: List[Condition]
    failures: List[str]


class WrongUtterance(Strict):
    path: str
    corpus: str
    speaker: str
    truth: str
    label: Optional[str]
    probability: Optional[float]
    f0: Optional[float]
    pitch_rule_right: bool


class Unreadable(Strict):
    path: str
    error: str


class RealSpeechResult(Strict):
    """What real_speech.evaluate measured. `model`, `baseline_model`: scores per corpus and "overall"."""
    utterances: int
    seconds: float
    speakers: int
    speakers_per_corpus: Dict[str, int]
    model: Dict[str, Scores]
    pitch_rule: PitchRuleScores
    baseline_model: Optional[Dict[str, Scores]]
    wrong: List[WrongUtterance]
    wrong_count: int
    unreadable: List[Unreadable]
    seconds_taken: float
    gate: Gate
    # Set by the Evaluator's executor: TFMA's verdict on the test clips, and the final blessing (both).
    clips_blessed: Optional[bool] = None
    blessed: Optional[bool] = None

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)
