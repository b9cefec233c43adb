"""Static MobileNetV3 blocks: the one definition of each block's layers.

`static_builders` (whole networks), the latency table's unit models
(`vipnas_tf.search.latency_units`) and research scripts build the stem, the
inverted-residual block and a head deconv layer with these functions, so a unit timed
alone has exactly the layers (types, names, shapes) of the same block inside a network.
Layer names follow `static_ops`: '<block name>_expand_conv', '<block name>_mid_bn', ...
"""
import keras

from vipnas_tf.models import static_ops as ops


def stem(x, width, kernel, act="hswish", strides=2, padding="same"):
    """Stem conv + BN + activation ('stem_conv', 'stem_bn', 'stem_act')."""
    x = ops.strided_conv(x, width, kernel, "stem_conv", strides=strides, padding=padding)
    x = ops.batch_norm(x, "stem_bn")
    return ops.activation(x, act, "stem_act")


def inverted_residual(x, name, out, mid, kernel, groups, stride, act, se, padding="same"):
    """One MobileNetV3 inverted-residual block (mmpose's InvertedResidual).

    expand 1x1 conv + BN + act (only when `mid` differs from the input channels) ->
    k x k grouped conv (`groups` groups, stride `stride`) + BN + act -> SE (if `se`) ->
    project 1x1 conv + BN [+ identity shortcut when stride 1 and in == out].

    Args:
        x: Keras tensor [N, H, W, C_in].
        name: layer-name prefix, e.g. "stage3_block2".
        out, mid: output and middle channels.
        kernel, groups, stride: the middle conv's.
        act: "relu" | "hswish" (see `static_ops.ACTIVATIONS`).
        se: squeeze-and-excite after the middle conv.
        padding: `Arch.padding` ("same" | "symmetric").
    """
    in_ch = int(x.shape[-1])
    h = x
    if mid != in_ch:
        h = ops.conv(h, mid, 1, f"{name}_expand_conv")
        h = ops.batch_norm(h, f"{name}_expand_bn")
        h = ops.activation(h, act, f"{name}_expand_act")
    h = ops.strided_conv(h, mid, kernel, f"{name}_mid_conv", strides=stride, groups=groups, padding=padding)
    h = ops.batch_norm(h, f"{name}_mid_bn")
    h = ops.activation(h, act, f"{name}_mid_act")
    if se:
        h = ops.squeeze_excite(h, f"{name}_se")
    h = ops.conv(h, out, 1, f"{name}_project_conv")
    h = ops.batch_norm(h, f"{name}_project_bn")
    if stride == 1 and in_ch == out:
        h = keras.layers.Add(name=f"{name}_add")([h, x])
    return h


def head_deconv(x, filters, groups, index):
    """Head layer `index` (1-based): sub-pixel deconv + BN + ReLU ('head_deconv{index}',
    'head_bn{index}', 'head_relu{index}')."""
    x = ops.subpixel_deconv(x, filters, groups, f"head_deconv{index}")
    x = ops.batch_norm(x, f"head_bn{index}")
    return ops.activation(x, "relu", f"head_relu{index}")


def deconv_head(x, head, num_keypoints):
    """SimpleBaseline-style head: N x `head_deconv` then a 1x1 conv to K heatmaps."""
    for n in range(head.num_layers):
        groups = head.width if head.groups == 0 else head.groups
        x = head_deconv(x, head.width, groups, n + 1)
    return final_conv(x, num_keypoints)


def final_conv(x, num_keypoints):
    """The 1x1 conv (with bias) to K heatmaps ('head_final_conv')."""
    return ops.conv(x, num_keypoints, 1, "head_final_conv", use_bias=True)
