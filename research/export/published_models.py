"""Keras 3 builds of the published models, for the latency studies only.

Not the project's models (those come from `vipnas_tf.models` / `extract()`): random
weights, BN folded away (a conv bias instead: the converter folds BN into the conv
anyway, so the .tflite graphs are the same), built with `vipnas_tf.export.lowering`
so that every formulation measured here is exactly what extract() would emit.

S-ViPNAS-MobileNetV3 (mmpose `vipnas_mbv3.py`), 256x192 input:
stem 3x3/2 conv 16 + hard-swish; stages (width, expansion, depth, kernel, groups of
the middle conv, SE, stride, activation); inverted residual blocks (expand 1x1 ->
grouped kxk -> SE -> project 1x1; residual when stride 1 and in == out; mid
channels = width * expansion); head 3 depthwise k4 s2 deconvs of 160 + ReLU, 1x1
to 17.
"""
import keras
import numpy as np

from vipnas_tf.export import lowering

MBV3_STAGES = [
    # width, expansion, depth, kernel, groups, se, stride, activation
    (16, 1, 1, 3, 8, True, 1, "relu"),
    (24, 5, 4, 7, 120, True, 2, "relu"),
    (40, 4, 4, 7, 20, False, 2, "relu"),
    (80, 5, 4, 5, 100, True, 2, "hard_swish"),
    (112, 5, 4, 7, 280, True, 1, "hard_swish"),
    (160, 6, 4, 5, 240, True, 2, "hard_swish"),
]
MBV3_STEM = 16
MBV3_HEAD = (160, 3, 17)  # deconv channels, deconvs, keypoints


def make_divisible(v, divisor=8):
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


