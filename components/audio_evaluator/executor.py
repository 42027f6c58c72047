"""AudioEvaluator executor: sets the accuracy floor from the run-time parameter, then runs TFX's Evaluator."""
import logging
from typing import Any, Dict, List

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from pipeline import evaluation
from pipeline.errors import AudioClfError

ACCURACY_FLOOR_KEY = "accuracy_floor"


class Executor(evaluator_executor.Executor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        floor = float(exec_properties[ACCURACY_FLOOR_KEY])
        if floor < 0:
            raise AudioClfError(f"run-time parameter accuracy_floor={floor:g} must be >= 0 (1.0 or more blesses nothing).")
        key = standard_component_specs.EVAL_CONFIG_KEY
        config = proto_utils.json_to_proto(exec_properties[key], tfma.EvalConfig())
        evaluation.set_accuracy_floor(config, floor)
        logging.info("evaluator: blessing needs %s >= %g on the overall %s split", evaluation.ACCURACY, floor,
                     evaluation.EVAL_SPLIT)
        properties = dict(exec_properties)
        properties[key] = proto_utils.proto_to_json(config)
        del properties[ACCURACY_FLOOR_KEY]
        super().Do(input_dict, output_dict, properties)
