"""Load a ``hub:`` run's ``model.keras`` the way the trainer documents (docs/contracts.md,
docs/trainer-transfer.md), without importing the trainer.

A TF-Hub backbone is a built-in ``keras.layers.TFSMLayer`` on a local SavedModel, which Keras
refuses to deserialize under ``safe_mode=True``. The run's ``model.json`` lists the
SavedModel directories it loads (``hub_modules``). Before loading with ``safe_mode=False`` the
``.keras`` config is checked: no Python code (lambdas, ``Lambda`` layers, torch modules) and
every TFSMLayer path must be one of those directories. Anything else is refused in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.keras_file import scan_keras_file
from exporter.errors import RunDirError

__all__ = ["HUB_PREFIX", "is_hub_run", "trusted_modules", "check_hub_config", "load_hub_model"]

HUB_PREFIX = "hub:"


def is_hub_run(meta: dict[str, Any]) -> bool:
    """True when ``model.json`` describes a TF-Hub (TFSMLayer) backbone."""
    return str(meta.get("backbone", "")).startswith(HUB_PREFIX) or bool(meta.get("hub_modules"))


def trusted_modules(meta: dict[str, Any]) -> set[str]:
    """Resolved SavedModel directories the run may load: ``hub_modules`` of ``model.json``,
    else (older runs) the backbone's own local path ``hub:PATH``."""
    listed = meta.get("hub_modules")
    if listed is None:
        handle = str(meta.get("backbone", "")).removeprefix(HUB_PREFIX)
        listed = [handle] if handle and Path(handle).exists() else []
    if not isinstance(listed, list):
        raise RunDirError("model.json: hub_modules must be a list of SavedModel directories")
    return {str(Path(str(p)).resolve()) for p in listed}


def check_hub_config(model_path: Path, trusted: set[str]) -> None:
    """Refuse a ``.keras`` file holding Python code or a SavedModel outside ``trusted``, or a
    trusted SavedModel that is gone."""
    try:
        scan = scan_keras_file(model_path)
    except ValueError as exc:
        raise RunDirError(str(exc)) from None
    if scan.unsafe:
        raise RunDirError(f"refusing to load {model_path}: it contains Python code "
                          f"({scan.unsafe[0]}); pass --trust-model only if you trust where it "
                          "comes from")
    for path in scan.savedmodels:
        if path not in trusted:
            raise RunDirError(f"refusing to load {model_path}: it loads the SavedModel "
                              f"{path}, which model.json does not list in hub_modules")
        if not (Path(path) / "saved_model.pb").is_file():
            raise RunDirError(f"{model_path} needs its TF-Hub module at {path}, which is "
                              "gone: a hub run is not self-contained (restore the module "
                              "there, then export)")


def load_hub_model(model_path: Path, meta: dict[str, Any]) -> Any:
    """Check (:func:`check_hub_config`), then load with ``safe_mode=False``."""
    import keras

    check_hub_config(model_path, trusted_modules(meta))
    return keras.saving.load_model(model_path, safe_mode=False, compile=False)
