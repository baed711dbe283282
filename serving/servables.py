"""Types shared by the model manager (lifecycle) and the core service (requests).

The manager owns versions on disk and their states; the core service asks it to resolve a
request's model spec to one loaded backend. This module is the seam between the two.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from serving.backends.base import Backend
from serving.errors import Code

__all__ = ["State", "VersionStatus", "ServedVersion", "ModelManagerAPI"]


class State(enum.IntEnum):
    """``ModelVersionStatus.State`` as TF Serving reports it."""

    UNKNOWN = 0
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


@dataclass(frozen=True)
class VersionStatus:
    """One row of a GetModelStatus answer."""

    version: int
    state: State
    error_code: Code = Code.OK
    error_message: str = ""


@dataclass(frozen=True)
class ServedVersion:
    """A loaded, AVAILABLE version that a request was resolved to."""

    name: str
    version: int
    platform: str
    backend: Backend


class ModelManagerAPI(Protocol):
    """What the core service needs from the model manager."""

    def resolve(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> ServedVersion:
        """The version serving a request, or a ``ServingError`` with TF Serving's message:
        ``NotFound("Servable not found for request: Latest(m)")``,
        ``NotFound("Servable not found for request: Specific(m, v)")``,
        ``InvalidArgument("Unrecognized servable version label: l")``."""
        ...

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """Every version the manager has seen for ``name``, newest first (labels ignored);
        ``NotFound("Could not find any versions of model m")`` /
        ``NotFound("Could not find version v of model m")``."""
        ...

    def reload_config(self, configs: list) -> None:
        """Replace the served model list (``serving.model_config.ModelConfig`` items); models
        left out are unloaded. Raises ``ServingError`` on an invalid list."""
        ...
