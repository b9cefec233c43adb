"""Static models as .keras files: GroupedConv2D round-trips, loads after `import vipnas_tf`,
and fine-tunes with `model.fit` without Keras' XLA path for grouped convs."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from vipnas_tf.arch import get_space, parse_arch
from vipnas_tf.export.savedmodel import export_keras_file
from vipnas_tf.layers import GroupedConv2D
from vipnas_tf.models import build_static
from vipnas_tf.models.random_init import randomize_weights

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = (64, 64)


# A small MobileNetV3 of the space (11 blocks, half of S-ViPNAS-MobileNetV3's, to keep
# the training trace short) with the same kinds of layers: grouped 7x7 / 5x5 / 3x3 convs
# (2 and 4 channels per group), depthwise convs, SE, hard-swish, the grouped head.
ARCH = ("mobilenetv3/stem_c16_k3/d1_c16_e1_k3_g16_att/d2_c24_e3_k7_g36/d2_c40_e3_k5_g60_att/"
        "d2_c80_e3_k3_g60/d2_c112_e3_k3_g84_att/d2_c160_e3_k3_g120/head_c160_g32")


@pytest.fixture(scope="module")
def static_mbv3():
    """The static model of ARCH at 64x64, random weights."""
    arch = parse_arch(ARCH)
    get_space(arch.space).validate(arch)
    return randomize_weights(build_static(arch, SIZE), seed=3)


@pytest.fixture(scope="module")
def keras_file(static_mbv3, tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / "mbv3_small.keras"
    return path, export_keras_file(static_mbv3, path)


def _inputs(n=2, seed=0):
    return np.random.default_rng(seed).standard_normal((n,) + SIZE + (3,)).astype(np.float32)


def test_grouped_convs_are_grouped_conv2d(static_mbv3):
    grouped = [l for l in static_mbv3.layers if isinstance(l, keras.layers.Conv2D) and l.groups > 1]
    assert grouped, "the preset has grouped convs"
    # Keras' own Conv2D(groups > 1) runs through XLA on CPU (minutes per training step).
    assert all(isinstance(l, GroupedConv2D) for l in grouped), [type(l).__name__ for l in grouped]
    layer = grouped[0]
    clone = GroupedConv2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_keras_file_round_trip(keras_file):
    """export_keras_file loads the written file back in this process and compares outputs."""
    path, summary = keras_file
    assert summary["path"] == str(path) and summary["bytes"] == os.path.getsize(path)
    assert summary["reload_max_abs_diff"] == 0.0
    assert not [p for p in os.listdir(path.parent) if ".tmp-" in p]


def test_keras_file_loads_after_plain_import(static_mbv3, keras_file, tmp_path):
    """A fresh process: `import vipnas_tf` (no other vipnas_tf import) is enough for Keras
    to find GroupedConv2D; every layer, weight and the output come back identical."""
    path, _ = keras_file
    x = _inputs(1, seed=1)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, numpy as np\n"
            "import vipnas_tf\n"
            "import keras\n"
            f"m = keras.saving.load_model({str(path)!r})\n"
            f"np.save({str(tmp_path / 'y.npy')!r}, np.asarray(m(np.load({str(tmp_path / 'x.npy')!r}))))\n"
            f"np.savez({str(tmp_path / 'w.npz')!r}, *[np.asarray(w) for w in m.weights])\n"
            "print(','.join(type(l).__name__ for l in m.layers))\n")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                       check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == [",".join(type(l).__name__ for l in static_mbv3.layers)]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), np.asarray(static_mbv3(x, training=False)),
                               atol=1e-6)
    weights = np.load(tmp_path / "w.npz")
    assert len(weights.files) == len(static_mbv3.weights)
    for i, w in enumerate(static_mbv3.weights):
        np.testing.assert_array_equal(weights[f"arr_{i}"], np.asarray(w), err_msg=w.path)


@pytest.mark.slow
def test_loaded_keras_file_fine_tunes_with_fit(keras_file):
    path, _ = keras_file
    model = keras.saving.load_model(path)
    before = [np.array(w) for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    x = _inputs(4, seed=2)
    y = np.random.default_rng(3).uniform(size=(4, SIZE[0] // 4, SIZE[1] // 4, 17)).astype(np.float32)
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    grouped = [i for i, w in enumerate(model.trainable_weights) if "mid_conv" in w.path and "kernel" in w.path]
    assert grouped and all(np.abs(np.array(model.trainable_weights[i]) - before[i]).max() > 0 for i in grouped)


def test_keras_file_refuses_other_suffix(static_mbv3, tmp_path):
    with pytest.raises(ValueError, match="must end in .keras"):
        export_keras_file(static_mbv3, tmp_path / "model.h5")
    assert not os.listdir(tmp_path)
