"""``--init-from RUN``: start a new classifier from an earlier run's backbone.

Every layer whose name does not start with ``head`` (preprocessing layers and the whole
``backbone`` sub-model, layer by layer) takes its weights from the earlier run's
``model.keras``; the head keeps its fresh initialisation, so the number of classes may differ.
Layers are matched by name (the trainer names them deterministically, see
``trainer/model.py``); nested models are walked so an incompatible backbone is reported at
its first mismatching inner layer (e.g. ``backbone/fc1``). Input layers are skipped (their
auto-generated names are not stable). Combine with ``--freeze`` by calling
``apply_freeze`` afterwards: freezing only changes ``trainable``, not weights.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.errors import ModelError, TrainerError

__all__ = ["InitReport", "HEAD_PREFIX", "run_model_path", "source_image_size", "load_run_model",
           "init_from_run", "init_from_model"]

log = logging.getLogger(__name__)

HEAD_PREFIX = "head"
INPUT_MODEL_PREFIX = "input_"  # trainer.model's weightless input-model layers
RUN_MARKERS = ("config.yaml", "model.json")


@dataclass(frozen=True)
class InitReport:
    """What ``init_from_run`` copied."""

    source: Path
    layers_loaded: int  # non-head layers matched and loaded (nested ones counted one by one)
    weights_loaded: int  # number of weight tensors copied
    head_layers_skipped: tuple[str, ...]


def run_model_path(run_dir: str | Path) -> Path:
    """``run_dir/model.keras``, after checking that ``run_dir`` is a finished run directory
    (else a one-line TrainerError)."""
    root = Path(run_dir)
    if not root.is_dir():
        raise TrainerError(f"--init-from {root}: not a directory (expected a run directory "
                           "written by trainer fit)")
    if not any((root / marker).is_file() for marker in RUN_MARKERS):
        raise TrainerError(f"--init-from {root}: not a run directory (no config.yaml or "
                           "model.json)")
    model_path = root / "model.keras"
    if not model_path.is_file():
        raise TrainerError(f"--init-from {root}: the run has no model.keras (unfinished run?)")
    return model_path


def load_run_model(run_dir: str | Path) -> Any:
    """The ``model.keras`` of run ``run_dir`` loaded with ``safe_mode=True`` (uncompiled)."""
    import keras

    model_path = run_model_path(run_dir)
    try:
        return keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types with long texts
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise TrainerError(f"--init-from {run_dir}: cannot load model.keras ({first})") from exc


def source_image_size(run_dir: str | Path) -> int | None:
    """The model input size recorded in run ``run_dir``'s ``model.json`` (None if absent)."""
    try:
        card = json.loads((Path(run_dir) / "model.json").read_text())
        return int(card["image_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _is_input(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.layers.InputLayer)


def _sublayers(layer: Any) -> list[Any] | None:
    """The layers of a nested model, or None for a plain layer."""
    import keras

    return list(layer.layers) if isinstance(layer, keras.Model) else None


def _shape_text(weights: list[Any]) -> str:
    return ", ".join(str(tuple(w.shape)) for w in weights) or "no weights"


def _plan(target: Any, source: Any, prefix: str, pairs: list[tuple[Any, Any, str]]) -> None:
    """Match ``target``'s layers with ``source``'s by name (recursively), appending
    ``(target_layer, source_layer, path)`` for plain layers; raise on the first mismatch."""
    src_layers = {layer.name: layer for layer in source.layers if not _is_input(layer)}
    tgt_layers = [layer for layer in target.layers if not _is_input(layer)]
    for layer in tgt_layers:
        if not prefix and layer.name.startswith(HEAD_PREFIX):
            continue
        if not prefix and layer.name.startswith(INPUT_MODEL_PREFIX) and not layer.weights:
            continue  # the input model (noise, upsampling) has nothing to transfer
        path = f"{prefix}{layer.name}"
        other = src_layers.get(layer.name)
        if other is None:
            raise ModelError(f"--init-from: incompatible backbone: layer {path!r} does not "
                             "exist in the source model")
        if type(other) is not type(layer):
            raise ModelError(f"--init-from: incompatible backbone at layer {path!r}: "
                             f"{type(layer).__name__} here, {type(other).__name__} in the source")
        inner, other_inner = _sublayers(layer), _sublayers(other)
        if inner is not None and other_inner is not None:
            _plan(layer, other, f"{path}/", pairs)
            _check_same_names(inner, other_inner, path)
            continue
        mine, theirs = layer.weights, other.weights
        if [tuple(w.shape) for w in mine] != [tuple(w.shape) for w in theirs]:
            raise ModelError(f"--init-from: incompatible backbone at layer {path!r}: weights "
                             f"{_shape_text(mine)} here, {_shape_text(theirs)} in the source")
        pairs.append((layer, other, path))


def _check_same_names(mine: list[Any], theirs: list[Any], path: str) -> None:
    """A nested model must not have extra layers in the source either."""
    names = {layer.name for layer in mine if not _is_input(layer)}
    for layer in theirs:
        if not _is_input(layer) and layer.name not in names:
            raise ModelError(f"--init-from: incompatible backbone: the source has layer "
                             f"'{path}/{layer.name}' that this model lacks")


def init_from_model(model: Any, source: Any, source_path: Path | None = None) -> InitReport:
    """Copy every non-head layer's weights from ``source`` into ``model`` (in place).
    Nothing is copied unless every layer matches."""
    pairs: list[tuple[Any, Any, str]] = []
    _plan(model, source, "", pairs)
    count = 0
    for layer, other, _ in pairs:
        values = other.get_weights()
        if values:
            layer.set_weights(values)
            count += len(values)
    heads = tuple(layer.name for layer in model.layers if layer.name.startswith(HEAD_PREFIX))
    return InitReport(source_path or Path(source.name), len(pairs), count, heads)


def init_from_run(model: Any, run_dir: str | Path) -> InitReport:
    """Load every layer except the ``head*`` layers of ``model`` from run ``run_dir``'s
    ``model.keras`` (safe_mode=True). A directory that is not a run, or a backbone that
    differs (architecture or weight shapes), is a one-line TrainerError/ModelError."""
    source = load_run_model(run_dir)
    report = init_from_model(model, source, Path(run_dir))
    log.info("--init-from %s: %d weight tensors in %d layers loaded; head (%s) freshly "
             "initialised", run_dir, report.weights_loaded, report.layers_loaded,
             ", ".join(report.head_layers_skipped))
    return report
