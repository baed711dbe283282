"""Model-format backends, keyed by TF Serving's ``model_platform`` name.

Importing this package is cheap: TensorFlow, onnxruntime and LiteRT are imported only when a
backend loads a model.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from serving.backends.base import Backend
from serving.cpu_threads import RuntimeThreads
from serving.errors import InvalidArgument
from serving.platforms import PLATFORMS, unknown_platform_message

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendOptions",
    "TFLITE_IN_SAVED_MODEL",
    "create_backend",
    "backend_for_version",
    "runtime_platform",
]


def _backend_class(spec: str) -> type[Backend]:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


BACKENDS: dict[str, type[Backend]] = {
    name: _backend_class(p.backend) for name, p in PLATFORMS.items()
}


_SAVED_MODEL = _backend_class(PLATFORMS["tensorflow"].backend)  # takes saved_model_tags
TFLITE_IN_SAVED_MODEL = "model.tflite"


@dataclass(frozen=True)
class BackendOptions:
    """Server-wide settings that decide how a version is loaded (from ``serving serve``)."""

    threads: RuntimeThreads = RuntimeThreads()
    saved_model_tags: tuple[str, ...] = ("serve",)  # --saved_model_tags
    prefer_tflite: bool = False  # --prefer_tflite_model: model.tflite when present
    use_tflite: bool = False  # --use_tflite_model: model.tflite, never saved_model.pb


def runtime_platform(platform: str, version_dir: Path, options: BackendOptions) -> str:
    """The backend that serves a version of a ``platform`` model: the one place this is chosen.

    A ``tensorflow`` version is served from its ``model.tflite`` by the TFLite backend with
    ``--use_tflite_model``, or with ``--prefer_tflite_model`` when the file exists (as TF
    Serving does); otherwise the configured platform's backend serves it.
    """
    if platform == "tensorflow":
        if options.use_tflite:
            return "tflite"
        if options.prefer_tflite and (Path(version_dir) / TFLITE_IN_SAVED_MODEL).is_file():
            return "tflite"
    return platform


def backend_for_version(
    platform: str, version_dir: Path, options: BackendOptions | None = None
) -> Backend:
    """A fresh, unloaded backend for one version directory of a ``platform`` model."""
    options = options or BackendOptions()
    runtime = runtime_platform(platform, version_dir, options)
    return create_backend(runtime, options.threads, options.saved_model_tags)


def create_backend(
    platform: str,
    threads: RuntimeThreads | None = None,
    saved_model_tags: Sequence[str] | None = None,
) -> Backend:
    """A fresh, unloaded backend for ``platform`` using ``threads`` (default: auto) and, for
    SavedModels, the MetaGraph ``saved_model_tags`` (default: serve); unknown platforms raise
    ``InvalidArgument``; ``tflite:int8`` picks a TFLite variant."""
    base, _, variant = platform.partition(":")
    try:
        cls = BACKENDS[base]
    except KeyError:
        raise InvalidArgument(unknown_platform_message(platform)) from None
    if variant and variant not in PLATFORMS[base].variants:
        raise InvalidArgument(f"model_platform {platform!r}: {base} has no variant {variant!r}")
    if variant:
        backend = cls(variant)
    elif saved_model_tags is not None and issubclass(cls, _SAVED_MODEL):  # MetaGraph tags
        backend = cls(tuple(saved_model_tags))
    else:
        backend = cls()
    if threads is not None:
        backend.threads = threads
    return backend
