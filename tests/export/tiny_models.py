"""Tiny models shared by the export tests (module/session scope: conversions are slow).

`build_tiny_pose_model` has every layer type the project's extracted models use:
stem conv, grouped Conv2D, DepthwiseConv2D, BatchNormalization, ReLU, hard-swish,
hard-sigmoid, an SE block (GlobalAveragePooling2D(keepdims) + 1x1 convs + Multiply),
a residual Add, and the sub-pixel stride-2 depthwise deconv (4 phases of
ZeroPadding2D + 2x2 VALID DepthwiseConv2D, Concatenate, Reshape/Permute/Reshape),
then a 1x1 conv to K heatmaps. Input [N, 32, 24, 3] -> heatmaps [N, 8, 6, K].
"""
import numpy as np
import keras

K = 5  # keypoints in the tiny models (17 in COCO; fewer keeps conversions quick).


def _bn(x, name):
    return keras.layers.BatchNormalization(name=name)(x)


def subpixel_deconv(x, channels, groups, name):
    """Stride-2 kernel-4 grouped transposed conv (padding 1) as 4 phase convs."""
    h, w = x.shape[1], x.shape[2]
    phases = []
    # Output row 2i+a takes input rows i-1+a, i+a: pad (1-a) on top, a at the bottom.
    for a in (0, 1):
        for b in (0, 1):
            p = keras.layers.ZeroPadding2D(((1 - a, a), (1 - b, b)), name=f"{name}_pad{a}{b}")(x)
            if groups == channels:
                p = keras.layers.DepthwiseConv2D(2, use_bias=False, name=f"{name}_dw{a}{b}")(p)
            else:
                p = keras.layers.Conv2D(channels, 2, groups=groups, use_bias=False,
                                        name=f"{name}_gc{a}{b}")(p)
            phases.append(p)
    y = keras.layers.Concatenate(axis=-1, name=f"{name}_cat")(phases)
    y = keras.layers.Reshape((h, w, 2, 2, channels), name=f"{name}_r1")(y)
    y = keras.layers.Permute((1, 3, 2, 4, 5), name=f"{name}_perm")(y)
    return keras.layers.Reshape((2 * h, 2 * w, channels), name=f"{name}_r2")(y)


def build_tiny_pose_model(k=K, size=(32, 24), seed=0, with_prev_heatmaps=False):
    """A small functional Keras 3 model with the project's layer vocabulary."""
    keras.utils.set_random_seed(seed)
    image = keras.Input((size[0], size[1], 3), name="image")
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem")(image)
    x = _bn(x, "stem_bn")
    x = keras.layers.Activation("hard_swish", name="stem_act")(x)
    inputs = [image]
    if with_prev_heatmaps:
        prev = keras.Input((size[0] // 4, size[1] // 4, k), name="prev_heatmaps")
        inputs.append(prev)
        # Fuse the previous heatmaps at 1/2 resolution: upsample by 2, 1x1 conv, add.
        p = keras.layers.UpSampling2D(2, name="prev_up")(prev)
        p = keras.layers.Conv2D(16, 1, name="prev_proj")(p)
        x = keras.layers.Add(name="fuse_add")([x, p])
    # Inverted residual: expand 1x1 -> grouped kxk -> SE -> project 1x1, residual.
    shortcut = x
    y = keras.layers.Conv2D(32, 1, use_bias=False, name="b1_expand")(x)
    y = keras.layers.ReLU(name="b1_expand_relu")(_bn(y, "b1_expand_bn"))
    y = keras.layers.Conv2D(32, 3, padding="same", groups=8, use_bias=False, name="b1_group")(y)
    y = keras.layers.Activation("hard_swish", name="b1_group_act")(_bn(y, "b1_group_bn"))
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name="b1_se_pool")(y)
    s = keras.layers.Conv2D(8, 1, activation="relu", name="b1_se_fc1")(s)
    s = keras.layers.Conv2D(32, 1, activation="hard_sigmoid", name="b1_se_fc2")(s)
    y = keras.layers.Multiply(name="b1_se_mul")([y, s])
    y = _bn(keras.layers.Conv2D(16, 1, use_bias=False, name="b1_project")(y), "b1_project_bn")
    x = keras.layers.Add(name="b1_add")([shortcut, y])
    # Downsample with a depthwise stride-2 conv.
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, name="b2_dw")(x)
    x = keras.layers.ReLU(name="b2_relu")(_bn(x, "b2_dw_bn"))
    x = keras.layers.Conv2D(24, 1, use_bias=False, name="b2_project")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, name="b3_dw")(x)
    # Head: depthwise sub-pixel deconv 4x4 -> 8x6, BN + ReLU, 1x1 to K.
    x = subpixel_deconv(x, 24, 24, "head_deconv")
    x = keras.layers.ReLU(name="head_relu")(_bn(x, "head_bn"))
    x = keras.layers.Conv2D(k, 1, name="head_final")(x)
    model = keras.Model(inputs, x, name="tiny_pose")
    # Non-trivial BN statistics so parity tests exercise the folding.
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.1, b.shape),
                               rng.normal(0, 0.1, m.shape), rng.uniform(0.5, 1.5, v.shape)])
    return model


def sample_inputs(model, n=1, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 1, (n,) + tuple(i.shape[1:])).astype(np.float32) for i in model.inputs]


def tiny_frame_factory(schedule, index, input_size):
    """`--frame_factory` for tflite/convert.py tests: frame model `index` of a schedule
    (a `vipnas_tf.temporal.Schedule`) as a tiny two-input model (image crop, previous
    heatmaps) of the schedule's size."""
    from vipnas_tf.arch import get_space  # pylint: disable=import-outside-toplevel
    k = get_space(schedule.space).num_keypoints
    return build_tiny_pose_model(k=k, size=tuple(input_size), seed=10 + index, with_prev_heatmaps=True)
