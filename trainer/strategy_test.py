import json

import pytest

from trainer import strategy


def _tf_config(workers: int, chief: bool = False) -> str:
    cluster = {"worker": [f"localhost:{20000 + i}" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["localhost:19999"]
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})


@pytest.mark.parametrize("environ, gpus, expected", [
    ({}, 0, strategy.DEFAULT),
    ({}, 1, strategy.DEFAULT),
    ({}, 4, strategy.MIRRORED),
    ({"TF_CONFIG": _tf_config(1)}, 0, strategy.DEFAULT),
    ({"TF_CONFIG": _tf_config(2)}, 0, strategy.MULTI_WORKER),
    ({"TF_CONFIG": _tf_config(1, chief=True)}, 2, strategy.MULTI_WORKER),
    ({"TPU_NAME": "my-tpu", "TF_CONFIG": _tf_config(2)}, 8, strategy.TPU),
])
def test_strategy_kind(environ, gpus, expected):
    assert strategy.strategy_kind(environ, gpus) == expected


def test_default_strategy_and_global_batch():
    chosen = strategy.make_strategy({})
    assert chosen.num_replicas_in_sync == 1
    assert strategy.global_batch_size(chosen, 16) == 16
