"""Peak memory of .tflite models, measured in a fresh subprocess.

`peak_memory_kib(paths)`: the resident-set high-water mark (VmHWM) of a short
subprocess that imports the interpreter, loads the model(s), allocates tensors and runs
them a few times. A model's footprint is that minus the same for a subprocess that
loads no model (`peak_memory_kib([])`): its whole footprint in this process (weights
as mapped, arena, XNNPACK packed weights and workspace), +- about 1 MiB of noise.
"""
import os
import subprocess
import sys
from typing import Sequence

import numpy as np

from vipnas_tf.litert.interpreter import load_interpreter, random_input


def peak_memory_kib(paths: Sequence[str], threads: int = 1, use_xnnpack: bool = True,
                    invokes: int = 3) -> float:
    """RSS high-water mark (KiB) of a fresh subprocess that loads and runs `paths`."""
    code = ("import sys; from vipnas_tf.litert.memory import _memory_probe_main; "
            "_memory_probe_main(sys.argv[1:])")
    args = [sys.executable, "-c", code, str(threads), str(int(use_xnnpack)), str(invokes), *paths]
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory probe failed: {out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def _memory_probe_main(argv):
    """Subprocess body: load + run the models, print the RSS high-water mark in KiB.

    VmHWM from /proc/self/status, not getrusage's ru_maxrss: ru_maxrss survives
    fork+exec, so a child of a big process (one that has TensorFlow loaded) reports
    its parent's peak; VmHWM belongs to the new address space made at exec.
    """
    threads, use_xnnpack, invokes, paths = int(argv[0]), bool(int(argv[1])), int(argv[2]), argv[3:]
    rng = np.random.default_rng(0)
    keep = []
    for p in paths:
        interp = load_interpreter(p, threads, use_xnnpack)
        for d in interp.get_input_details():
            interp.set_tensor(d["index"], random_input(d, rng))
        for _ in range(invokes):
            interp.invoke()
        keep.append(interp)
    print(_vm_hwm_kib())


def _vm_hwm_kib() -> float:
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    import resource  # pylint: disable=import-outside-toplevel  # not Linux: best effort
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
