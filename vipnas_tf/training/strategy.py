"""tf.distribute strategies by name."""
import json
import os

import tensorflow as tf


def configure_cpu_devices(n):
    """Splits the CPU into `n` logical devices (for MirroredStrategy on one CPU).

    Must run before TensorFlow initialises its devices (before any op).
    """
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)


def make_strategy(name="default", tpu=""):
    """The strategy of a name.

    - "default": one device (the default strategy).
    - "mirrored": MirroredStrategy over the local GPUs, else over the logical CPU
      devices (see `configure_cpu_devices`).
    - "multi_worker": MultiWorkerMirroredStrategy; workers come from TF_CONFIG.
    - "tpu": TPUStrategy on `tpu` (a TPU name/address); left to the user to run.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy 'multi_worker' needs the TF_CONFIG environment variable "
                             "(cluster and task of this worker)")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as e:
            raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from e
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name!r} (default, mirrored, multi_worker, tpu)")


def is_chief(strategy):
    """Whether this worker writes the run's files (always, except non-chief workers)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type is None or task_type == "chief" or (task_type == "worker" and task_id == 0)
