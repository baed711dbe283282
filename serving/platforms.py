"""The model platforms this server accepts: one registry for flags, config files, backends and
the runtime name reported in metrics (stdlib only; backends are named, not imported)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Platform", "PLATFORMS", "platform_names", "unknown_platform_message"]


@dataclass(frozen=True)
class Platform:
    """One ``model_platform``: its backend class (``module:Class``), runtime label and the file
    variants it can serve (``NAME:VARIANT``; the first is the default)."""

    name: str
    backend: str
    runtime: str
    variants: tuple[str, ...] = ()


PLATFORMS: dict[str, Platform] = {p.name: p for p in (
    Platform("tensorflow", "serving.backends.savedmodel:SavedModelBackend", "TF1"),
    Platform("onnx", "serving.backends.onnx_backend:OnnxBackend", "ONNX"),
    Platform("tflite", "serving.backends.tflite_backend:TFLiteBackend", "TFLite",
             ("float32", "float16", "dynamic", "int8")),
)}


def platform_names() -> tuple[str, ...]:
    """The accepted ``model_platform`` names, in registry order."""
    return tuple(PLATFORMS)


def unknown_platform_message(platform: str) -> str:
    """The one-line refusal for an unknown ``platform``."""
    return f"unknown model_platform {platform!r}; accepted: {', '.join(PLATFORMS)}"
