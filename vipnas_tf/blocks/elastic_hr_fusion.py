"""ElasticHRFusion: the multi-resolution fusion that ends every HRNet module."""
import keras
import tensorflow as tf

from vipnas_tf.layers import ElasticBatchNorm, ElasticConv2D


def path_key(i, j, k):
    """Name suffix of conv/BN number k (0-based) on the path from branch j to branch i."""
    return f"b{j + 1}_to_b{i + 1}_{k + 1}"


def upsample_nearest(x, factor):
    """Nearest-neighbour upsampling by an integer factor (what Keras' UpSampling2D does)."""
    return tf.repeat(tf.repeat(x, factor, axis=1), factor, axis=2)


@keras.saving.register_keras_serializable(package="vipnas_tf")
class ElasticHRFusion(keras.layers.Layer):
    """Exchange between the parallel branches of an HRNet module, sized to active widths.

    Branch b (0-based) runs at 1/2^b of branch 0's resolution. Output i is

        relu(sum_j f_ij(x_j)),  f_ii = identity,
        f_ij (j > i) = nearest-upsample x 2^(j-i) . BN . 1x1 conv (C_j -> C_i),
        f_ij (j < i) = BN . 3x3/2 conv (C_j -> C_i) . [ReLU . BN . 3x3/2 conv (C_j -> C_j)] x (i-j-1)

    as in HRNet / mmpose `HRModule._make_fuse_layers`. Every conv is an `ElasticConv2D`
    sliced to the active widths. The layers of the path j -> i are named
    '<name>_b{j+1}_to_b{i+1}_conv{k}' / '_bn{k}' (1-based), the names the static twin
    (`vipnas_tf.models.static_hrnet.fusion`) uses.

    Args:
      max_widths: largest width of each branch, highest resolution first.
      outputs: the output branches this fusion can produce (default all). The last
        module of HRNet's last stage keeps only branch 0 (`multiscale_output=False`).

    Call arguments:
      inputs: list of [N, H / 2^b, W / 2^b, C_b] tensors, one per branch.
      widths: list of the active widths C_b (ints or int32 scalar tensors).
      outputs: which of `self.outputs` to compute (default all of them).
      training: BN mode.

    Returns:
      A list with one [N, H / 2^i, W / 2^i, C_i] tensor per requested output i.

    Example:
      >>> fuse = ElasticHRFusion((32, 64), name="stage2_module1_fuse")
      >>> y0, y1 = fuse([x0, x1], widths=[24, 48])
    """

    def __init__(self, max_widths, outputs=None, **kwargs):
        super().__init__(**kwargs)
        self.max_widths = tuple(int(c) for c in max_widths)
        n = len(self.max_widths)
        self.outputs = tuple(range(n)) if outputs is None else tuple(int(i) for i in outputs)
        if not self.outputs or any(not 0 <= i < n for i in self.outputs):
            raise ValueError(f"{self.name}: outputs {outputs} must be branch indices in [0, {n})")
        self.convs, self.bns = {}, {}
        for i in self.outputs:
            for j in range(n):
                if j > i:
                    self._add(i, j, 0, self.max_widths[j], self.max_widths[i], 1, 1)
                for k in range(i - j):  # j < i: i - j stride-2 convs
                    out = self.max_widths[i] if k == i - j - 1 else self.max_widths[j]
                    self._add(i, j, k, self.max_widths[j], out, 3, 2)

    def _add(self, i, j, k, c_in, c_out, kernel, strides):
        key = path_key(i, j, k)
        base = f"{self.name}_b{j + 1}_to_b{i + 1}"
        self.convs[key] = ElasticConv2D(c_in, c_out, kernel, strides, name=f"{base}_conv{k + 1}")
        self.bns[key] = ElasticBatchNorm(c_out, name=f"{base}_bn{k + 1}")

    def build(self, input_shape=None):
        for layer in self._flatten_layers(include_self=False, recursive=True):
            if not layer.built:
                layer.build(None)
        self.built = True

    def call(self, inputs, widths=None, outputs=None, training=None):
        n = len(self.max_widths)
        if len(inputs) != n:
            raise ValueError(f"{self.name}: expected {n} branches, got {len(inputs)}")
        widths = list(self.max_widths) if widths is None else list(widths)
        results = []
        for i in self.outputs if outputs is None else outputs:
            if i not in self.outputs:
                raise ValueError(f"{self.name}: output {i} was not built (outputs: {self.outputs})")
            y = None
            for j in range(n):
                if j == i:
                    t = inputs[i]
                elif j > i:
                    key = path_key(i, j, 0)
                    t = self.bns[key](self.convs[key](inputs[j], out_channels=widths[i]), training=training)
                    t = upsample_nearest(t, 2 ** (j - i))
                else:
                    t = inputs[j]
                    for k in range(i - j):
                        last = k == i - j - 1
                        key = path_key(i, j, k)
                        t = self.convs[key](t, out_channels=widths[i] if last else widths[j])
                        t = self.bns[key](t, training=training)
                        if not last:
                            t = tf.nn.relu(t)
                # Summed in branch order, as the static twin's Add layer does, so that
                # float32 rounding is the same in both.
                y = t if y is None else y + t
            results.append(tf.nn.relu(y))
        return results

    def get_config(self):
        config = super().get_config()
        config.update({"max_widths": list(self.max_widths), "outputs": list(self.outputs)})
        return config
