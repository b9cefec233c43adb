"""Random initialisation at a useful scale, for models without trained weights.

The presets are architectures: a preset exported, benchmarked or run without a model
directory gets random weights. The paper's N(0, 0.001) initialisation makes an
untrained network's output vanish (about 1e-19), which would let almost any bug pass a
parity test and makes latency and int8 figures meaningless, so:

- `randomize_weights`: fan-in-scaled kernels, BN scales/statistics away from identity,
  small biases;
- `calibrate_batch_norm`: each BN layer's statistics set from its actual input on
  sample images (data-dependent initialisation), the final conv scaled to heatmap
  peak 1.
"""
import keras
import numpy as np
import tensorflow as tf


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


def calibrate_batch_norm(model: keras.Model, images: np.ndarray) -> int:
    """Sets every BatchNormalization's moving mean / variance to the statistics of its
    input on `images` (an array, or a list of arrays per model input), layer by layer
    in graph order (data-dependent initialisation).

    A randomly initialised deep model with arbitrary BN statistics loses its input
    (measured: S-ViPNAS-MobileNetV3's heatmaps varied by 2e-8 across different crops),
    which makes parity and int8 checks on it meaningless; with each BN normalising its
    actual input the signal reaches the output. The last conv is then scaled so that
    the heatmaps peak at 1 on `images` (as trained heatmaps do). Only for randomly
    initialised models.

    Returns:
        The number of BN layers set.
    """
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    arrays = images if isinstance(images, (list, tuple)) else [images]
    if len(arrays) != len(model.inputs):
        raise ValueError(f"calibrate_batch_norm: {len(arrays)} input arrays for a model with "
                         f"{len(model.inputs)} inputs")
    x = [tf.constant(np.asarray(a, np.float32)) for a in arrays]
    for bn in bns:
        probe = keras.Model(model.inputs, bn.input)
        t = np.asarray(probe(x if len(x) > 1 else x[0], training=False), np.float64)
        axes = tuple(range(t.ndim - 1))
        gamma, beta = bn.gamma, bn.beta
        weights = []
        if bn.scale:
            weights.append(np.asarray(gamma))
        if bn.center:
            weights.append(np.asarray(beta))
        var = t.var(axes)
        # Floor at a tenth of the layer's mean variance: nearly constant channels of a
        # random network would otherwise be amplified up to 1/sqrt(epsilon), and float
        # rounding with them (trained BNs do not do that).
        var = np.maximum(var, 0.1 * float(var.mean()))
        weights += [t.mean(axes).astype(np.float32), var.astype(np.float32)]
        bn.set_weights(weights)
    _unit_output_scale(model, x)
    return len(bns)


def _unit_output_scale(model, x):
    """Scales the last conv (if it feeds the output linearly) so that max |heatmap| on
    `x` is 1, like a trained model's heatmaps (peaks near 1): absolute tolerances
    such as "max abs heatmap difference <= 1e-4" then mean what they say."""
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    if not convs or _activation_of(convs[-1]) not in (None, "linear"):
        return
    out = np.asarray(model(x if len(x) > 1 else x[0], training=False))
    peak = float(np.abs(out).max())
    if peak > 0 and np.isfinite(peak):
        convs[-1].set_weights([w / peak for w in convs[-1].get_weights()])


def _activation_of(layer):
    act = layer.get_config().get("activation")
    return act if isinstance(act, str) or act is None else getattr(act, "__name__", str(act))
