"""Backbone registry: specs, request checks, weights files (good, wrong architecture,
wrong alpha) and the offline ImageNet message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.backbones import REGISTRY, create_backbone, get_spec
from trainer.errors import ModelError

EXPECTED = [
    "small_cnn",
    "mini_vgg",
    "vgg16",
    "mobilenet",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "resnet50",
    "efficientnet_b0",
]


def test_registry_holds_the_issue_backbones() -> None:
    assert list(REGISTRY) == EXPECTED
    for spec in REGISTRY.values():
        assert spec.min_size <= spec.default_size


def test_unknown_backbone_lists_valid_names() -> None:
    with pytest.raises(ModelError) as info:
        get_spec("resnet18")
    assert "unknown backbone 'resnet18'" in str(info.value)
    assert all(name in str(info.value) for name in EXPECTED)


@pytest.mark.parametrize(
    ("name", "size", "weights", "alpha", "message"),
    [
        ("mobilenet", 16, "none", 1.0, "--image-size 16 is too small for mobilenet: minimum 32"),
        ("resnet50", 64, "none", 0.5, "--alpha applies to mobilenet backbones only"),
        ("small_cnn", 32, "imagenet", 1.0, "small_cnn has no ImageNet weights"),
        ("mobilenet", 128, "imagenet", 0.3, "no ImageNet weights for mobilenet alpha 0.3"),
        ("mobilenet", 128, "missing.h5", 1.0, "weights file not found: missing.h5"),
    ],
)
def test_rejected_requests(name: str, size: int, weights: str, alpha: float, message: str) -> None:
    with pytest.raises(ModelError, match=message.replace("(", r"\(")):
        create_backbone(name, size, weights, alpha)


@pytest.fixture(scope="module")
def mobilenet_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    path = tmp_path_factory.mktemp("weights") / "mobilenet_025.weights.h5"
    model = create_backbone("mobilenet", 32, "none", 0.25)
    model.save_weights(path)
    return path, model.get_weights()


def test_weights_file_loads_into_same_architecture(mobilenet_weights: tuple) -> None:
    path, expected = mobilenet_weights
    model = create_backbone("mobilenet", 64, str(path), 0.25)
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("name", "alpha"), [("mobilenet", 0.5), ("mini_vgg", 1.0)])
def test_weights_file_for_another_architecture(
    mobilenet_weights: tuple, name: str, alpha: float
) -> None:
    path, _ = mobilenet_weights
    with pytest.raises(ModelError) as info:
        create_backbone(name, 32, str(path), alpha)
    text = str(info.value)
    assert text.startswith(f"weights file {path} does not fit {name}")
    assert "\n" not in text


def test_offline_imagenet_names_weights_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from keras.src.applications import mobilenet

    def offline(*args: object, **kwargs: object) -> str:
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(mobilenet.file_utils, "get_file", offline)
    with pytest.raises(ModelError) as info:
        create_backbone("mobilenet", 128, "imagenet", 0.25)
    assert "pass a local file with --weights PATH" in str(info.value)
    assert "\n" not in str(info.value)
