"""Copies of a Keras model for the int8 preparation steps (bias correction, fine-tuning,
graph rewrites): every layer re-created from its config, except layers that wrap an external
SavedModel (``TFSMLayer``, the TF-Hub backbones), which Keras refuses to re-create in safe
mode. Those are frozen and never changed by the steps, so the copy shares them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["copy_model", "leaves", "recreated"]


def leaves(model: Any) -> list[Any]:
    """Every non-container layer, in the order the containers list them."""
    out = []
    for layer in model.layers:
        out.extend(leaves(layer) if hasattr(layer, "layers") else [layer])
    return out


def recreated(layer: Any) -> Any:
    """``layer`` re-created from its config, or ``layer`` itself for a ``TFSMLayer``."""
    import keras

    if isinstance(layer, keras.layers.TFSMLayer):
        return layer
    return layer.__class__.from_config(layer.get_config())


def copy_model(model: Any, clone_function: Callable[[Any], Any] | None = None) -> Any:
    """A copy of ``model`` with the same weights; ``clone_function`` (default
    :func:`recreated`) builds each leaf layer of the copy, nested models included."""
    import keras

    copy = keras.models.clone_model(model, clone_function=clone_function or recreated,
                                    recursive=True)
    copy.set_weights(model.get_weights())
    return copy
