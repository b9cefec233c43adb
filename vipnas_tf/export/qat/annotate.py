"""QAT stage 2: TFMOT annotation of a tf-keras model and its QAT (fake-quant) model.

`quantize_model(tfk_model)` is `tfmot.quantization.keras.quantize_model` after
annotating the layers TFMOT's default 8-bit registry does not know (Permute,
Cropping2D, hard-swish/hard-sigmoid activations, ...): pure data movement gets no
quantizer, activations get an output quantizer.
"""
from vipnas_tf.export.qat.legacy_keras import registry as _registry, tf_keras, tfmot
from vipnas_tf.export.qat.rebuild import CUSTOM_OBJECTS, GroupedConv2D, hard_sigmoid, hard_swish


# ------------------------------------------------------------------------------
# TFMOT annotation and QAT.

class NoOpQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
    """No quantizers: for layers that only move data (Permute, Cropping2D, ...)."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return []

    def get_config(self):
        return {}


class OutputQuantizeConfig(NoOpQuantizeConfig):
    """8-bit moving-average quantizer on the layer output (hard-swish, hard-sigmoid,
    other element-wise activations TFMOT does not know)."""

    def get_output_quantizers(self, layer):
        return [tfmot.quantization.keras.quantizers.MovingAverageQuantizer(
            num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]


_DATA_MOVEMENT = ("Permute", "Cropping2D", "Reshape", "ZeroPadding2D", "Flatten")


def _annotate(layer):
    """Annotates one layer for `quantize_apply`.

    Layers TFMOT knows (and BatchNormalization, which its Conv+BN transforms fold
    into the conv) keep the default scheme; data-movement layers it does not know
    get no quantizer; the hard-swish / hard-sigmoid Activation layers and other
    weightless layers it does not know (Multiply) get an output quantizer.
    """
    quantize_annotate_layer = tfmot.quantization.keras.quantize_annotate_layer
    name = type(layer).__name__
    activation = getattr(layer, "activation", None)
    supported = _registry.Default8BitQuantizeRegistry().supports(layer)
    if activation in (hard_swish, hard_sigmoid):
        if name != "Activation":
            raise ValueError(f"layer {layer.name!r} ({name}) has a fused {activation.__name__}, which "
                             "TFMOT cannot quantize; rebuild with "
                             "to_tf_keras(model, split_activations=True)")
        return quantize_annotate_layer(layer, OutputQuantizeConfig())
    if isinstance(layer, GroupedConv2D):
        return quantize_annotate_layer(layer, _registry.Default8BitConvQuantizeConfig(
            ["kernel"], ["activation"], False))
    if supported:
        return quantize_annotate_layer(layer)
    if name == "BatchNormalization":
        # Right after a conv, TFMOT's Conv+BN transform folds it; elsewhere (after
        # the sub-pixel shuffle) it stays a per-channel affine with a quantized output.
        inbound = layer.inbound_nodes[0].inbound_layers if layer.inbound_nodes else None
        # (GroupedConv2D is not matched by TFMOT's Conv2D + BN folding transform.)
        if (isinstance(inbound, (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D))
                and not isinstance(inbound, GroupedConv2D)):
            return quantize_annotate_layer(layer)
        return quantize_annotate_layer(layer, OutputQuantizeConfig())
    if name in _DATA_MOVEMENT:
        return quantize_annotate_layer(layer, NoOpQuantizeConfig())
    # Element-wise / merge layers without weights (Multiply, ...): quantize the output.
    if layer.weights:
        raise ValueError(f"layer {layer.name!r} ({name}) has weights and no TFMOT quantize "
                         "config; extend qat._annotate")
    return quantize_annotate_layer(layer, OutputQuantizeConfig())


def quantize_model(tfk_model) -> "tf_keras.Model":
    """TFMOT QAT model (fake-quant nodes, Conv+BN folding) of a tf-keras model.

    Args:
        tfk_model: from `to_tf_keras(model, split_activations=True)`.
    """
    # The clone function returns the layers themselves (annotated), so no layer is
    # re-created from its config here.
    annotated = tf_keras.models.clone_model(tfk_model, clone_function=_annotate)
    with tfmot.quantization.keras.quantize_scope({
            "NoOpQuantizeConfig": NoOpQuantizeConfig,
            "OutputQuantizeConfig": OutputQuantizeConfig, "GroupedConv2D": GroupedConv2D,
            "Default8BitConvQuantizeConfig": _registry.Default8BitConvQuantizeConfig,
            **CUSTOM_OBJECTS}):
        return tfmot.quantization.keras.quantize_apply(annotated)
