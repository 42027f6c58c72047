"""AudioEvaluator executor: TFX's Evaluator on the test clips, then the real-speech gate on the same blessing.

1. The run-time `accuracy_floor` goes into the TFMA config and TFX's Evaluator runs (test clips, the
   comparison with the latest blessed model, BLESSED/NOT_BLESSED).
2. real_speech.py scores the model, the pitch rule and the latest blessed model on the real utterances of
   the test speakers; the result is written beside TFMA's output as `real_speech.json`.
3. A model that TFMA blessed but that fails the real-speech gate is marked NOT_BLESSED on the same
   blessing artifact, so the Pusher and the next run's LatestBlessedModelStrategy see one verdict.
"""
import logging
import os
from typing import Any, Dict, List

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components.evaluator import constants
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import path_utils, proto_utils

from components.audio_evaluator import real_speech
from components.common import fs
from components.audio_evaluator.tfma_config import EVAL_SPLIT, set_accuracy_floor
from trainer.config import ACCURACY_METRIC
from components.speaker_index.executor import read_index
from components.audio_evaluator.config import EvaluatorConfig
from components.common.settings import section_from_json
from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

ACCURACY_FLOOR_KEY = "accuracy_floor"
EVALUATOR_CONFIG_KEY = "evaluator_config"
SPEAKER_INDEX_KEY = "speaker_index"
PITCH_WORKERS_KEY = "pitch_workers"


def _serving_dir(artifacts: List[types.Artifact]):
    return path_utils.serving_model_path(artifacts[0].uri) if artifacts else None


def _withdraw_blessing(blessing: types.Artifact) -> None:
    """Turns TFX's BLESSED verdict into NOT_BLESSED: the marker file and the `blessed` property."""
    blessed_file = os.path.join(blessing.uri, constants.BLESSED_FILE_NAME)
    if tf.io.gfile.exists(blessed_file):
        tf.io.gfile.remove(blessed_file)
    fs.write_text(os.path.join(blessing.uri, constants.NOT_BLESSED_FILE_NAME), "")
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, constants.NOT_BLESSED_VALUE)


class Executor(evaluator_executor.Executor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        floor = float(exec_properties[ACCURACY_FLOOR_KEY])
        if floor < 0:
            raise AudioClfError(f"run-time parameter accuracy_floor={floor:g} must be >= 0 (above 1.0 nothing is blessed).")
        key = standard_component_specs.EVAL_CONFIG_KEY
        config = proto_utils.json_to_proto(exec_properties[key], tfma.EvalConfig())
        set_accuracy_floor(config, floor)
        log.info("evaluator: blessing needs %s >= %g on the overall %s split", ACCURACY_METRIC, floor, EVAL_SPLIT)
        properties = {k: v for k, v in exec_properties.items()
                      if k not in (ACCURACY_FLOOR_KEY, EVALUATOR_CONFIG_KEY, PITCH_WORKERS_KEY)}
        properties[key] = proto_utils.proto_to_json(config)
        tfx_inputs = {k: v for k, v in input_dict.items() if k != SPEAKER_INDEX_KEY}
        super().Do(tfx_inputs, output_dict, properties)

        blessing = artifact_utils.get_single_instance(output_dict[standard_component_specs.BLESSING_KEY])
        evaluation_uri = artifact_utils.get_single_uri(output_dict[standard_component_specs.EVALUATION_KEY])
        clips_blessed = blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == constants.BLESSED_VALUE
        ev_config = section_from_json(EvaluatorConfig, exec_properties[EVALUATOR_CONFIG_KEY])
        index = read_index(artifact_utils.get_single_uri(input_dict[SPEAKER_INDEX_KEY]))
        model_dir = _serving_dir(input_dict[standard_component_specs.MODEL_KEY])
        baseline_dir = _serving_dir(input_dict.get(standard_component_specs.BASELINE_MODEL_KEY) or [])
        result = real_speech.evaluate(index, real_speech.model_classifier(model_dir),
                                      real_speech.model_classifier(baseline_dir), ev_config,
                                      workers=int(exec_properties.get(PITCH_WORKERS_KEY) or 1))
        result.clips_blessed = clips_blessed
        result.blessed = clips_blessed and result.gate.passed
        fs.write_text(os.path.join(evaluation_uri, real_speech.RESULT_FILE), result.to_json())
        log.info("evaluator: real speech: model %.4f, pitch rule %.4f on %d test utterances of %d speakers: %s",
                 result.model["overall"].accuracy, result.pitch_rule.by_corpus["overall"].accuracy, result.utterances,
                 result.speakers, "gate passed" if result.gate.passed else "gate FAILED: " + "; ".join(result.gate.failures))
        if clips_blessed and not result.gate.passed:
            _withdraw_blessing(blessing)
