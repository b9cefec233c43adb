"""The HRNet-W32 super-network (paper Table A3, Appendix A.2)."""
import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.arch.hrnet_space import BLOCKS_PER_MODULE, num_modules, stage_entries
from vipnas_tf.blocks.elastic_basic_block import ElasticBasicBlock
from vipnas_tf.blocks.elastic_hr_fusion import ElasticHRFusion
from vipnas_tf.blocks.elastic_se_bottleneck import ElasticSEBottleneck
from vipnas_tf.layers import ElasticBatchNorm, ElasticConv2D
from vipnas_tf.models import static_hrnet  # noqa: F401  (registers the "hrnet" static builder)
from vipnas_tf.models.supernet import SuperNetwork, max_in_per_group, register_supernet

HR_STAGES = (2, 3, 4)


def _when(static_value, predicate, fn, passthrough):
    """fn() if the condition holds, else `passthrough` unchanged.

    Decided in Python when the space settles it (`static_value` True / False) or when
    `predicate` is a Python bool (choices given as ints); otherwise at run time by
    `tf.cond(predicate)`, so that skipped work is never executed.
    """
    if static_value is None and isinstance(predicate, (bool, np.bool_)):
        static_value = bool(predicate)
    if static_value is True:
        return fn()
    if static_value is False:
        return passthrough
    return tf.cond(predicate, fn, lambda: tf.nest.map_structure(tf.identity, passthrough))


def _differ(a, b):
    """a != b for ints (Python bool) or scalar tensors (bool tensor)."""
    if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
        return a != b
    return tf.not_equal(a, b)


def _static_less(value, bound_choices):
    """`value < D` for every / no D in `bound_choices` -> True / False, else None."""
    if all(value < d for d in bound_choices):
        return True
    if all(value >= d for d in bound_choices):
        return False
    return None


