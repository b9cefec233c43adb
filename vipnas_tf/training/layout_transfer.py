"""`init_from` across keypoint layouts: restore a run's weights, then give the heatmap
output conv one meaning per channel in the new layout.

The paper fine-tunes the COCO-trained S-ViPNet on PoseTrack18 (Sec. 4.1-4.2). The
table of which channel carries over is `vipnas_tf.codecs.layout_mapping` (COCO ->
PoseTrack18: nose, ears and the 12 body joints copied; head_bottom and head_top fresh
from the paper's N(0, 0.001) with a zero bias). Every other weight is restored as is.

A "static" model directory (one network, e.g. imported mmpose weights) initialises a
super-network through `SuperNetwork.load_static`: its weights go into the slices of its
architecture, which the super-network then computes exactly (same padding).
"""
import numpy as np

from vipnas_tf.codecs.layout_mapping import channel_mapping
from vipnas_tf.models import build_supernet
from vipnas_tf.training import model_dir as model_dir_lib
from vipnas_tf.training.config import static_dir_arch

PAPER_STDDEV = 0.001  # the paper's weight initialisation N(0, 0.001), Sec. 4.2


def remap_output_channels(model, mapping, seed=0):
    """Rewrites `model.head_final_conv` so that channel t holds source channel
    `mapping[t]` (None: a fresh N(0, 0.001) kernel column and a zero bias).

    Args:
      model: a SuperNetwork (its `head_final_conv`: kernel [1, 1, C, K], bias [K]).
      mapping: K entries, a source slot or None (`channel_mapping`).
      seed: seeds the fresh columns.

    Returns:
      the fresh target slots.
    """
    conv = getattr(model, "head_final_conv", None)
    if conv is None:
        raise ValueError(f"{type(model).__name__} has no heatmap output conv (head_final_conv) to remap")
    kernel = conv.kernel.numpy()
    bias = conv.bias.numpy() if conv.bias is not None else None
    if len(mapping) != kernel.shape[-1]:
        raise ValueError(f"channel mapping has {len(mapping)} slots, the output conv {kernel.shape[-1]}")
    rng = np.random.default_rng([int(seed), 4242])
    new_kernel = np.empty_like(kernel)
    new_bias = None if bias is None else np.empty_like(bias)
    fresh = []
    for t, s in enumerate(mapping):
        if s is None:
            new_kernel[..., t] = rng.normal(0.0, PAPER_STDDEV, kernel.shape[:-1])
            if new_bias is not None:
                new_bias[t] = 0.0
            fresh.append(t)
        else:
            new_kernel[..., t] = kernel[..., s]
            if new_bias is not None:
                new_bias[t] = bias[s]
    conv.kernel.assign(new_kernel)
    if new_bias is not None:
        conv.bias.assign(new_bias)
    return tuple(fresh)


def load_static_dir(supernet, model_dir):
    """Loads a "static" model directory's network into the slices of its architecture
    in `supernet` (`SuperNetwork.load_static`; the super-network must pad as the
    architecture does). Returns (checkpoint path, architecture)."""
    arch = static_dir_arch(model_dir)
    static, _ = model_dir_lib.load_model(model_dir, expect_mode="static")
    if arch.padding != supernet.padding:
        raise ValueError(f"{model_dir}: its architecture pads {arch.padding!r}, the super-network to load it "
                         f"into {supernet.padding!r}")
    supernet.load_static(static, arch)
    return model_dir_lib.latest_checkpoint(model_dir), arch


def supernet_of_static_dir(model_dir, input_size):
    """A super-network of a "static" directory's space and padding holding its network:
    (super-network, architecture). Its `extract(arch)` computes what the directory's
    static model computes."""
    arch = static_dir_arch(model_dir)
    net = build_supernet(arch.space, input_size=tuple(input_size), padding=arch.padding)
    load_static_dir(net, model_dir)
    return net, arch


def restore_for_layout(model, init_from, target_layout, seed=0):
    """Restores `init_from`'s weights into `model` for a run of `target_layout`.

    Same layout: a plain restore (a "static" directory: `load_static_dir`). A layout
    pair with a mapping: restore, then `remap_output_channels`. Any other pair:
    LayoutMismatchError naming both layouts and the model directory, before anything
    is restored.

    Returns:
      (checkpoint path, source layout, fresh target slots).
    """
    source = model_dir_lib.keypoint_layout_of_run(init_from)
    mapping = channel_mapping(source, target_layout,
                              where=f"init_from {init_from} (layout {source!r}) into a {target_layout!r} run")
    if source != target_layout and getattr(model, "head_final_conv", None) is None:
        raise ValueError(f"init_from {init_from}: layout {source!r} differs from the run's {target_layout!r}, "
                         f"and a {type(model).__name__} has no single heatmap output conv to remap")
    if model_dir_lib.read_run_config(init_from).get("mode") == "static":
        path, _ = load_static_dir(model, init_from)
    else:
        path = model_dir_lib.restore_weights(model, init_from)
    fresh = ()
    if source != target_layout:
        fresh = remap_output_channels(model, mapping, seed)
    return path, source, fresh
