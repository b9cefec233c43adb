"""The shared test case of the component tests, in the spirit of keras-hub's `TestCase`.

Three checks that every layer, block and exported model goes through the same way:

- `run_layer_test`: build a layer from its constructor arguments, call it, check the
  output shape and weight counts, and that `tf.function` computes what eager does;
  then `run_serialization_test` on it.
- `run_serialization_test`: `get_config` -> `from_config` and Keras (de)serialisation
  keep the config; with `input_data`, a `.keras` file of a model around the layer is
  saved, loaded and computes the same outputs.
- `run_tflite_parity_test`: convert a Keras model to TFLite, run it with LiteRT and
  compare its first output with the Keras model's (or a reference model's) within a
  tolerance, optionally with identical heatmap argmax and TFLite builtin ops only.

Import them in a test module: `from tests.testcase import run_layer_test`.
"""
import os
import socket
import tempfile
import types

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from vipnas_tf.export import tflite_export
from vipnas_tf.litert import run_tflite


def _as_list(data):
    return list(data) if isinstance(data, (list, tuple)) else [data]


def _one_or_list(items):
    return items if len(items) > 1 else items[0]


def _outputs(value):
    return [np.asarray(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def run_serialization_test(layer, input_data=None, call_kwargs=None, atol=1e-6):
    """Config round trips of `layer`; with `input_data` also a `.keras` file round trip.

    Checks that `from_config(get_config())` has an equal config, that
    `keras.saving.serialize_keras_object` -> `deserialize_keras_object` gives a layer of
    the same class and config, and (with `input_data`: an array or a list of arrays,
    batch first) that a functional model calling `layer(inputs, **call_kwargs)`,
    saved as `.keras` and loaded again, computes the same outputs within `atol`.
    Returns the clone built from the config.
    """
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is type(layer), (type(revived), type(layer))
    assert revived.get_config() == config
    if input_data is not None:
        arrays = [np.asarray(a) for a in _as_list(input_data)]
        inputs = [keras.Input(a.shape[1:], dtype=a.dtype) for a in arrays]
        model = keras.Model(_one_or_list(inputs), layer(_one_or_list(inputs), **(call_kwargs or {})))
        want = _outputs(model(_one_or_list(arrays), training=False))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "layer.keras")
            model.save(path)
            try:
                loaded = keras.saving.load_model(path)
            except ValueError as e:  # e.g. saved weights that do not fit the layer rebuilt from its config
                raise AssertionError(f"{type(layer).__name__}: the saved .keras model does not load: {e}") from e
        assert type(loaded.layers[-1]) is type(layer)
        assert loaded.layers[-1].get_config() == config
        got = _outputs(loaded(_one_or_list(arrays), training=False))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape, (g.shape, w.shape)
            np.testing.assert_allclose(g, w, atol=atol, rtol=0)
    return clone


def run_layer_test(layer_cls, init_kwargs, input_data, call_kwargs=None, expected_output_shape=None,
                   expected_num_trainable_weights=None, expected_num_non_trainable_weights=None,
                   run_serialization=True, atol=1e-5):
    """Builds `layer_cls(**init_kwargs)`, calls it on `input_data` with `call_kwargs`.

    Checks the output shape(s) (`expected_output_shape`: a tuple, or a list of tuples for
    several outputs), the numbers of trainable and non-trainable weights, that the same
    call inside `tf.function` gives the eager outputs within `atol`, and, unless
    `run_serialization=False`, `run_serialization_test` with the same data. Returns
    `(layer, outputs)` with the eager outputs as a list of arrays.
    """
    call_kwargs = dict(call_kwargs or {})
    layer = layer_cls(**init_kwargs)
    arrays = [np.asarray(a) for a in _as_list(input_data)]
    outputs = _outputs(layer(_one_or_list(arrays), **call_kwargs))
    if expected_output_shape is not None:
        expected = expected_output_shape if isinstance(expected_output_shape, list) else [expected_output_shape]
        assert [tuple(o.shape) for o in outputs] == [tuple(s) for s in expected], \
            ([o.shape for o in outputs], expected)
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights, len(layer.trainable_weights)
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, \
            len(layer.non_trainable_weights)
    traced = _outputs(tf.function(lambda *xs: layer(_one_or_list(list(xs)), **call_kwargs))(*arrays))
    for t, o in zip(traced, outputs):
        np.testing.assert_allclose(t, o, atol=atol, rtol=0)
    if run_serialization:
        run_serialization_test(layer, arrays, call_kwargs)
    return layer, outputs


def _argmax(heatmaps):
    return heatmaps.reshape(heatmaps.shape[0], -1, heatmaps.shape[-1]).argmax(1)


def run_tflite_parity_test(model, input_data, *, reference=None, quantization=None, flatbuffer=None,
                           atol=1e-4, relative_atol=None, same_argmax=True, min_peak=None,
                           builtin_ops_only=False):
    """Converts `model` to TFLite (or takes `flatbuffer`), runs it with LiteRT on
    `input_data` (an array or a list of arrays, one per model input, batch 1 each) and
    compares its first output with `reference(inputs)` (default: `model` itself).

    The maximum absolute difference must be <= `atol`, or <= `relative_atol` times the
    reference's largest magnitude when that is given (quantized models). With
    `same_argmax` every heatmap channel's argmax must be identical; with `min_peak` the
    reference must exceed it somewhere (a near-zero output would make any tolerance
    trivial); with `builtin_ops_only` no FLEX or CUSTOM op may appear. Returns a
    namespace with `flatbuffer`, `reference`, `tflite` (the two outputs) and `max_abs_diff`.
    """
    if flatbuffer is None:
        flatbuffer = tflite_export.export_tflite(model, quantization=quantization)
    inputs = [np.asarray(a) for a in _as_list(input_data)]
    ref = np.asarray((reference or model)(_one_or_list(inputs), training=False))
    got = run_tflite(flatbuffer, inputs)[0]
    assert got.shape == ref.shape, (got.shape, ref.shape)
    if min_peak is not None:
        assert np.abs(ref).max() > min_peak, "output too small for a meaningful comparison"
    err = float(np.abs(got - ref).max())
    tol = atol if relative_atol is None else relative_atol * float(np.abs(ref).max())
    assert err <= tol, (err, tol)
    if same_argmax:
        np.testing.assert_array_equal(_argmax(ref), _argmax(got))
    if builtin_ops_only:
        ops = {o["op_name"] for o in Interpreter(model_content=flatbuffer)._get_ops_details()}
        assert not any(op.startswith(("FLEX", "CUSTOM")) for op in ops), ops
    return types.SimpleNamespace(flatbuffer=flatbuffer, reference=ref, tflite=got, max_abs_diff=err)


def free_ports(n):
    """`n` free TCP ports on 127.0.0.1 (for a TF_CONFIG cluster of local worker processes)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports
