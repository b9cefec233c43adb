"""ElasticBatchNorm: batch norm whose scale, offset and statistics follow the active width."""
import keras
import numpy as np
import tensorflow as tf


@keras.saving.register_keras_serializable(package="vipnas_tf")
class ElasticBatchNorm(keras.layers.Layer):
    """Batch normalisation over the first C channels of full-size parameters.

    gamma, beta and the moving statistics exist at `max_channels`; a call on an input of
    C channels uses (and, in training, updates) only their first C entries.

    `momentum` is a (non-trainable) variable rather than a constant so that BN
    re-calibration can switch every layer to a cumulative average (momentum n/(n+1) at
    batch n) without re-tracing the forward function; see `set_momentum`.

    Args:
      max_channels: largest channel count.
      momentum: moving-average momentum (Keras convention: new = m * old + (1-m) * batch).
      epsilon: variance epsilon (1e-5 as in PyTorch, which the published models used).
      gamma_initializer: "ones", or "zeros" for the last BN of a residual branch (the
        block starts as the identity; see `blocks.elastic_inverted_residual.residual_gamma_init`).

    Call arguments:
      inputs: [N, H, W, C] with C <= max_channels.
      training: use batch statistics and update the moving ones.
    """

    def __init__(self, max_channels, momentum=0.9, epsilon=1e-5, gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.max_channels = int(max_channels)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.gamma_initializer = gamma_initializer

    def build(self, input_shape=None):
        c = (self.max_channels,)
        self.gamma = self.add_weight(name="gamma", shape=c, initializer=self.gamma_initializer)
        self.beta = self.add_weight(name="beta", shape=c, initializer="zeros")
        self.moving_mean = self._statistic("moving_mean", c, "zeros")
        self.moving_variance = self._statistic("moving_variance", c, "ones")
        self.momentum_var = self.add_weight(
            name="momentum",
            shape=(),
            initializer=keras.initializers.Constant(self.momentum),
            trainable=False,
            aggregation="only_first_replica",
        )
        self.built = True

    def _statistic(self, name, shape, initializer):
        """A moving statistic: synchronised on read, averaged over replicas.

        Under a tf.distribute strategy each replica updates its own copy inside the
        step (no cross-replica synchronisation point, so the update may sit inside
        `tf.cond` / `tf.while_loop`, where MirroredStrategy forbids merge calls); the
        copies are averaged when read outside the replicas, e.g. when checkpointing.
        Statistics are per replica, like Keras' BatchNormalization (not synchronised).
        """
        with keras.name_scope(self.name, caller=self):
            variable = keras.Variable(
                initializer=keras.initializers.get(initializer), shape=shape, dtype=self.variable_dtype,
                trainable=False, aggregation="mean", synchronization="on_read", name=name,
            )
        self._track_variable(variable)
        return variable

    def set_momentum(self, value):
        self.momentum_var.assign(value)

    def reset_statistics(self):
        self.moving_mean.assign(np.zeros(self.max_channels, np.float32))
        self.moving_variance.assign(np.ones(self.max_channels, np.float32))

    def call(self, inputs, training=None):
        c = inputs.shape[-1] if inputs.shape[-1] is not None else tf.shape(inputs)[-1]
        gamma = tf.convert_to_tensor(self.gamma)[:c]
        beta = tf.convert_to_tensor(self.beta)[:c]
        moving_mean = tf.convert_to_tensor(self.moving_mean)
        moving_var = tf.convert_to_tensor(self.moving_variance)
        if training:
            mean, var = tf.nn.moments(inputs, axes=[0, 1, 2])
            m = tf.convert_to_tensor(self.momentum_var)
            new_mean = moving_mean[:c] * m + tf.stop_gradient(mean) * (1.0 - m)
            new_var = moving_var[:c] * m + tf.stop_gradient(var) * (1.0 - m)
            self.moving_mean.assign(tf.concat([new_mean, moving_mean[c:]], axis=0))
            self.moving_variance.assign(tf.concat([new_var, moving_var[c:]], axis=0))
        else:
            mean, var = moving_mean[:c], moving_var[:c]
        return tf.nn.batch_normalization(inputs, mean, var, beta, gamma, self.epsilon)

    def export_weights(self, static_layer, part=None):
        """[gamma, beta, moving_mean, moving_variance] sliced for a static BatchNormalization."""
        c = int(static_layer.weights[0].shape[0])
        return [np.asarray(v)[:c] for v in (self.gamma, self.beta, self.moving_mean, self.moving_variance)]

    def get_config(self):
        config = super().get_config()
        config.update({"max_channels": self.max_channels, "momentum": self.momentum, "epsilon": self.epsilon,
                       "gamma_initializer": self.gamma_initializer})
        return config
