"""TF-Hub feature-vector backbones for Keras 3: ``--backbone hub:HANDLE_OR_PATH``.

Why not ``hub.KerasLayer``: it is a ``tf_keras`` (Keras 2) layer, and a Keras 3 functional
model cannot contain Keras 2 layers. Instead the backbone is Keras 3's built-in
``keras.layers.TFSMLayer`` on a *local* TF2 SavedModel directory: it loads the SavedModel with
``tf.saved_model.load`` and calls its ``__call__`` (the TF2 "reusable SavedModel" API that
TF-Hub and Kaggle TF2 feature-vector models implement). A tfhub.dev / Kaggle handle is first
turned into a local directory with ``tensorflow_hub.resolve`` (downloads into
``$TFHUB_CACHE_DIR``; online only). Only ``__call__`` is used: signature functions take
keyword arguments and return dicts, which TFSMLayer cannot feed into a Keras graph.

Input contract: TF-Hub image modules expect RGB floats in 0..1, so the backbone's spec uses
the ``unit`` preprocessing (``Rescaling(1/255)`` inside the classifier) in front of the
TFSMLayer, and every model still takes 0..255.

Limits (honest):
- Frozen only. TFSMLayer tracks *copies* of the SavedModel's variables while the called
  function uses the originals, so training would not change the features; the spec demands
  ``--freeze all`` (and cached features suit it well).
- ``model.keras`` references the SavedModel by absolute path and Keras refuses to deserialize
  a TFSMLayer under ``safe_mode=True`` (a SavedModel holds arbitrary graph code). Load hub
  runs with :func:`load_hub_model`, which refuses Lambda layers and unknown SavedModel paths
  and only then loads with ``safe_mode=False``; the SavedModel must still exist at that path.
- Exporting: once loaded, the model re-exports as a self-contained SavedModel (and TFLite)
  that no longer needs the hub directory; the exporter must load it as above.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from common.keras_file import scan_keras_file
from trainer.backbone_spec import BACKBONE_NAME, BackboneSpec
from trainer.errors import ModelError

__all__ = ["HUB_PREFIX", "is_hub", "hub_spec", "keras_name", "resolve_hub",
           "inspect_feature_vector", "hub_backbone", "load_hub_model", "load_trainer_model"]

HUB_PREFIX = "hub:"
ENDPOINT = "__call__"
DEFAULT_SIZE = 224
_PROBE_BATCH = 2
# What Keras' safe_mode refuses besides TFSMLayer: Python lambdas (and the Lambda layer that
# carries them) and wrapped torch modules (pickled code).


def is_hub(backbone: str) -> bool:
    """True for ``hub:HANDLE_OR_PATH`` backbone names."""
    return backbone.startswith(HUB_PREFIX)


def hub_spec(backbone: str) -> BackboneSpec:
    """The registry-style spec of a hub backbone: 0..1 input (``unit`` preprocessing), a flat
    feature vector (no pooling), the module's own weights (``--weights imagenet`` means
    "as published"; no alpha)."""
    if not is_hub(backbone) or len(backbone) == len(HUB_PREFIX):
        raise ModelError(f"hub backbones are written hub:HANDLE_OR_PATH, not {backbone!r}")
    return BackboneSpec(backbone, "hub", DEFAULT_SIZE, 1, "unit", imagenet=True,
                        flat_features=True)


def keras_name(backbone: str) -> str:
    """A Keras-legal model name for ``backbone`` (Keras rejects ``/`` in names, and hub
    backbones are paths or URLs): ``hub:.../feature_vector/5`` -> ``hub_feature_vector_5``."""
    if not is_hub(backbone):
        return backbone
    parts = [p for p in re.split(r"[/\\:]+", backbone.removeprefix(HUB_PREFIX)) if p]
    tail = "_".join(parts[-2:]) if parts and parts[-1].isdigit() else (parts or ["module"])[-1]
    return "hub_" + re.sub(r"[^A-Za-z0-9_.-]", "_", tail)


def resolve_hub(backbone_or_handle: str) -> Path:
    """A local SavedModel directory for ``hub:HANDLE_OR_PATH`` (or the bare handle/path):
    an existing path as is; an ``http(s)://`` handle through ``tensorflow_hub.resolve``."""
    handle = backbone_or_handle.removeprefix(HUB_PREFIX)
    path = Path(handle).expanduser()
    if path.exists():
        return path.resolve()
    if not handle.startswith(("https://", "http://")):
        raise ModelError(f"hub module {handle} not found: give a local SavedModel directory "
                         "or a tfhub.dev/Kaggle https:// handle")
    try:
        import tensorflow_hub  # imports tf_keras too: only when a handle must be fetched

        return Path(tensorflow_hub.resolve(handle)).resolve()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ModelError(f"cannot fetch hub module {handle} ({first}); offline, download it "
                         "elsewhere and pass its local SavedModel directory") from None


