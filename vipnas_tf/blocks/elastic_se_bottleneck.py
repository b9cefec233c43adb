"""ElasticSEBottleneck: the ResNet bottleneck of HRNet's stage 1, with SE attention."""
import keras

from vipnas_tf.blocks.elastic_bottleneck import ElasticBottleneck
from vipnas_tf.layers import ElasticSE


@keras.saving.register_keras_serializable(package="vipnas_tf")
class ElasticSEBottleneck(ElasticBottleneck):
    """1x1 -> k x k grouped -> 1x1 (BN after each) -> optional SE -> + shortcut -> ReLU.

    `ElasticBottleneck` with SE (Table A3's attention for HRNet) in place of its GC block,
    at the same place: after the last BN, before the residual add. The convs, BNs and
    projection shortcut are the parent's (same layer names), so the static twin is the
    ResNet bottleneck with `static_ops.squeeze_excite` named '<block>_se'.

    Args:
      max_in_channels, max_width, max_mid_channels, max_kernel_size, max_in_per_group,
      strides, has_downsample: as `ElasticBottleneck`.
      has_se: whether an SE module (on the block's output width) exists.

    Call arguments:
      inputs: [N, H, W, I].
      width, mid, kernel, groups, attention: the active choices.
      training: BN mode.

    Example:
      >>> block = ElasticSEBottleneck(64, 256, 64, 3, 64, has_downsample=True, name="stage1_block1")
      >>> y = block(x, width=128, mid=32, kernel=3, groups=4, attention=1)
    """

    def __init__(
        self, max_in_channels, max_width, max_mid_channels, max_kernel_size, max_in_per_group,
        strides=1, has_downsample=False, has_se=True, **kwargs,
    ):
        kwargs.pop("has_gc", None)  # the parent's config key; always off here
        super().__init__(
            max_in_channels, max_width, max_mid_channels, max_kernel_size, max_in_per_group,
            strides=strides, has_downsample=has_downsample, has_gc=False, **kwargs,
        )
        self.has_se = bool(has_se)
        self.se = ElasticSE(self.max_width, name=f"{self.name}_se") if self.has_se else None

    @property
    def attention_module(self):
        return self.se

    def get_config(self):
        config = super().get_config()
        config.pop("has_gc", None)
        config["has_se"] = self.has_se
        return config