class _Weights:
    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)

    def __call__(self, *shape, fan_in=None):
        fan_in = fan_in or int(np.prod(shape[:-1]))
        return (self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def bias(self, n):
        return (self.rng.standard_normal(n) * 0.05).astype(np.float32)


# How hard-swish is emitted ("activation" or "int8", see lowering.hard_swish).
HSWISH_METHOD = {"method": "activation"}


def _act(x, act, name):
    if act == "hard_swish":
        return lowering.hard_swish(x, HSWISH_METHOD["method"], name=name)
    return keras.layers.Activation(act, name=name)(x) if act != "relu" else keras.layers.ReLU(name=name)(x)


def conv1x1(x, cout, wts, name, act=None):
    layer = keras.layers.Conv2D(cout, 1, name=name)
    y = layer(x)
    layer.set_weights([wts(1, 1, x.shape[-1], cout), wts.bias(cout)])
    return _act(y, act, name + "_act") if act else y


def se_block(x, wts, name, ratio=4):
    c = x.shape[-1]
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=name + "_pool")(x)
    s = conv1x1(s, make_divisible(c // ratio), wts, name + "_fc1", act="relu")
    s = conv1x1(s, c, wts, name + "_fc2", act="hard_sigmoid")
    return keras.layers.Multiply(name=name + "_mul")([x, s])


def inverted_residual(x, cout, mid, kernel, groups, se, stride, act, wts, name,
                      grouped_method="auto", producer_permuted=True):
    """One S-ViPNAS inverted residual block; returns the output tensor."""
    cin = x.shape[-1]
    y = x
    expand = mid != cin
    if expand:
        y = conv1x1(y, mid, wts, name + "_expand", act=act)
    kernel_w = wts(kernel, kernel, mid // groups, mid)
    # The expand conv can emit its channels interleaved for free (extract() permutes
    # its weights); without an expand conv the block input is in natural order.
    y = lowering.grouped_conv2d(y, kernel_w, wts.bias(mid), groups=groups, strides=stride,
                                method=grouped_method,
                                input_interleaved=(grouped_method == "dw_multiplier"
                                                   and expand and producer_permuted
                                                   and mid != groups),
                                name=name + "_gconv")
    y = _act(y, act, name + "_gconv_act")
    if se:
        y = se_block(y, wts, name + "_se")
    y = conv1x1(y, cout, wts, name + "_project")
    if stride == 1 and cin == cout:
        y = keras.layers.Add(name=name + "_add")([x, y])
    return y


def build_svipnas_mbv3(input_size=(256, 192), grouped_method="auto", deconv_method="auto",
                       head_deconv="lowering", stages=None, seed=0, name="s_vipnas_mbv3",
                       hswish="activation", split_large_depthwise=True, fuse_head_relu=True):
    """S-ViPNAS-MobileNetV3 with a chosen lowering of its grouped convs and deconvs.

    Args:
        grouped_method: `lowering.grouped_conv2d` method for the middle convs
            ("auto", "conv", "dw_multiplier", "dense").
        deconv_method: `lowering.grouped_conv2d_transpose_s2k4` method.
        head_deconv: "lowering" (exact deconv), or "upsample" (the first
            measurement of the published model: nearest upsampling + 3x3 depthwise conv, not equivalent).
        stages: override of MBV3_STAGES (e.g. to drop SE).
        hswish: `lowering.hard_swish` method.
        split_large_depthwise: False keeps 7x7 depthwise kernels whole (XNNPACK's
            slow path), the naive export.
        fuse_head_relu: ReLU fused into the deconv phases (True) or a ReLU layer
            after the pixel shuffle (False, the naive export).
    """
    wts = _Weights(seed)
    HSWISH_METHOD["method"] = hswish
    lowering.depthwise.MAX_FAST_DEPTHWISE_TAPS = 25 if split_large_depthwise else 0
    stages = stages or MBV3_STAGES
    image = keras.Input((input_size[0], input_size[1], 3), name="image")
    x = keras.layers.Conv2D(MBV3_STEM, 3, strides=2, padding="same", name="stem")(image)
    x = _act(x, "hard_swish", "stem_act")
    for s, (width, exp, depth, k, groups, se, stride, act) in enumerate(stages, 1):
        for d in range(depth):
            mid = width * exp
            x = inverted_residual(x, width, mid, k, groups, se, stride if d == 0 else 1, act, wts,
                                  f"s{s}b{d}", grouped_method=grouped_method)
    chans, n_deconv, k_out = MBV3_HEAD
    for i in range(n_deconv):
        if head_deconv == "upsample":
            x = keras.layers.UpSampling2D(2, name=f"head{i}_up")(x)
            x = keras.layers.DepthwiseConv2D(3, padding="same", name=f"head{i}_dw")(x)
        else:
            x = lowering.grouped_conv2d_transpose_s2k4(
                x, wts(4, 4, 1, chans, fan_in=16), wts.bias(chans), groups=chans,
                method=deconv_method, activation="relu" if fuse_head_relu else None,
                name=f"head{i}")
        if head_deconv == "upsample" or not fuse_head_relu:
            x = keras.layers.ReLU(name=f"head{i}_relu")(x)
    x = conv1x1(x, k_out, wts, "head_final")
    HSWISH_METHOD["method"] = "activation"
    lowering.depthwise.MAX_FAST_DEPTHWISE_TAPS = 25
    return keras.Model(image, x, name=name)


def build_sbl_res50(input_size=(256, 192), seed=0):
    """SimpleBaseline ResNet-50: keras.applications ResNet50 (random weights) + 3
    dense 4x4/2 deconvs of 256 + BN/ReLU (folded: bias) + 1x1 to 17."""
    keras.utils.set_random_seed(seed)
    image = keras.Input((input_size[0], input_size[1], 3), name="image")
    backbone = keras.applications.ResNet50(include_top=False, weights=None, input_tensor=image)
    x = backbone.output
    for i in range(3):
        x = keras.layers.Conv2DTranspose(256, 4, strides=2, padding="same", name=f"head{i}")(x)
        x = keras.layers.ReLU(name=f"head{i}_relu")(x)
    x = keras.layers.Conv2D(17, 1, name="head_final")(x)
    return keras.Model(image, x, name="sbl_res50")


def count_macs(model) -> int:
    """Multiply-accumulates of conv, depthwise, deconv and dense layers (deconv at
    input resolution: the hand-count convention of the project's cost model before /2^30)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            out = layer.output.shape
            k = np.prod(layer.kernel_size)
            total += out[1] * out[2] * out[3] * k
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            inp = layer.input.shape
            total += inp[1] * inp[2] * inp[3] * np.prod(layer.kernel_size) * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            out = layer.output.shape
            cin = layer.input.shape[-1]
            total += out[1] * out[2] * out[3] * np.prod(layer.kernel_size) * cin // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)
