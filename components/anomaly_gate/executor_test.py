"""The gate fails on any split's anomalies, naming split and feature, and passes clean data."""
import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils, standard_artifacts

from components.anomaly_gate import executor
from components.common.testing import artifact
from components.common.errors import AudioClfError


def _anomalies(tmp_path, per_split):
    item = artifact(standard_artifacts.ExampleAnomalies, tmp_path / "anomalies")
    item.split_names = artifact_utils.encode_split_names(list(per_split))
    for split, features in per_split.items():
        found = anomalies_pb2.Anomalies()
        for feature, text in features.items():
            info = found.anomaly_info[feature]
            info.short_description, info.description = text, f"{text} (details)"
        (tmp_path / "anomalies" / f"Split-{split}").mkdir(parents=True)
        (tmp_path / "anomalies" / f"Split-{split}" / executor.ANOMALIES_FILE).write_bytes(found.SerializeToString())
    return item


def test_anomalies_stop_the_run_naming_split_and_feature(tmp_path):
    item = _anomalies(tmp_path, {"train": {}, "test": {"sample_rate": "Out-of-range values"}})
    with pytest.raises(AudioClfError, match=r"split test: sample_rate: Out-of-range values") as err:
        executor.Executor().Do({"anomalies": [item]}, {}, {})
    assert "split train" not in str(err.value)


def test_clean_splits_pass(tmp_path):
    item = _anomalies(tmp_path, {"train": {}, "eval": {}, "test": {}})
    executor.Executor().Do({"anomalies": [item]}, {}, {})
    assert executor.read_anomalies(item) == {"train": [], "eval": [], "test": []}
