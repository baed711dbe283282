"""Errors the exporter reports to a user as one clear line (the CLI exits 1 on them)."""

from __future__ import annotations

from typing import Any


class ExportError(Exception):
    """A user-facing problem. ``str()`` is the whole message: what was wrong and what is
    accepted or what to do."""


class RunDirError(ExportError):
    """The run directory is missing files or does not follow docs/contracts.md section 1."""


class ConversionError(ExportError):
    """A converter (TFLite, tf2onnx) failed; the message names the format and, when known,
    the operation it could not convert."""


class ParityError(ExportError):
    """One or more formats fell short of their parity threshold; nothing was published.
    ``report`` is the full ``ParityReport`` (for printing the table)."""

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class PublishError(ExportError):
    """The version directory could not be written (exists, not writable, disk full)."""
