"""The backbone registry: one spec per name and one factory, ``create_backbone``.

A backbone is a Keras functional model named ``backbone`` that maps preprocessed
``(S, S, 3)`` images to features (4-D maps, or a flat vector for ``small_cnn``, which
carries the tutorial's own hidden layer). Weights: ``imagenet`` (Keras' downloader),
``none`` (random init) or a path to a Keras ``.h5``/``.weights.h5`` file without top.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

from trainer import scratch_nets
from trainer.backbone_spec import BACKBONE_NAME, BackboneSpec
from trainer.errors import ModelError

__all__ = ["BackboneSpec", "REGISTRY", "get_spec", "create_backbone", "count_backbone_params",
           "backbone_table"]

log = logging.getLogger(__name__)
REGISTRY: dict[str, BackboneSpec] = {
    s.name: s
    for s in [
        BackboneSpec("small_cnn", "small_cnn", 32, 8, "unit", imagenet=False, flat_features=True),
        BackboneSpec("mini_vgg", "mini_vgg", 32, 8, "unit", imagenet=False),
        BackboneSpec("vgg16", "VGG16", 224, 32, "caffe"),
        BackboneSpec("mobilenet", "MobileNet", 224, 32, "tf", alphas=(0.25, 0.5, 0.75, 1.0)),
        BackboneSpec("mobilenet_v2", "MobileNetV2", 224, 32, "tf",
                     alphas=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4)),
        BackboneSpec("mobilenet_v3_small", "MobileNetV3Small", 224, 32, "none",
                     alphas=(0.75, 1.0)),
        BackboneSpec("mobilenet_v3_large", "MobileNetV3Large", 224, 32, "none",
                     alphas=(0.75, 1.0)),
        BackboneSpec("resnet50", "ResNet50", 224, 32, "caffe"),
        BackboneSpec("efficientnet_b0", "EfficientNetB0", 224, 32, "none"),
    ]
}


def get_spec(name: str) -> BackboneSpec:
    """The spec for ``name`` (``hub:HANDLE_OR_PATH``: a TF-Hub feature vector, see
    ``trainer.hub``); an unknown name is a ModelError listing the valid ones."""
    if name.startswith("hub:"):
        from trainer.hub import hub_spec  # hub imports this module

        return hub_spec(name)
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown backbone {name!r}; valid: {', '.join(REGISTRY)} or "
                         "hub:HANDLE_OR_PATH") from None


def check_request(spec: BackboneSpec, image_size: int, weights: str, alpha: float) -> None:
    """Reject sizes, alphas and weights the backbone cannot take, with one-line messages."""
    if image_size < spec.min_size:
        raise ModelError(f"--image-size {image_size} is too small for {spec.name}: "
                         f"minimum {spec.min_size} (default {spec.default_size})")
    if alpha != 1.0 and not spec.alphas:
        raise ModelError(f"--alpha applies to mobilenet backbones only, not {spec.name}")
    if alpha <= 0:
        raise ModelError(f"--alpha must be > 0, got {alpha}")
    if weights == "imagenet" and not spec.has_imagenet(alpha):
        if not spec.imagenet:
            raise ModelError(f"{spec.name} has no ImageNet weights; use --weights none or PATH")
        raise ModelError(f"no ImageNet weights for {spec.name} alpha {alpha}; ImageNet alphas: "
                         f"{', '.join(str(a) for a in spec.alphas)} (or --weights none|PATH)")
    if weights not in ("imagenet", "none") and not Path(weights).is_file():
        raise ModelError(f"weights file not found: {weights} (accepted: imagenet, none or "
                         "a Keras .h5/.weights.h5 file)")


def _build(spec: BackboneSpec, image_size: int, weights: str | None, alpha: float) -> Any:
    import keras

    shape = (image_size, image_size, 3)
    if not spec.from_keras_applications:
        model = getattr(scratch_nets, spec.builder)(shape, name=BACKBONE_NAME)
        if weights is not None and weights != "imagenet":
            model.load_weights(weights)
        return model
    kwargs: dict[str, Any] = {"input_shape": shape, "include_top": False, "weights": weights,
                              "name": BACKBONE_NAME}
    if spec.alphas:
        kwargs["alpha"] = alpha
    if spec.builder.startswith("MobileNetV3"):
        kwargs["include_preprocessing"] = True
    return getattr(keras.applications, spec.builder)(**kwargs)


def create_backbone(name: str, image_size: int, weights: str = "none",
                    alpha: float = 1.0) -> Any:
    """Build backbone ``name`` for ``image_size`` px input with ``weights``
    (``imagenet`` | ``none`` | path). Every failure is a one-line ModelError."""
    if name.startswith("hub:"):
        from trainer.hub import hub_backbone

        return hub_backbone(name, image_size, weights)
    spec = get_spec(name)
    check_request(spec, image_size, weights, alpha)
    keras_weights = None if weights == "none" else weights
    if keras_weights not in (None, "imagenet"):
        log.info("loading %s weights from %s", name, keras_weights)
        made_for = re.search(r"_(\d{2,3})_", Path(keras_weights).name)
        if made_for and spec.from_keras_applications and int(made_for.group(1)) != image_size:
            log.warning("%s looks made for %s px input; loading it at %d px (convolution "
                        "weights do not depend on the input size)", keras_weights,
                        made_for.group(1), image_size)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = _build(spec, image_size, keras_weights, alpha)
        _check_load_warnings(caught, name, weights)
        return model
    except ModelError:
        raise
    except Exception as exc:  # Keras raises ValueError/OSError/URL errors with long texts
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        if weights == "imagenet":
            raise ModelError(f"could not get ImageNet weights for {name} ({first}); offline, "
                             "pass a local file with --weights PATH") from exc
        if keras_weights is not None:
            what = f"{name}" + (f" alpha {alpha}" if spec.alphas else "")
            raise ModelError(f"weights file {weights} does not fit {what} without top: "
                             f"{first}") from exc
        raise ModelError(f"cannot build {name} at {image_size} px: {first}") from exc


def _check_load_warnings(caught: list[warnings.WarningMessage], name: str, weights: str) -> None:
    """Keras reports some partial weight loads only as warnings: refuse those; pass the
    other warnings on to the log."""
    for item in caught:
        text = str(item.message).strip().splitlines()[0] if str(item.message).strip() else ""
        if weights not in ("none", "imagenet") and ("Skipping" in text
                                                    or "could not be loaded" in text):
            raise ModelError(f"weights file {weights} does not fit {name} without top: {text}")
        if text and "__array__ implementation" not in text:
            log.warning("%s", text)


def count_backbone_params(name: str, alpha: float = 1.0) -> int:
    """Parameter count of backbone ``name`` (random init, default input size)."""
    import keras

    spec = get_spec(name)
    model = create_backbone(name, spec.default_size, "none", alpha)
    count = int(model.count_params())
    del model
    keras.backend.clear_session()
    return count


def backbone_table(count_params: bool = True) -> list[dict[str, Any]]:
    """One row per registered backbone: name, default/min input size, preprocessing, ImageNet
    alphas and (optionally, built with random weights at the default size) parameters."""
    rows = []
    for spec in REGISTRY.values():
        imagenet = ("no" if not spec.imagenet else
                    "alpha " + "/".join(f"{a:g}" for a in spec.alphas) if spec.alphas else "yes")
        row: dict[str, Any] = {"name": spec.name, "default_size": spec.default_size,
                               "min_size": spec.min_size, "preprocessing": spec.preprocessing,
                               "imagenet": imagenet}
        if count_params:
            row["params"] = count_backbone_params(spec.name)
        rows.append(row)
    return rows
