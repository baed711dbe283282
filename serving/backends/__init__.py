"""Model-format backends, keyed by TF Serving's ``model_platform`` name.

Importing this package is cheap: TensorFlow, onnxruntime and LiteRT are imported only when a
backend loads a model.
"""

from __future__ import annotations

import importlib

from serving.backends.base import Backend
from serving.cpu_threads import RuntimeThreads
from serving.errors import InvalidArgument
from serving.platforms import PLATFORMS, unknown_platform_message

__all__ = ["BACKENDS", "Backend", "create_backend"]


def _backend_class(spec: str) -> type[Backend]:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


BACKENDS: dict[str, type[Backend]] = {
    name: _backend_class(p.backend) for name, p in PLATFORMS.items()
}


def create_backend(platform: str, threads: RuntimeThreads | None = None) -> Backend:
    """A fresh, unloaded backend for ``platform`` using ``threads`` (default: auto); unknown
    platforms raise ``InvalidArgument``."""
    try:
        cls = BACKENDS[platform]
    except KeyError:
        raise InvalidArgument(unknown_platform_message(platform)) from None
    backend = cls()
    if threads is not None:
        backend.threads = threads
    return backend
