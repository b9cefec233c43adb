"""The deployment lowering: what a static Keras model becomes before TFLite conversion.

`extract()` / `build_static()` emit the plain formulation of every op; the lowering
rewrites it into equivalent standard Keras 3 layers that run fastest in
TFLite/XNNPACK (measurements: tflite/README.md, "Per-layer findings"). One module per
rewrite, and the whole-model pass that applies them:

- `grouped_conv`: grouped convs as depthwise / dense block-diagonal / native grouped
  CONV_2D (`GroupedConv2D`, without Keras' XLA path), or the depthwise-multiplier form.
- `deconv`: grouped stride-2 kernel-4 transposed convs in the sub-pixel form.
- `depthwise`: depthwise kernels of more than 25 taps split into row bands.
- `hard_swish`: `Activation("hard_swish")` (float) or the int8-friendly form.
- `batch_norm`: BN folded into the preceding conv's weights.
- `model`: `lower_model(model)`, the rewrite of a whole functional model with the above
  (BN folding, ReLU fusion, ...), and `layer_summary`.
- `deployed`: lowering + conversion as deployed, for latency measurement (the latency
  table's units and whole networks).

Example:
    >>> from vipnas_tf.export.lowering import lower_model
    >>> fast = lower_model(supernet.extract(arch, (256, 192)), hard_swish="int8")
"""
from vipnas_tf.export.lowering.batch_norm import fold_batch_norm
from vipnas_tf.export.lowering.deconv import DECONV_METHODS, deconv_method, grouped_conv2d_transpose_s2k4
from vipnas_tf.export.lowering.depthwise import MAX_FAST_DEPTHWISE_TAPS, depthwise_conv2d
from vipnas_tf.export.lowering.grouped_conv import (GROUPED_CONV_METHODS, GroupedConv2D, grouped_conv2d,
                                                    grouped_conv_method, interleave_channels,
                                                    interleave_permutation)
from vipnas_tf.export.lowering.hard_swish import HARD_SWISH_METHODS, hard_swish, hard_swish_method_for
from vipnas_tf.export.lowering.model import LoweringOptions, extract_lowered, layer_summary, lower_model

__all__ = ("fold_batch_norm", "DECONV_METHODS", "deconv_method", "grouped_conv2d_transpose_s2k4",
           "MAX_FAST_DEPTHWISE_TAPS", "depthwise_conv2d", "GROUPED_CONV_METHODS", "GroupedConv2D",
           "grouped_conv2d", "grouped_conv_method", "interleave_channels", "interleave_permutation",
           "HARD_SWISH_METHODS", "hard_swish", "hard_swish_method_for", "LoweringOptions", "extract_lowered",
           "layer_summary", "lower_model")
