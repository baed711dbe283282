"""Atomic writes for the trainer: ``common.atomic`` plus the Keras and ``.npz`` writers."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from common.atomic import remove_stale_temps, write_bytes, write_json, write_text, write_with

__all__ = ["write_bytes", "write_text", "write_json", "write_with", "save_keras", "savez",
           "remove_stale_temps"]


def save_keras(model: Any, target: str | os.PathLike[str]) -> Path:
    """Save a Keras model (``.keras`` format, optimizer included) atomically."""
    return write_with(target, lambda p: model.save(p), suffix=".keras")


def savez(target: str | os.PathLike[str], **arrays: Any) -> Path:
    """Write a compressed ``.npz`` atomically."""
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return write_bytes(target, buf.getvalue())
