"""Per-model bookkeeping for the manager: version history, routing tables, lookups.

``ModelState`` holds every version the manager has seen (for status, newest first).
``Route`` is an immutable routing table (AVAILABLE versions + labels) that the manager
replaces wholesale on each change, so request threads read it without a lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from serving.backends.base import Backend
from serving.errors import Code, FailedPrecondition, InvalidArgument, NotFound
from serving.model_config import ModelConfig
from serving.servables import ServedVersion, State, VersionStatus

__all__ = [
    "VersionEntry",
    "ModelState",
    "Route",
    "resolve_route",
    "surplus_version",
    "check_labels",
    "check_platforms",
]


@dataclass
class VersionEntry:
    """One version's lifecycle record (mutated only under the manager's lock)."""

    version: int
    path: Path
    state: State = State.START
    error_code: Code = Code.OK
    error_message: str = ""
    backend: Backend | None = None
    served: ServedVersion | None = None
    fingerprint: tuple | None = None  # directory fingerprint of the last load attempt

    def status(self) -> VersionStatus:
        """The GetModelStatus row for this version."""
        return VersionStatus(self.version, self.state, self.error_code, self.error_message)


@dataclass
class ModelState:
    """A configured (or formerly configured) model and its version history."""

    config: ModelConfig
    versions: dict[int, VersionEntry] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    active: bool = True
    missing_specific: tuple[int, ...] = ()  # specific-policy versions absent on disk (warned)

    def available(self) -> list[int]:
        """Versions currently AVAILABLE, ascending."""
        return sorted(v for v, e in self.versions.items() if e.state == State.AVAILABLE)

    def status(self, version: int | None) -> list[VersionStatus]:
        """Status rows newest first, or the one row for ``version``; TF Serving's NotFound."""
        name = self.config.name
        if not self.versions:
            raise NotFound(f"Could not find any versions of model {name}")
        if version is not None:
            entry = self.versions.get(version)
            if entry is None:
                raise NotFound(f"Could not find version {version} of model {name}")
            return [entry.status()]
        return [self.versions[v].status() for v in sorted(self.versions, reverse=True)]


@dataclass(frozen=True)
class Route:
    """What request threads need for one model: AVAILABLE versions and labels."""

    available: dict[int, ServedVersion]
    latest: ServedVersion | None
    labels: dict[str, int]

    @classmethod
    def of(cls, model: ModelState) -> Route:
        """Build the routing table from a model's current entries."""
        available = {
            v: e.served
            for v, e in model.versions.items()
            if e.state == State.AVAILABLE and e.served is not None
        }
        latest = available[max(available)] if available else None
        return cls(available, latest, dict(model.labels))


def resolve_route(
    routes: dict[str, Route], name: str, version: int | None, label: str | None
) -> ServedVersion:
    """Resolve a model spec against the routing tables, with TF Serving's errors."""
    route = routes.get(name)
    if version is None and label is not None:
        labelled = route.labels.get(label) if route is not None else None
        if labelled is None:
            raise InvalidArgument(f"Unrecognized servable version label: {label}")
        version = labelled
    if version is None:
        if route is None or route.latest is None:
            raise NotFound(f"Servable not found for request: Latest({name})")
        return route.latest
    served = route.available.get(version) if route is not None else None
    if served is None:
        raise NotFound(f"Servable not found for request: Specific({name}, {version})")
    return served


def surplus_version(model: ModelState, aspired: set[int]) -> int | None:
    """The next version to unload under TF Serving's ``AvailabilityPreservingPolicy``.

    Unload the lowest AVAILABLE version that is no longer aspired, if nothing is aspired,
    or an aspired version is AVAILABLE, or more than one unaspired version is AVAILABLE;
    so the only serving version stays until its replacement is AVAILABLE.
    """
    ready = model.available()
    unaspired = [v for v in ready if v not in aspired]
    if not unaspired:
        return None
    if not aspired or any(v in aspired for v in ready) or len(unaspired) > 1:
        return unaspired[0]
    return None


def check_labels(models: dict[str, ModelState], configs: list[ModelConfig], allow: bool) -> None:
    """TF Serving's label rule: a label may point only at an AVAILABLE version; with
    ``--allow_version_labels_for_unavailable_models`` also a new label or an unchanged one."""
    for config in configs:
        model = models.get(config.name)
        active = model is not None and model.active
        for label, version in config.version_labels.items():
            if active and version in model.available():
                continue
            current = model.labels.get(label) if active else None
            if allow and current in (None, version):
                continue
            raise FailedPrecondition(
                f"Request to assign label to version {version} of model {config.name}, "
                "which is not currently available for inference"
            )


def check_platforms(models: dict[str, ModelState], configs: list[ModelConfig]) -> None:
    """Reject a reload that changes the platform of a served model (as TF Serving does)."""
    for config in configs:
        current = models.get(config.name)
        if current is not None and current.active and current.config.platform != config.platform:
            raise InvalidArgument(
                f"Illegal to change a model's platform. For model {config.name} platform was "
                f"{current.config.platform} and new platform requested is {config.platform}"
            )
