"""GroupedConv2D: Keras' `Conv2D(groups=g)` computed by `tf.nn.conv2d` directly."""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="vipnas_tf")
class GroupedConv2D(keras.layers.Conv2D):
    """`Conv2D(groups=g)` computed by `tf.nn.conv2d` directly.

    Same configuration, weights and maths as Keras' Conv2D. Keras 3's TensorFlow
    backend runs every conv whose input channels differ from the kernel's (a grouped
    conv) through a function compiled with `jit_compile=True`
    (`keras/src/backend/tensorflow/nn.py`: "grouped convolutions are broken on CPU
    without XLA"). XLA's grouped conv is slow on CPU: measured 10x slower forward
    (27.8 vs 2.75 ms for a 7x7 g20 conv of 160 channels at 64x48), and an extracted
    S-ViPNAS-MobileNetV3's training step took minutes instead of a fraction of a
    second (`scripts/bench_supernet.py --archs=preset`). `tf.nn.conv2d` runs grouped
    convs natively, forward and backward, as the super-network's `ElasticConv2D`
    does. Both convert to the same TFLite grouped CONV_2D.

    The static models (`vipnas_tf.models.static_ops.conv`) use it for every grouped,
    non-depthwise conv, so they train with `model.fit` at the speed of the
    super-network's fixed graph; the lowering (`vipnas_tf.export.lowering`) keeps it
    where a grouped conv stays grouped. TensorFlow backend only;
    `vipnas_tf.export.qat.to_tf_keras` maps it to a tf-keras Conv2D.
    """

    def convolution_op(self, inputs, kernel):
        if self.data_format != "channels_last":
            return super().convolution_op(inputs, kernel)
        return tf.nn.conv2d(inputs, kernel, strides=list(self.strides),
                            padding=self.padding.upper(), dilations=list(self.dilation_rate))
