"""``--freeze`` and BatchNorm policy for a classifier's backbone.

Design (Keras 3 semantics): a layer with ``trainable=False`` is not updated, and a
``BatchNormalization`` layer with ``trainable=False`` also runs in inference mode (moving
statistics, no updates) even when the model is called with ``training=True``. We therefore set
``trainable`` per layer and never call the backbone with ``training=False``: that would force
*unfrozen* BatchNorm layers into inference mode too, which breaks scratch nets (``mini_vgg``
would never learn its statistics) and any unfrozen part that should adapt.

``--batchnorm`` decides what happens to BatchNorm layers in the *unfrozen* part:
``train`` (default) lets them learn (batch statistics), ``frozen`` keeps every backbone
BatchNorm in inference mode with its pretrained statistics and fixed scale/offset (the usual
advice when fine-tuning pretrained weights with a small learning rate). The default is
``train`` because upsampled CIFAR images are far from ImageNet statistics: in short trials
with MobileNet alpha 0.25 and Adam at 5e-4, ``frozen`` collapsed to one class while ``train``
learned (``frozen`` needed a rate near 1e-4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.errors import ModelError
from trainer.model import backbone_of, param_counts

__all__ = ["FreezeReport", "freeze_index", "unfreeze_index", "apply_freeze"]


@dataclass(frozen=True)
class FreezeReport:
    """What ``apply_freeze`` did."""

    frozen_layers: int  # backbone layers frozen (counted without the input layer)
    backbone_layers: int
    batchnorm: str  # train | frozen
    trainable_params: int
    total_params: int


def backbone_layers(model: Any) -> list[Any]:
    """The backbone's layers in order, without its input layer."""
    import keras

    return [layer for layer in backbone_of(model).layers
            if not isinstance(layer, keras.layers.InputLayer)]


def freeze_index(layers: list[Any], policy: str) -> int:
    """How many leading layers ``--freeze policy`` (all|none|N|LAYER_NAME) freezes."""
    if policy == "all":
        return len(layers)
    if policy == "none":
        return 0
    if policy.isdigit():
        n = int(policy)
        if n > len(layers):
            raise ModelError(f"--freeze {n} exceeds the backbone's {len(layers)} layers")
        return n
    names = [layer.name for layer in layers]
    if policy in names:
        return names.index(policy) + 1
    raise ModelError(f"--freeze {policy!r}: no such backbone layer; accepted: all, none, a "
                     f"number, or a layer name such as {', '.join(names[:3])} ... {names[-1]}")


def unfreeze_index(layers: list[Any], policy: str) -> int:
    """How many leading layers stay frozen for ``--unfreeze-from policy``: ``0`` = none (the
    whole backbone trains), N = the first N, LAYER = every layer before LAYER."""
    if policy.isdigit():
        n = int(policy)
        if n > len(layers):
            raise ModelError(f"--unfreeze-from {n} exceeds the backbone's {len(layers)} layers")
        return n
    names = [layer.name for layer in layers]
    if policy in names:
        return names.index(policy)
    raise ModelError(f"--unfreeze-from {policy!r}: no such backbone layer; accepted: 0 (whole "
                     f"backbone), a number of leading layers to keep frozen, or a layer name "
                     f"such as {', '.join(names[:3])} ... {names[-1]}")


def apply_freeze(model: Any, policy: str, batchnorm: str) -> FreezeReport:
    """Freeze the first layers of the backbone per ``policy``; ``batchnorm`` is ``train`` or
    ``frozen`` (see module docstring). Returns the resulting parameter counts."""
    if batchnorm not in ("train", "frozen"):
        raise ModelError(f"--batchnorm must be train or frozen, not {batchnorm!r}")
    import keras

    layers = backbone_layers(model)
    n = freeze_index(layers, policy)
    backbone_of(model).trainable = True
    for i, layer in enumerate(layers):
        layer.trainable = i >= n
        if batchnorm == "frozen" and isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    trainable, total = param_counts(model)
    return FreezeReport(n, len(layers), batchnorm, trainable, total)
