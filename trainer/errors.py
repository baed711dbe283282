"""Errors the trainer reports to a user as one clear line (the CLI exits 1 on them)."""

from __future__ import annotations


class TrainerError(Exception):
    """A user-facing problem: bad input, missing file, unusable weights. ``str()`` is the
    whole message: what was wrong and what is accepted."""


class DataError(TrainerError):
    """The data could not be read or does not have the accepted form."""


class ModelError(TrainerError):
    """The backbone, weights or head settings cannot build a model."""
