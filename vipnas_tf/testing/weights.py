"""Randomise a model's weights at a useful scale, so parity tests compare non-trivial outputs.

The paper's N(0, 0.001) initialisation makes an untrained network's output vanish
(about 1e-19), which would let almost any bug pass a parity test.
"""
import numpy as np


def randomize_weights(model, seed=0):
    """Fan-in-scaled kernels, BN scales/statistics away from identity, small biases."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        name = v.path if hasattr(v, "path") else v.name
        shape = tuple(v.shape)
        if not np.issubdtype(np.dtype(v.dtype), np.floating):
            continue
        leaf = name.split("/")[-1]
        if leaf in ("gamma", "ln_gamma"):
            value = rng.uniform(0.5, 1.5, shape)
        elif leaf in ("moving_variance",):
            value = rng.uniform(0.5, 1.5, shape)
        elif leaf in ("moving_mean", "beta", "ln_beta"):
            value = rng.normal(0.0, 0.1, shape)
        elif "bias" in leaf:
            value = rng.normal(0.0, 0.01, shape)
        elif leaf == "momentum":
            continue
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            value = rng.normal(0.0, 1.0 / np.sqrt(max(fan_in, 1)), shape)
        v.assign(value.astype(np.float32))
    return model
