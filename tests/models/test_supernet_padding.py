"""A super-network built with PyTorch's padding ("symmetric") computes the imported
(static, `pad_symmetric`) networks exactly once their weights are loaded into it
(`SuperNetwork.load_static`, the reverse of `extract`), and extracts them again."""
import dataclasses

import keras
import numpy as np
import pytest

from vipnas_tf.interop.mmpose import mmpose_arch
from vipnas_tf.models import build_static, build_supernet
from vipnas_tf.models.random_init import calibrate_batch_norm, randomize_weights

pytestmark = pytest.mark.slow  # builds whole super-networks of both families

INPUT = (64, 64)


# (network, BN statistics calibrated on the test images, tolerance of max |heatmap|).
# Calibrated statistics make the heatmaps depend strongly on the image (and on the
# padding) but amplify float32 rounding: the deep ResNet then differs by ~2e-3 between
# super-network and static model whatever the padding ('same' too), so it is compared
# with fan-in-scaled statistics, where it agrees to ~6e-7.
CASES = [("s_vipnas_mbv3", True, 1e-4), ("s_vipnas_res50", False, 1e-5)]


@pytest.mark.parametrize("name,calibrate,tolerance", CASES)
def test_symmetric_supernet_computes_the_imported_static_model(name, calibrate, tolerance):
    arch = mmpose_arch(name)
    static = randomize_weights(build_static(arch, INPUT), seed=1)
    x = np.random.default_rng(0).standard_normal((2, *INPUT, 3)).astype(np.float32)
    if calibrate:
        calibrate_batch_norm(static, x)
    want = static(x, training=False).numpy()
    scale = np.abs(want).max()

    net = build_supernet(arch.space, INPUT, padding="symmetric")
    net.load_static(static, arch)
    assert net.get_active() == arch
    for choice in (arch, net.encode(arch)):  # specialised graph and the encoded vector
        got = net(x, arch=choice, training=False).numpy()
        assert np.abs(got - want).max() <= tolerance * scale, name
    extracted = net.extract(arch, INPUT)
    assert extracted.get_layer("stem_conv_pad") is not None  # the export pads like PyTorch again
    np.testing.assert_allclose(extracted(x, training=False).numpy(), want, atol=1e-6 * scale)

    # The padding is the network's: TF 'same' on the same weights computes another function.
    same_arch = dataclasses.replace(arch, padding="same")
    same = build_supernet(arch.space, INPUT)
    for src, dst in zip(net.weights, same.weights):
        dst.assign(src)
    if calibrate:
        assert np.abs(same(x, arch=same_arch, training=False).numpy() - want).max() > 0.01 * scale
    with pytest.raises(ValueError, match="this super-network was built with padding='same'"):
        same.extract(arch)
    with pytest.raises(ValueError, match="padding='same', but this super-network was built with "
                                         "padding='symmetric'"):
        net.set_active(same_arch)

    # The padding survives Keras serialisation.
    config = keras.saving.serialize_keras_object(net)
    assert keras.saving.deserialize_keras_object(config).padding == "symmetric"


def test_load_static_refuses_a_model_of_another_architecture():
    arch = mmpose_arch("s_vipnas_mbv3")
    other = arch.replace_stage(1, depth=2)
    net = build_supernet(arch.space, INPUT, padding="symmetric")
    with pytest.raises(ValueError, match=r"is not a static model of mobilenetv3/.*layers differing in name or "
                                         r"weight shapes: \['stage2_block3"):
        net.load_static(build_static(other, INPUT), arch)
    with pytest.raises(ValueError, match="padding must be one of"):
        build_supernet(arch.space, INPUT, padding="reflect")
    with pytest.raises(ValueError, match="padding='symmetric' is supported for the mobilenetv3, resnet families"):
        build_supernet("hrnet_w32", INPUT, padding="symmetric")
