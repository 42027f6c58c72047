"""The distribution strategy, chosen at run time from what the process can see.

TPU if a TPU is configured, multi-worker if TF_CONFIG names several workers, mirrored if several
GPUs, else the default (one device). The global batch is the per-replica batch times the replicas.
"""
import json
import os
from typing import Mapping, Optional

import tensorflow as tf

TPU = "tpu"
MULTI_WORKER = "multi_worker_mirrored"
MIRRORED = "mirrored"
DEFAULT = "default"
# Set where a TPU is attached (Cloud TPU VMs / GKE TPU node pools, Colab). Without one of them the
# resolver is not asked: it would query the GCE metadata server, which does not exist off Google Cloud.
TPU_ENV_VARS = ("TPU_NAME", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS", "COLAB_TPU_ADDR")


def cluster_workers(tf_config: Optional[str]) -> int:
    """Number of chief + worker tasks in a TF_CONFIG string (0 when unset)."""
    if not tf_config:
        return 0
    cluster = json.loads(tf_config).get("cluster", {})
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def strategy_kind(environ: Mapping[str, str], num_gpus: int) -> str:
    if any(environ.get(name) for name in TPU_ENV_VARS):
        return TPU
    if cluster_workers(environ.get("TF_CONFIG")) > 1:
        return MULTI_WORKER
    if num_gpus > 1:
        return MIRRORED
    return DEFAULT


def make_strategy(environ: Optional[Mapping[str, str]] = None) -> tf.distribute.Strategy:
    environ = os.environ if environ is None else environ
    kind = strategy_kind(environ, len(tf.config.list_physical_devices("GPU")))
    if kind == TPU:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if kind == MULTI_WORKER:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == MIRRORED:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def global_batch_size(strategy: tf.distribute.Strategy, per_replica: int) -> int:
    return per_replica * strategy.num_replicas_in_sync