def inspect_feature_vector(path: Path, image_size: int) -> int:
    """Check that ``path`` is a TF2 SavedModel whose ``__call__`` maps a float32
    ``(N, S, S, 3)`` 0..1 image batch to an ``(N, D)`` vector; return D."""
    import tensorflow as tf

    if not path.is_dir() or not any((path / n).is_file()
                                    for n in ("saved_model.pb", "saved_model.pbtxt")):
        raise ModelError(f"hub module {path} is not a SavedModel directory (no saved_model.pb)")
    try:
        module = tf.saved_model.load(str(path))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ModelError(f"hub module {path} cannot be loaded as a TF2 SavedModel ({first})")\
            from None
    if not callable(getattr(module, ENDPOINT, None)):
        signatures = ", ".join(getattr(module, "signatures", {}) or []) or "none"
        raise ModelError(f"hub module {path} is not a TF2 feature-vector SavedModel: it has no "
                         f"callable __call__ (signatures: {signatures})")
    probe = tf.zeros([_PROBE_BATCH, image_size, image_size, 3], tf.float32)
    try:
        out = getattr(module, ENDPOINT)(probe)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ModelError(f"hub module {path} does not take a float32 batch of "
                         f"{image_size}x{image_size}x3 images ({first}); try its native "
                         "--image-size") from None
    shape = tuple(out.shape) if isinstance(out, tf.Tensor) else None
    if shape is None or len(shape) != 2 or shape[0] != _PROBE_BATCH or not out.dtype.is_floating:
        what = f"shape {shape}" if shape is not None else type(out).__name__
        raise ModelError(f"hub module {path} is not a feature-vector model: it returns {what}, "
                         "expected an (N, D) float vector per image batch")
    return int(shape[1])


def hub_backbone(backbone: str, image_size: int, weights: str = "imagenet") -> Any:
    """The ``backbone`` sub-model for ``hub:HANDLE_OR_PATH``: input ``(S, S, 3)`` in 0..1
    (the classifier's ``unit`` preprocessing provides it) -> ``(D,)`` features, frozen."""
    import keras

    if weights not in ("imagenet", "none") and weights:
        raise ModelError("--weights PATH does not apply to hub: backbones (the SavedModel "
                         "carries its weights)")
    if weights == "none":
        raise ModelError("--weights none does not apply to hub: backbones (they cannot be "
                         "re-initialised); use the default")
    path = resolve_hub(backbone)
    inspect_feature_vector(path, image_size)
    inputs = keras.Input((image_size, image_size, 3), name="backbone_input", dtype="float32")
    # float32 even under mixed precision: the SavedModel's function only takes float32.
    layer = keras.layers.TFSMLayer(str(path), call_endpoint=ENDPOINT, trainable=False,
                                   name="hub_module", dtype="float32")
    model = keras.Model(inputs, layer(inputs), name=BACKBONE_NAME)
    model.trainable = False
    return model


def load_hub_model(model_path: str | Path, trusted: Iterable[str | Path] = (),
                   compile: bool = False) -> Any:
    """Load a ``model.keras`` that contains TFSMLayer hub backbones. The config is checked
    first: nothing safe_mode would refuse (lambdas, Lambda layers, torch modules), and every
    TFSMLayer path must be one of ``trusted`` (e.g. ``[resolve_hub(backbone)]``); only then
    is it loaded with ``safe_mode=False``."""
    import keras

    allowed = {str(Path(p).resolve()) for p in trusted}
    try:
        scan = scan_keras_file(model_path)
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    if scan.unsafe:
        raise ModelError(f"{model_path} contains Python code ({scan.unsafe[0]}); "
                         "refusing to load it")
    for path in scan.savedmodels:
        if path not in allowed:
            raise ModelError(f"{model_path} loads the SavedModel {path}, which is not in "
                             "the trusted hub modules")
    return keras.saving.load_model(model_path, compile=compile, safe_mode=False)


def load_trainer_model(model_path: str | Path, backbone: str | None = None,
                       compile: bool = True) -> Any:
    """Load a ``.keras`` model written by the trainer: with ``safe_mode=True``, or for a
    ``hub:`` ``backbone`` through :func:`load_hub_model` trusting that backbone's module."""
    import keras

    if backbone and is_hub(backbone):
        return load_hub_model(model_path, trusted=[resolve_hub(backbone)], compile=compile)
    return keras.saving.load_model(model_path, compile=compile, safe_mode=True)
