"""Static Keras models of any architecture of a known family (space points and presets).

`build_static(arch)` returns a plain functional Keras model made only of standard
layers: what `SuperNetwork.extract` fills with sliced weights, what stand-alone training
trains, and what export converts. Its layer list mirrors the cost model's
(`vipnas_tf.arch.*_space.*_conv_costs`); a test checks they agree.

`arch.padding == "symmetric"` (PyTorch's `k // 2` on every side, e.g. imported mmpose
weights) puts an explicit ZeroPadding2D before each stride-2 conv and the ResNet
max-pool (`static_ops.strided_conv`, `static_ops.max_pool`); layer list and cost are
the same. The MobileNetV3 blocks are `static_blocks`' (shared with the latency units).
"""
import keras

from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch.space import get_space
from vipnas_tf.models import static_blocks as blocks
from vipnas_tf.models import static_ops as ops

_BUILDERS = {}
# Families whose static builder honours `Arch.padding == "symmetric"` (mmpose's networks).
SYMMETRIC_PADDING_FAMILIES = ("mobilenetv3", "resnet")


def register_static_builder(family):
    """Registers `fn(arch, inputs, space[, stage_hook]) -> heatmaps` for a space family
    (`stage_hook(stage, x) -> x` as in `SuperNetwork._backbone`)."""

    def wrap(fn):
        _BUILDERS[family] = fn
        return fn

    return wrap


def build_static(arch, input_size=(256, 192), name=None, stage_hook=None, extra_inputs=()):
    """Plain functional Keras model of `arch`: [N, H, W, 3] -> [N, H/4, W/4, K].

    `stage_hook(stage, x) -> x` (optional) inserts layers after a backbone stage
    (1-based; e.g. the temporal fusion module); `extra_inputs` are further
    `keras.Input`s the hook uses, appended to the model's inputs after "image".
    """
    space = get_space(arch.space)
    h, w = cost_lib.check_input_size(input_size)
    if space.family not in _BUILDERS:
        raise ValueError(f"no static builder for family {space.family!r} (known: {sorted(_BUILDERS)})")
    if getattr(arch, "padding", "same") != "same" and space.family not in SYMMETRIC_PADDING_FAMILIES:
        raise ValueError(f"{arch.space}: padding={arch.padding!r} is supported for the "
                         f"{', '.join(SYMMETRIC_PADDING_FAMILIES)} families only")
    inputs = keras.Input((h, w, 3), name="image")
    hook = {} if stage_hook is None else {"stage_hook": stage_hook}
    outputs = _BUILDERS[space.family](arch, inputs, space, **hook)
    outputs = keras.layers.Activation("linear", dtype="float32", name="heatmaps")(outputs)
    model_inputs = [inputs, *extra_inputs] if extra_inputs else inputs
    return keras.Model(model_inputs, outputs, name=name or f"static_{arch.space}")


@register_static_builder("mobilenetv3")
def _mobilenetv3(arch, x, space, stage_hook=None):
    x = blocks.stem(x, arch.stem.width, arch.stem.kernel, "hswish", padding=arch.padding)
    for i, (s, sp) in enumerate(zip(arch.stages, space.stages)):
        for j in range(s.depth):
            mid = s.mid_channels[j] if s.mid_channels else s.width * s.expansion
            x = blocks.inverted_residual(x, f"stage{i + 1}_block{j + 1}", s.width, mid, s.kernel,
                                         mid if s.groups == 0 else s.groups, sp.stride if j == 0 else 1,
                                         sp.activation, bool(s.attention), padding=arch.padding)
        if stage_hook is not None:
            x = stage_hook(i + 1, x)
    return blocks.deconv_head(x, arch.head, space.num_keypoints)


@register_static_builder("resnet")
def _resnet(arch, x, space, stage_hook=None):
    x = ops.strided_conv(x, arch.stem.width, arch.stem.kernel, "stem_conv", strides=2, padding=arch.padding)
    x = ops.batch_norm(x, "stem_bn")
    x = ops.activation(x, "relu", "stem_act")
    x = ops.max_pool(x, "stem_pool", padding=arch.padding)
    for i, (s, sp) in enumerate(zip(arch.stages, space.stages)):
        for j in range(s.depth):
            name = f"stage{i + 1}_block{j + 1}"
            mid = s.width // s.expansion
            groups = mid if s.groups == 0 else s.groups
            stride = sp.stride if j == 0 else 1
            h = ops.conv(x, mid, 1, f"{name}_conv1")
            h = ops.activation(ops.batch_norm(h, f"{name}_bn1"), "relu", f"{name}_act1")
            h = ops.strided_conv(h, mid, s.kernel, f"{name}_conv2", strides=stride, groups=groups,
                                 padding=arch.padding)
            h = ops.activation(ops.batch_norm(h, f"{name}_bn2"), "relu", f"{name}_act2")
            h = ops.batch_norm(ops.conv(h, s.width, 1, f"{name}_conv3"), f"{name}_bn3")
            if s.attention:
                h = ops.context_block(h, f"{name}_gc")
            shortcut = x
            if j == 0:
                shortcut = ops.conv(x, s.width, 1, f"{name}_downsample", strides=stride)
                shortcut = ops.batch_norm(shortcut, f"{name}_downsample_bn")
            x = keras.layers.Add(name=f"{name}_add")([h, shortcut])
            x = ops.activation(x, "relu", f"{name}_out")
        if stage_hook is not None:
            x = stage_hook(i + 1, x)
    return blocks.deconv_head(x, arch.head, space.num_keypoints)
