"""tf.distribute strategies by name, the TF_CONFIG checks of a multi-worker run, and
the check that every worker of a run was launched with the same settings."""
import json
import os

import numpy as np
import tensorflow as tf

# Task types a MultiWorkerMirroredStrategy cluster may name.
CLUSTER_ROLES = ("chief", "worker", "evaluator")


def configure_cpu_devices(n):
    """Splits the CPU into `n` logical devices (for MirroredStrategy on one CPU).

    Must run before TensorFlow initialises its devices (before any op).
    """
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)


def parse_tf_config(text):
    """The TF_CONFIG of a multi-worker run, checked: {"cluster": {role: ["host:port", ...]},
    "task": {"type": role, "index": i}}. Raises ValueError naming the field and the
    values: malformed JSON, a missing or mistyped field, a task outside the cluster, or
    an address listed twice (two tasks on one port)."""
    try:
        conf = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {text!r}") from None
    if not isinstance(conf, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object with 'cluster' and 'task', got {text!r}")
    cluster, task = conf.get("cluster"), conf.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"TF_CONFIG field 'cluster' must map task types to address lists, got {cluster!r}")
    seen = {}
    for role, addresses in cluster.items():
        if role not in CLUSTER_ROLES:
            raise ValueError(f"TF_CONFIG field 'cluster': unknown task type {role!r} (one of {CLUSTER_ROLES})")
        if not isinstance(addresses, list) or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise ValueError(f"TF_CONFIG field 'cluster.{role}' must be a list of 'host:port' strings, "
                             f"got {addresses!r}")
        for i, address in enumerate(addresses):
            name = f"{role}[{i}]"
            if address in seen:
                raise ValueError(f"TF_CONFIG field 'cluster': address {address!r} is listed twice, as "
                                 f"{seen[address]} and as {name}; give every task its own host:port")
            seen[address] = name
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(f"TF_CONFIG field 'task' must be {{'type': ..., 'index': ...}}, got {task!r}")
    role, index = task["type"], task["index"]
    if role not in cluster:
        raise ValueError(f"TF_CONFIG field 'task.type' is {role!r}, but the cluster has only "
                         f"{sorted(cluster)}")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[role]):
        raise ValueError(f"TF_CONFIG field 'task.index' is {index!r}, but cluster.{role} has "
                         f"{len(cluster[role])} address(es)")
    if "chief" in cluster and len(cluster["chief"]) != 1:
        raise ValueError(f"TF_CONFIG field 'cluster.chief' must hold one address, got {cluster['chief']!r}")
    return conf


def make_strategy(name="default", tpu="", communication_timeout=0):
    """The strategy of a name.

    - "default": one device (the default strategy).
    - "mirrored": MirroredStrategy over the local GPUs, else over the logical CPU
      devices (see `configure_cpu_devices`).
    - "multi_worker": MultiWorkerMirroredStrategy; workers come from TF_CONFIG
      (checked by `parse_tf_config`). `communication_timeout` > 0 bounds every
      collective (seconds), so a worker whose peer died stops instead of waiting.
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
        parse_tf_config(os.environ["TF_CONFIG"])
        options = tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=float(communication_timeout) if communication_timeout else None)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name!r} (default, mirrored, multi_worker, tpu)")


def is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy):
    """Whether this worker writes the run's files (always, except non-chief workers)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not is_multi_worker(strategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type is None or task_type == "chief" or (task_type == "worker" and task_id == 0)


def worker_name(strategy):
    """"worker 1", "chief 0" ... of this process ("local" outside a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not is_multi_worker(strategy) or resolver.task_type is None:
        return "local"
    return f"{resolver.task_type} {resolver.task_id}"


def _all_gather_rows(strategy, row):
    """Every worker's int32 vector `row` (same length on all), stacked in worker order."""
    def gather():
        ctx = tf.distribute.get_replica_context()
        return ctx.all_gather(tf.constant(row[None], tf.int32), axis=0)

    return np.asarray(strategy.experimental_local_results(strategy.run(gather))[0])


def check_same_settings(strategy, settings):
    """Refuses workers launched with different settings (before any training step).

    Every worker of a MultiWorkerMirroredStrategy run shares its JSON-able `settings`
    (a dict) with the others through one all-gather; a difference raises ValueError
    naming the field and both values. Other strategies: nothing to compare.
    """
    if not is_multi_worker(strategy):
        return
    payload = np.frombuffer(json.dumps(settings, sort_keys=True, default=str).encode(), np.uint8).astype(np.int32)
    lengths = _all_gather_rows(strategy, np.array([len(payload)]))[:, 0]
    padded = np.zeros(int(lengths.max()), np.int32)
    padded[:len(payload)] = payload
    rows = _all_gather_rows(strategy, padded)
    mine = json.loads(json.dumps(settings, sort_keys=True, default=str))
    per_worker = max(1, len(rows) // max(1, _num_workers()))
    for i, (row, n) in enumerate(zip(rows, lengths)):
        other = json.loads(bytes(row[:n].astype(np.uint8)).decode())
        for field in sorted(set(mine) | set(other)):
            if mine.get(field) != other.get(field):
                raise ValueError(f"workers were launched with different settings: field {field!r} is "
                                 f"{mine.get(field)!r} on this worker ({worker_name(strategy)}) and "
                                 f"{other.get(field)!r} on worker {i // per_worker} of the cluster; "
                                 f"launch every worker with the same flags")


def _num_workers():
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))
