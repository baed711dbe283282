"""What a ``.keras`` file would run when loaded, read from its ``config.json`` without Keras.

Used before loading a model with ``safe_mode=False`` (TF-Hub runs, whose ``TFSMLayer`` safe mode
refuses): the trainer and the exporter both refuse Python code and SavedModels they do not
trust, from this one scan (stdlib only).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["UNSAFE_CLASSES", "KerasFileScan", "scan_keras_file"]

# layer / object classes that carry Python code, which Keras safe mode refuses to deserialize
UNSAFE_CLASSES = ("Lambda", "__lambda__", "TorchModuleWrapper")


@dataclass(frozen=True)
class KerasFileScan:
    """The code and the SavedModels a ``.keras`` file's config refers to."""

    unsafe: tuple[str, ...]  # class names from UNSAFE_CLASSES, in config order
    savedmodels: tuple[str, ...]  # resolved ``TFSMLayer`` file paths, in config order


def _objects(config: Any) -> Iterator[dict[str, Any]]:
    if isinstance(config, dict):
        if "class_name" in config:
            yield config
        for value in config.values():
            yield from _objects(value)
    elif isinstance(config, list):
        for value in config:
            yield from _objects(value)


def scan_keras_file(model_path: str | Path) -> KerasFileScan:
    """Scan ``model_path``'s ``config.json``; ``ValueError`` (one line) if it cannot be read."""
    try:
        with zipfile.ZipFile(model_path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read {model_path} as a .keras file ({exc})") from None
    unsafe: list[str] = []
    savedmodels: list[str] = []
    for item in _objects(config):
        name = item.get("class_name")
        if name in UNSAFE_CLASSES:
            unsafe.append(str(name))
        elif name == "TFSMLayer":
            raw = item.get("config", {}).get("filepath", "")
            savedmodels.append(str(Path(str(raw)).resolve()))
    return KerasFileScan(tuple(unsafe), tuple(savedmodels))
