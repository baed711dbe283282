"""Classifier composition (contract I/O, built-in layers only, naming, mixed precision) and
the freeze / BatchNorm policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from trainer.backbones import REGISTRY
from trainer.errors import ModelError
from trainer.freeze import apply_freeze, backbone_layers
from trainer.model import HeadConfig, build_classifier

CHEAP = [
    "small_cnn",
    "mini_vgg",
    "mobilenet",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "efficientnet_b0",
]


def _size(name: str) -> int:
    return REGISTRY[name].min_size if REGISTRY[name].min_size >= 32 else 32


def _all_layers(model: Any) -> Iterator[Any]:
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_contract_io_and_builtin_layers(name: str) -> None:
    import keras

    alpha = 0.25 if name == "mobilenet" else 1.0
    model = build_classifier(
        name, 3, _size(name), alpha=alpha, head=HeadConfig(dense=8, dropout=0.1)
    )
    assert [t.name for t in model.inputs] == ["image"]
    assert model.inputs[0].dtype == "float32"
    assert tuple(model.outputs[0].shape) == (None, 3)
    assert model.get_layer("backbone").name == "backbone"
    names = [layer.name for layer in model.layers]
    assert {"head_dense", "head_dropout", "head_output"} <= set(names)
    for layer in _all_layers(model):
        assert not isinstance(layer, keras.layers.Lambda), layer.name
        assert type(layer).__module__.startswith("keras."), (layer.name, type(layer))
    x = np.random.default_rng(0).uniform(0, 255, (2, _size(name), _size(name), 3))
    probs = np.asarray(model(x.astype("float32"), training=False))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_mixed_precision_keeps_io_and_preprocessing_float32() -> None:
    import keras

    model = build_classifier("mobilenet", 4, 32, alpha=0.25, precision="mixed_float16")
    assert keras.config.dtype_policy().name == "float32"  # global policy restored
    assert model.get_layer("head_output").dtype_policy.compute_dtype == "float32"
    assert model.get_layer("preprocess_scale").dtype_policy.compute_dtype == "float32"
    assert model.get_layer("backbone").layers[1].dtype_policy.name == "mixed_float16"
    assert model.outputs[0].dtype == "float32"


def test_mixed_precision_compiles_with_loss_scaling() -> None:
    import keras

    from trainer.config import make_config
    from trainer.training import compile_model

    model = build_classifier("small_cnn", 3, 32, precision="mixed_float16")
    compile_model(model, make_config(data="d", out="o", epochs=2), steps_per_epoch=4, xla=False)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


def test_small_cnn_freeze_counts() -> None:
    # conv1 3*3*3*32+32 = 896; fc1 (15*15*32)*100+100 = 720100; head 100*4+4 = 404
    model = build_classifier("small_cnn", 4, 32)
    assert apply_freeze(model, "none", "train").trainable_params == 896 + 720100 + 404
    assert apply_freeze(model, "conv1", "train").trainable_params == 720100 + 404
    assert apply_freeze(model, "1", "train").trainable_params == 720100 + 404
    report = apply_freeze(model, "all", "train")
    assert (report.trainable_params, report.total_params) == (404, 896 + 720100 + 404)


def _non_trainable_by_type(model: Any) -> int:
    """BatchNorm moving statistics and Normalization/caffe preprocessing constants, counted
    from layer types and channel counts (independently of the freeze code)."""
    import keras

    count = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            count += 2 * int(layer.moving_mean.shape[0])
        elif isinstance(layer, keras.layers.Normalization):
            count += sum(int(np.prod(w.shape)) for w in layer.weights)
        elif layer.name == "preprocess_bgr_mean":
            count += 12
    return count


@pytest.mark.parametrize("name", CHEAP)
def test_freeze_all_and_none_over_registry(name: str) -> None:
    alpha = 0.25 if name == "mobilenet" else 1.0
    model = build_classifier(name, 5, _size(name), alpha=alpha)
    head = model.get_layer("head_output").count_params()
    report = apply_freeze(model, "all", "train")
    assert report.trainable_params == head
    assert report.frozen_layers == report.backbone_layers
    report = apply_freeze(model, "none", "train")
    assert report.trainable_params == report.total_params - _non_trainable_by_type(model)


def test_freeze_errors() -> None:
    model = build_classifier("mini_vgg", 3, 32)
    with pytest.raises(ModelError, match="exceeds the backbone's 21 layers"):
        apply_freeze(model, "99", "train")
    with pytest.raises(ModelError, match="no such backbone layer"):
        apply_freeze(model, "conv99", "train")


def test_unknown_batchnorm_mode() -> None:
    model = build_classifier("small_cnn", 3, 32)
    with pytest.raises(ModelError, match="--batchnorm must be train or frozen"):
        apply_freeze(model, "none", "auto")


def _train_one_batch(model: Any) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 8)]
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.train_on_batch(x, y)


def _moving_mean(model: Any, layer: str) -> np.ndarray:
    return np.asarray(model.get_layer("backbone").get_layer(layer).moving_mean).copy()


@pytest.mark.parametrize(("bn", "block2_bn_updates"), [("train", True), ("frozen", False)])
def test_batchnorm_modes_in_partially_frozen_backbone(bn: str, block2_bn_updates: bool) -> None:
    model = build_classifier("mini_vgg", 3, 32)
    report = apply_freeze(model, "block1_pool", bn)
    assert report.frozen_layers == 7
    layers = {layer.name: layer for layer in backbone_layers(model)}
    assert not layers["block1_conv1"].trainable and layers["block2_conv1"].trainable
    before1, before2 = _moving_mean(model, "block1_bn1"), _moving_mean(model, "block2_bn1")
    conv2 = np.asarray(layers["block2_conv1"].kernel).copy()
    conv1 = np.asarray(layers["block1_conv1"].kernel).copy()
    _train_one_batch(model)
    np.testing.assert_array_equal(_moving_mean(model, "block1_bn1"), before1)  # frozen: inference
    assert (not np.array_equal(_moving_mean(model, "block2_bn1"), before2)) is block2_bn_updates
    np.testing.assert_array_equal(np.asarray(layers["block1_conv1"].kernel), conv1)
    assert not np.array_equal(np.asarray(layers["block2_conv1"].kernel), conv2)


def test_frozen_batchnorm_runs_in_inference_mode_when_training() -> None:
    model = build_classifier("mini_vgg", 3, 32)
    apply_freeze(model, "all", "train")
    x = np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    backbone = model.get_layer("backbone")
    feats_train = np.asarray(backbone(x / 255.0, training=True))
    feats_infer = np.asarray(backbone(x / 255.0, training=False))
    np.testing.assert_allclose(feats_train, feats_infer, rtol=1e-5, atol=1e-5)
