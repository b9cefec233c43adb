"""The ResNet-50 super-network (paper Table A2)."""
import keras
import tensorflow as tf

from vipnas_tf.blocks import ElasticBottleneck
from vipnas_tf.layers import ElasticBatchNorm, ElasticConv2D
from vipnas_tf.layers.common import max_pool_3x3_s2
from vipnas_tf.models.supernet import SuperNetwork, max_in_per_group, register_supernet


@register_supernet("resnet")
@keras.saving.register_keras_serializable(package="vipnas_tf")
class ResNetSuperNet(SuperNetwork):
    """Stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool) + four stages of elastic bottlenecks
    (projection shortcut in each stage's first block) + deconv head. `padding=` as
    `SuperNetwork` (the max-pool pads like `vipnas_tf.models.static_ops.max_pool`)."""

    def __init__(self, space="resnet50", input_size=(256, 192), **kwargs):
        super().__init__(space=space, input_size=input_size, **kwargs)

    def mid_of(self, width, expansion):
        return width // expansion

    def _build_layers(self):
        sp = self.space
        self.stem_conv = ElasticConv2D(3, max(sp.stem_width), max(sp.stem_kernel), 2,
                                       padding=self.padding, name="stem_conv")
        self.stem_bn = ElasticBatchNorm(max(sp.stem_width), name="stem_bn")
        self.stage_blocks = []
        in_widths = tuple(sp.stem_width)
        for i, st in enumerate(sp.stages):
            max_mid = max(w // e for w in st.width for e in st.expansion)
            cpg = max_in_per_group(sp, i, self.mid_of, in_widths)
            blocks = []
            for j in range(max(st.depth)):
                blocks.append(
                    ElasticBottleneck(
                        max(in_widths) if j == 0 else max(st.width), max(st.width), max_mid, max(st.kernel), cpg,
                        strides=st.stride if j == 0 else 1, has_downsample=j == 0,
                        has_gc=True in st.attention, padding=self.padding, name=f"stage{i + 1}_block{j + 1}",
                    )
                )
            self.stage_blocks.append(blocks)
            in_widths = tuple(st.width)

    def _backbone(self, inputs, choices, training, stage_hook=None):
        x = self.stem_conv(inputs, out_channels=choices["stem_width"], kernel_size=choices["stem_kernel"])
        x = tf.nn.relu(self.stem_bn(x, training=training))
        x = max_pool_3x3_s2(x, self.padding)
        for i, (blocks, st, c) in enumerate(zip(self.stage_blocks, self.space.stages, choices["stages"])):
            x = self.run_stage(x, blocks, c, min(st.depth), training)
            if stage_hook is not None:
                x = stage_hook(i + 1, x)
        return x
