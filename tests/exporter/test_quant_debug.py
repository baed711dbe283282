"""Naming the int8 file's ops in Keras terms (``exporter.quant_debug``), without a converter."""

from __future__ import annotations

from exporter.quant_debug import LayerError, first_ops, float_stem

_NAMES = {"preprocess_scale", "conv1", "conv1_bn", "conv1_relu", "conv_dw_1", "conv_dw_1_bn",
          "conv_dw_1_relu", "conv_pad_2", "conv_dw_2", "conv_dw_2_relu", "dense_1", "dense"}


def _op(op: str, *layers: str) -> LayerError:
    """An op whose fused tensor name holds ``layers`` as the SavedModel names them."""
    parts = [f"model_1/backbone_1/{layer}_1/{kind}" for layer, kind in
             zip(layers, ("Relu6", "batchnorm/add_1", "convolution", "Pad"), strict=False)]
    return LayerError(";".join(parts), op, 0.5)


_OPS = [_op("DEPTHWISE_CONV_2D", "preprocess_scale"),
        _op("CONV_2D", "conv1_relu", "conv1_bn", "conv1"),
        _op("DEPTHWISE_CONV_2D", "conv_dw_1_relu", "conv_dw_1_bn", "conv_dw_1"),
        _op("DEPTHWISE_CONV_2D", "conv_dw_2_relu", "conv_dw_2", "conv_dw_2", "conv_pad_2"),
        _op("FULLY_CONNECTED", "dense_1")]


def test_an_op_names_every_fused_layer_without_the_call_suffix() -> None:
    assert _OPS[1].layers(_NAMES) == {"conv1", "conv1_bn", "conv1_relu"}
    assert _OPS[3].layers(_NAMES) == {"conv_dw_2", "conv_dw_2_relu", "conv_pad_2"}
    # a layer whose own name ends in _1 ("dense_1", called as "dense_1_1") is not "dense"
    assert _OPS[4].layers(_NAMES) == {"dense_1"}
    assert _OPS[1].layers({"conv9"}) == frozenset()
    # Keras's own names: "conv2d" runs as "conv2d_1", "conv2d_1" as "conv2d_1_2"
    auto = {"conv2d", "conv2d_1"}
    assert LayerError("tiny_1/conv2d_1/Relu;tiny_1/conv2d_1/BiasAdd", "CONV_2D", 0.3).layers(
        auto) == {"conv2d"}
    assert LayerError("tiny_1/conv2d_1_2/Relu", "CONV_2D", 0.3).layers(auto) == {"conv2d_1"}


def test_the_float_stem_skips_the_scaling_and_keeps_the_last_output_rounded() -> None:
    scaling = frozenset({"preprocess_scale"})
    assert first_ops(_OPS, 2, scaling) == _OPS[1:3]
    stem = float_stem(_OPS + _OPS[4:] * 2, 3, scaling, _NAMES)
    assert stem.ops == tuple(_OPS[1:4])
    assert stem.layers == {"conv1", "conv1_bn", "conv1_relu", "conv_dw_1", "conv_dw_1_bn",
                           "conv_dw_1_relu", "conv_dw_2", "conv_dw_2_relu", "conv_pad_2"}
    # the outputs inside the stem stay float; the last op's output is quantized for the next
    assert stem.float_outputs == stem.layers - {"conv_dw_2", "conv_dw_2_relu", "conv_pad_2"}
    assert stem.describe() == ["conv1 (CONV_2D)", "conv_dw_1 (DEPTHWISE_CONV_2D)",
                               "conv_dw_2 (DEPTHWISE_CONV_2D)"]
    # at most half of the ops after the scaling: the rest, and the output, stay int8
    assert float_stem(_OPS, 9, scaling, _NAMES).ops == tuple(_OPS[1:3])
    one = float_stem(_OPS, 1, scaling, _NAMES)
    assert one.float_outputs == frozenset() and one.layers == _OPS[1].layers(_NAMES)
