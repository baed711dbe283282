"""Which optional extra each stage needs, and a one-line refusal when it is missing.

The base install (``pip install tfserve-kit``) is the thin clients; ``trainer``, ``exporter``
and ``serving`` need ``[train]``, ``[export]``, ``[serve]`` (or ``[all]``). The check uses
``importlib.util.find_spec``: nothing is imported.
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRAS", "MissingExtra", "missing_modules", "require"]

DISTRIBUTION = "tfserve-kit"
# extra -> the top-level modules it provides that the stage imports
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("tensorflow", "keras", "yaml", "pydantic", "matplotlib"),
    "export": ("tensorflow", "keras", "pydantic", "tf2onnx", "onnx", "onnxruntime"),
    "serve": ("uvloop", "httptools", "simdjson"),
    "plots": ("matplotlib",),
}


class MissingExtra(ImportError):
    """A stage was used without the extra that installs its dependencies."""


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that are not installed."""
    return [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]


def require(extra: str, what: str) -> None:
    """Raise ``MissingExtra`` (one line: what, which modules, the pip command) unless every
    module of ``extra`` is installed."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtra(f"{what} needs the [{extra}] extra (missing: {', '.join(missing)}); "
                           f"install it with: pip install '{DISTRIBUTION}[{extra}]'")
