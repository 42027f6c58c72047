"""AnomalyGate executor: stops the run when ExampleValidator found anomalies in any split.

ExampleValidator records anomalies but does not stop anything; the Trainer runs after this gate
(an explicit upstream dependency), so a run with anomalies fails here, naming each split, feature and
anomaly, and no model is trained or pushed.
"""
import logging
import os
from typing import Any, Dict, List

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.common.errors import AudioClfError

log = logging.getLogger(__name__)

ANOMALIES_KEY = "anomalies"
ANOMALIES_FILE = "SchemaDiff.pb"  # ExampleValidator's file in each Split-<name> folder


def read_anomalies(anomalies_artifact: types.Artifact) -> Dict[str, List[str]]:
    """Split -> one line per anomaly ("feature: short description: description")."""
    found: Dict[str, List[str]] = {}
    for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies_artifact], split), ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(io_utils.read_bytes_file(path))
        lines = [f"{feature}: {info.short_description}: {info.description}"
                 for feature, info in sorted(anomalies.anomaly_info.items())]
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            lines.append(f"(dataset): {info.short_description}: {info.description}")
        found[split] = lines
    return found


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        anomalies_artifact = artifact_utils.get_single_instance(input_dict[ANOMALIES_KEY])
        found = read_anomalies(anomalies_artifact)
        bad = {split: lines for split, lines in found.items() if lines}
        if bad:
            details = "; ".join(f"split {split}: {line}" for split, lines in bad.items() for line in lines)
            raise AudioClfError(f"ExampleValidator found anomalies, so no model is trained: {details}. "
                                f"See {anomalies_artifact.uri}; fix the data (or the config that fixes the schema's "
                                f"domains, e.g. synthesis.sample_rate) and run again.")
        log.info("anomaly gate: no anomalies in %s", ", ".join(sorted(found)))
