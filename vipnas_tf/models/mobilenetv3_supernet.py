"""The MobileNetV3 super-network (paper Table A1)."""
import keras
import tensorflow as tf

from vipnas_tf.blocks import ElasticInvertedResidual
from vipnas_tf.layers import ElasticBatchNorm, ElasticConv2D
from vipnas_tf.models.supernet import SuperNetwork, max_in_per_group, register_supernet


@register_supernet("mobilenetv3")
@keras.saving.register_keras_serializable(package="vipnas_tf")
class MobileNetV3SuperNet(SuperNetwork):
    """Stem (3x3/2, hard-swish) + six stages of elastic inverted residuals + deconv head.

    Example:
      >>> net = MobileNetV3SuperNet(input_size=(128, 96))
      >>> y = net(images, arch=net.encode(net.space.min()))
    """

    def __init__(self, space="mobilenetv3", input_size=(256, 192), **kwargs):
        super().__init__(space=space, input_size=input_size, **kwargs)

    def mid_of(self, width, expansion):
        return width * expansion

    def _build_layers(self):
        sp = self.space
        self.stem_conv = ElasticConv2D(3, max(sp.stem_width), max(sp.stem_kernel), 2,
                                       padding=self.padding, name="stem_conv")
        self.stem_bn = ElasticBatchNorm(max(sp.stem_width), name="stem_bn")
        self.stage_blocks = []
        in_widths = tuple(sp.stem_width)
        for i, st in enumerate(sp.stages):
            max_mid = max(w * e for w in st.width for e in st.expansion)
            cpg = max_in_per_group(sp, i, self.mid_of, in_widths)
            has_expand = not (st.expansion == (1,) and tuple(in_widths) == tuple(st.width))
            has_se = True in st.attention
            blocks = []
            for j in range(max(st.depth)):
                block_in = in_widths if j == 0 else st.width
                stride = st.stride if j == 0 else 1
                same = len(block_in) == 1 and tuple(block_in) == tuple(st.width)
                if stride == 1 and not same and set(block_in) & set(st.width):
                    raise NotImplementedError(f"stage {i + 1}: residual depends on sampled widths")
                blocks.append(
                    ElasticInvertedResidual(
                        max(block_in), max(st.width), max_mid, max(st.kernel), cpg,
                        strides=stride, activation=st.activation,
                        has_expand=has_expand or j > 0 and st.expansion != (1,),
                        has_se=has_se, residual=stride == 1 and same, padding=self.padding,
                        name=f"stage{i + 1}_block{j + 1}",
                    )
                )
            self.stage_blocks.append(blocks)
            in_widths = tuple(st.width)

    def _backbone(self, inputs, choices, training, stage_hook=None):
        x = self.stem_conv(inputs, out_channels=choices["stem_width"], kernel_size=choices["stem_kernel"])
        x = keras.activations.hard_swish(self.stem_bn(x, training=training))
        for i, (blocks, st, c) in enumerate(zip(self.stage_blocks, self.space.stages, choices["stages"])):
            x = self.run_stage(x, blocks, c, min(st.depth), training)
            if stage_hook is not None:
                x = stage_hook(i + 1, x)
        return x