@register_supernet("hrnet")
@keras.saving.register_keras_serializable(package="vipnas_tf")
class HRNetSuperNet(SuperNetwork):
    """Elastic HRNet: stem, bottleneck stage 1, three multi-resolution stages, 1x1 head.

    Structure and depth -> module mapping as documented in `vipnas_tf.arch.hrnet_space`:
    a stage of depth D runs the first D BasicBlocks of each branch, in modules of 4
    followed by an `ElasticHRFusion`; blocks and fusions past the space's minimum depth
    sit behind `tf.cond` on the depth tensor, so a shallower architecture does not pay
    for them. The last module of stage 4 fuses into branch 1 only, and the fusion into
    the other branches of a module of stage 4 runs only when another module follows.
    Transitions into an existing branch run (3x3 conv + BN + ReLU) only when the branch
    width changes between stages, as in HRNet.

    Shapes: images [N, H, W, 3] (H, W multiples of 32) -> branch b at
    [N, H / 2^(b+1), W / 2^(b+1), C_b] -> heatmaps [N, H/4, W/4, K] from branch 1.

    Args:
      space: the search space name (default "hrnet_w32").
      input_size: (H, W) used by `extract` by default.

    Call arguments:
      inputs: [N, H, W, 3] normalised crops.
      arch: optional int32 [L] encoded architecture (default `active_arch`).
      training: BN mode.

    Example:
      >>> net = HRNetSuperNet(input_size=(128, 96))
      >>> arch = net.sample(np.random.default_rng(0))
      >>> y = net(images, arch=net.encode(arch))   # [N, 32, 24, 17]
      >>> static = net.extract(arch)               # same output, standard Keras layers
    """

    def __init__(self, space="hrnet_w32", input_size=(256, 192), **kwargs):
        super().__init__(space=space, input_size=input_size, **kwargs)

    def mid_of(self, width, expansion):
        return width // expansion

    # ---- layers ----------------------------------------------------------------
    def _entry_spaces(self, stage):
        return [self.space.stages[i] for i in stage_entries(stage)]

    def _build_layers(self):
        sp = self.space
        stem_w, stem_k = max(sp.stem_width), max(sp.stem_kernel)
        self.stem_conv1 = ElasticConv2D(3, stem_w, stem_k, 2, name="stem_conv1")
        self.stem_bn1 = ElasticBatchNorm(stem_w, name="stem_bn1")
        self.stem_conv2 = ElasticConv2D(stem_w, stem_w, stem_k, 2, name="stem_conv2")
        self.stem_bn2 = ElasticBatchNorm(stem_w, name="stem_bn2")

        st = sp.stages[0]
        max_mid = max(w // e for w in st.width for e in st.expansion)
        cpg = max_in_per_group(sp, 0, self.mid_of, sp.stem_width)
        self.stage1_blocks = [
            ElasticSEBottleneck(
                stem_w if j == 0 else max(st.width), max(st.width), max_mid, max(st.kernel), cpg,
                has_downsample=j == 0, has_se=True in st.attention, name=f"stage1_block{j + 1}",
            )
            for j in range(max(st.depth))
        ]

        # Per HR stage: transitions, blocks[branch][j], fusions[module]; dicts keyed by
        # the stage number as a string so that Keras tracks the layers.
        self.transitions, self.branch_blocks, self.fusions = {}, {}, {}
        prev = [tuple(st.width)]  # width choices of the previous stage's branches
        for stage in HR_STAGES:
            entries = self._entry_spaces(stage)
            widths = [tuple(e.width) for e in entries]
            trans = []
            for b, w in enumerate(widths):
                new = b >= len(prev)
                c_in = prev[-1] if new else prev[b]
                if not new and len(w) == 1 and c_in == w:  # never changes: no conv (HRNet)
                    trans.append([])
                    continue
                name = f"transition{stage}_branch{b + 1}"
                trans.append(
                    [
                        ElasticConv2D(max(c_in), max(w), 3, 2 if new else 1, name=f"{name}_conv"),
                        ElasticBatchNorm(max(w), name=f"{name}_bn"),
                    ]
                )
            self.transitions[str(stage)] = trans
            depths = entries[0].depth
            blocks = []
            for b, e in enumerate(entries):
                cpg = max_in_per_group(sp, stage_entries(stage)[b], self.mid_of, e.width)
                blocks.append(
                    [
                        ElasticBasicBlock(
                            max(e.width), max(e.kernel), cpg, has_se=True in e.attention,
                            name=f"stage{stage}_branch{b + 1}_block{j + 1}",
                        )
                        for j in range(max(depths))
                    ]
                )
            self.branch_blocks[str(stage)] = blocks
            fusions = []
            for m in range(num_modules(max(depths))):
                # Stage 4 produces branch 1 only at its end: a module that is the last
                # one for every depth choice needs no fusion into the other branches.
                always_last = stage == HR_STAGES[-1] and BLOCKS_PER_MODULE * (m + 1) >= max(depths)
                fusions.append(
                    ElasticHRFusion(
                        [max(w) for w in widths], outputs=(0,) if always_last else None,
                        name=f"stage{stage}_module{m + 1}_fuse",
                    )
                )
            self.fusions[str(stage)] = fusions
            prev = widths

    def _build_head(self):
        width = max(self._entry_spaces(HR_STAGES[-1])[0].width)
        self.head_final_conv = ElasticConv2D(width, self.num_keypoints, 1, use_bias=True, name="head_final_conv")

    def _head(self, x, width, groups, training):
        # HRNet's head: a 1x1 conv on branch 1 (no deconvs; head choices are unused).
        return self.head_final_conv(x)

    # ---- forward ------------------------------------------------------------------
    def _backbone(self, inputs, choices, training, stage_hook=None):
        c = choices
        x = self.stem_conv1(inputs, out_channels=c["stem_width"], kernel_size=c["stem_kernel"])
        x = tf.nn.relu(self.stem_bn1(x, training=training))
        x = self.stem_conv2(x, out_channels=c["stem_width"], kernel_size=c["stem_kernel"])
        x = tf.nn.relu(self.stem_bn2(x, training=training))
        x = self.run_stage(x, self.stage1_blocks, c["stages"][0], min(self.space.stages[0].depth), training)
        if stage_hook is not None:
            x = stage_hook(1, x)

        xs, prev_widths = [x], [c["stages"][0]["width"]]
        for stage in HR_STAGES:
            sc = [c["stages"][i] for i in stage_entries(stage)]
            widths = [s["width"] for s in sc]
            xs = self._transition(stage, xs, prev_widths, widths, training)
            xs = self._hr_stage(stage, xs, sc, training)
            if stage_hook is not None:  # on branch 1, the branch the head reads
                xs = [stage_hook(stage, xs[0])] + list(xs[1:])
            prev_widths = widths
        return xs[0]

    def _transition(self, stage, xs, prev_widths, widths, training):
        out = []
        for b, layers in enumerate(self.transitions[str(stage)]):
            new = b >= len(xs)
            if not layers:
                out.append(xs[b])
                continue
            conv, bn = layers
            src = xs[-1] if new else xs[b]
            fn = lambda src=src, conv=conv, bn=bn, b=b: tf.nn.relu(  # noqa: E731
                bn(conv(src, out_channels=widths[b]), training=training)
            )
            if new:
                out.append(fn())
                continue
            prev_choices = self._entry_spaces(stage - 1)[b].width if stage > 2 else self.space.stages[0].width
            never_equal = not set(prev_choices) & set(self._entry_spaces(stage)[b].width)
            out.append(_when(True if never_equal else None, _differ(prev_widths[b], widths[b]), fn, src))
        return out

    def _hr_stage(self, stage, xs, sc, training):
        depth = sc[0]["depth"]  # the stage depth (validation ties the branches to it)
        depth_choices = self._entry_spaces(stage)[0].depth
        blocks = self.branch_blocks[str(stage)]
        last_stage = stage == HR_STAGES[-1]
        xs = list(xs)
        for m, fusion in enumerate(self.fusions[str(stage)]):
            start = BLOCKS_PER_MODULE * m
            for j in range(start, min(start + BLOCKS_PER_MODULE, max(depth_choices))):
                run = lambda xs=xs, j=j: [  # noqa: E731
                    blocks[b][j](x, width=s["width"], kernel=s["kernel"], groups=s["groups"],
                                 attention=s["attention"], training=training)
                    for b, (x, s) in enumerate(zip(xs, sc))
                ]
                xs = _when(_static_less(j, depth_choices), j < depth, run, xs)
            widths = [s["width"] for s in sc]
            fuse = lambda outputs, xs=xs, fusion=fusion: fusion(  # noqa: E731
                xs, widths=widths, outputs=outputs, training=training
            )
            active = _static_less(start, depth_choices)
            if not last_stage:
                xs = _when(active, start < depth, lambda: fuse(None), xs)
                continue
            # Stage 4: branch 1 always goes on to the head; the other branches are
            # fused only when another module follows (HRNet's multiscale_output=False).
            head = _when(active, start < depth, lambda: fuse([0]), xs[:1])
            end = start + BLOCKS_PER_MODULE
            if len(fusion.outputs) > 1:
                rest = _when(_static_less(end, depth_choices), end < depth, lambda: fuse(list(fusion.outputs[1:])), xs[1:])
            else:
                rest = xs[1:]
            xs = list(head) + list(rest)
        return xs
