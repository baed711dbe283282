"""Model-format backends, keyed by TF Serving's ``model_platform`` name.

Importing this package is cheap: TensorFlow, onnxruntime and LiteRT are imported only when a
backend loads a model.
"""

from __future__ import annotations

from serving.backends.base import Backend
from serving.backends.onnx_backend import OnnxBackend
from serving.backends.savedmodel import SavedModelBackend
from serving.backends.tflite_backend import TFLiteBackend
from serving.cpu_threads import RuntimeThreads
from serving.errors import InvalidArgument

__all__ = ["BACKENDS", "Backend", "create_backend"]

BACKENDS: dict[str, type[Backend]] = {
    "tensorflow": SavedModelBackend,
    "onnx": OnnxBackend,
    "tflite": TFLiteBackend,
}


def create_backend(platform: str, threads: RuntimeThreads | None = None) -> Backend:
    """A fresh, unloaded backend for ``platform`` (``tflite:int8`` picks a TFLite variant)
    using ``threads`` (default: auto); unknown platforms raise ``InvalidArgument``."""
    base, _, variant = platform.partition(":")
    try:
        cls = BACKENDS[base]
    except KeyError:
        raise InvalidArgument(
            f"unknown model_platform {platform!r}; accepted: {', '.join(BACKENDS)}"
        ) from None
    if variant and cls is not TFLiteBackend:
        raise InvalidArgument(f"model_platform {platform!r}: only tflite has variants")
    backend = TFLiteBackend(variant) if variant else cls()
    if threads is not None:
        backend.threads = threads
    return backend
