"""The shared checks of tests/testcase.py catch what they are there to catch."""
import keras
import numpy as np
import pytest

from tests.testcase import run_layer_test, run_serialization_test, run_tflite_parity_test


@keras.saving.register_keras_serializable(package="vipnas_tf_tests")
class Forgetful(keras.layers.Layer):
    """A Dense-like layer whose config forgets `units`: its config round trip is
    consistent (the default comes back both times), only a saved model shows it."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")

    def call(self, inputs):
        return inputs @ self.kernel

    def get_config(self):
        config = super().get_config()
        config.pop("units", None)
        return config


def test_serialization_test_catches_a_config_that_loses_an_argument():
    x = np.ones((2, 4), np.float32)
    run_serialization_test(Forgetful(3), x)  # the default: nothing lost
    with pytest.raises(AssertionError):
        run_serialization_test(Forgetful(5), x)


def test_layer_test_checks_shape_and_weight_counts():
    x = np.ones((2, 4), np.float32)
    run_layer_test(keras.layers.Dense, dict(units=3), x, expected_output_shape=(2, 3),
                   expected_num_trainable_weights=2, expected_num_non_trainable_weights=0)
    with pytest.raises(AssertionError):
        run_layer_test(keras.layers.Dense, dict(units=3), x, expected_output_shape=(2, 4), run_serialization=False)
    with pytest.raises(AssertionError):
        run_layer_test(keras.layers.Dense, dict(units=3, use_bias=False), x, expected_num_trainable_weights=2,
                       run_serialization=False)


def _conv_model(seed):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((16, 12, 3), name="image")
    return keras.Model(inp, keras.layers.Conv2D(4, 3, padding="same")(inp))


def test_tflite_parity_test_passes_the_model_and_fails_another_reference():
    model = _conv_model(0)
    x = np.random.default_rng(0).normal(size=(1, 16, 12, 3)).astype(np.float32)
    parity = run_tflite_parity_test(model, x, atol=1e-4, builtin_ops_only=True)
    assert parity.max_abs_diff <= 1e-4 and parity.tflite.shape == (1, 16, 12, 4)
    with pytest.raises(AssertionError):
        run_tflite_parity_test(model, x, flatbuffer=parity.flatbuffer, reference=_conv_model(1), atol=1e-4)
    with pytest.raises(AssertionError, match="too small"):
        run_tflite_parity_test(model, x * 0, flatbuffer=parity.flatbuffer, min_peak=1e-2, same_argmax=False)
