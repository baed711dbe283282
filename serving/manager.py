"""The model manager: version discovery, loading, unloading, labels and config reloads.

Lifecycle follows TF Serving: per model, the version policy picks the aspired versions on
disk; new ones go START -> LOADING -> AVAILABLE (or END with the load error); versions no
longer aspired are unloaded under ``AvailabilityPreservingPolicy`` (UNLOADING -> END).
A background thread re-scans every ``file_system_poll_wait_seconds`` (<= 0: scan only at
``start()`` and ``reload_config()``). A failed load is retried ``max_load_retries`` times,
``load_retry_interval_seconds`` apart, as TF Serving's ``--max_num_load_retries`` does (the
version stays LOADING meanwhile; ``stop()`` cuts the wait short); after that the version is END
and is retried again only when its directory changes on disk (e.g. a half-finished copy
completes).

Requests resolve against immutable routing tables (no lock, no disk I/O). An unloaded
version leaves the table at once, but its backend is released only after every request
holding it has finished (tracked with a weak reference), or after ``unload_grace_seconds``.
"""

from __future__ import annotations

import gc
import logging
import threading
from functools import partial
from pathlib import Path

from serving.backends import BackendOptions, backend_for_version
from serving.cpu_threads import RuntimeThreads
from serving.errors import Code, NotFound, ServingError
from serving.model_config import ModelConfig, validate_config_list
from serving.model_state import (
    ModelState,
    Route,
    VersionEntry,
    check_labels,
    check_platforms,
    resolve_route,
    surplus_version,
)
from serving.servables import ServedVersion, State, VersionStatus
from serving.task_errors import report
from serving.unloader import DeferredUnloader, unload_quietly
from serving.versions import aspired_versions, fingerprint, scan_versions
from serving.warmup import run_warmup

__all__ = ["ModelManager"]

log = logging.getLogger(__name__)


class ModelManager:
    """Serves the models of a config list; implements ``serving.servables.ModelManagerAPI``."""

    def __init__(
        self,
        configs: list[ModelConfig],
        *,
        file_system_poll_wait_seconds: float = 1.0,
        allow_version_labels_for_unavailable_models: bool = False,
        enable_warmup: bool = True,
        unload_grace_seconds: float = 30.0,
        threads: RuntimeThreads | None = None,
        backend_options: BackendOptions | None = None,
        warmup_iterations: int = 1,
        max_load_retries: int = 0,
        load_retry_interval_seconds: float = 0.0,
    ) -> None:
        """``threads`` is a shorthand for ``BackendOptions(threads=...)``; give one or the
        other. ``warmup_iterations`` replays each warmup record that often."""
        if threads is not None and backend_options is not None:
            raise ValueError("give threads inside backend_options, not both")
        self._configs = validate_config_list(configs)
        self._poll_wait = file_system_poll_wait_seconds
        self._allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self._enable_warmup = enable_warmup
        self._warmup_iterations = warmup_iterations
        self._backend_options = backend_options or BackendOptions(
            threads=threads or RuntimeThreads()
        )
        self._max_load_retries = max(max_load_retries, 0)
        self._retry_interval = max(load_retry_interval_seconds, 0.0)
        self._models: dict[str, ModelState] = {}
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()  # guards entries, models and route publication
        self._lifecycle = threading.RLock()  # serialises scans, loads, reloads, stop
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._unloader = DeferredUnloader(unload_grace_seconds)

    # -- ModelManagerAPI -------------------------------------------------------------------

    def resolve(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> ServedVersion:
        """The AVAILABLE version serving a request (see ``ModelManagerAPI.resolve``)."""
        return resolve_route(self._routes, name, version, label)

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """Every version seen for ``name``, newest first (see ``ModelManagerAPI.status``)."""
        with self._lock:
            model = self._models.get(name)
            if model is None:
                raise NotFound(f"Could not find any versions of model {name}")
            return model.status(version)

    def reload_config(self, configs: list) -> None:
        """Replace the model list; blocks until the new models' first loads are attempted."""
        configs = validate_config_list(configs)
        with self._lifecycle:
            check_platforms(self._models, configs)
            self._apply(configs)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Validate labels, scan and load every model (blocking), then start polling."""
        with self._lifecycle:
            self._apply(self._configs)
        if self._poll_wait > 0:
            self._poller = threading.Thread(target=self._poll, name="model-poller", daemon=True)
            self._poller.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling and unload every version; waits for in-flight requests to release
        their versions (up to ``unload_grace_seconds``, or ``timeout`` if given)."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join()
        with self._lifecycle:
            for model in list(self._models.values()):
                self._deactivate(model)
        self._unloader.join(timeout)

    def model_names(self) -> list[str]:
        """Names of the currently configured models."""
        with self._lock:
            return sorted(name for name, m in self._models.items() if m.active)

    def version_dir(self, name: str, version: int) -> Path | None:
        """The directory of a version the manager has seen for a configured model, else None."""
        with self._lock:
            model = self._models.get(name)
            entry = model.versions.get(version) if model is not None and model.active else None
            return entry.path if entry is not None else None

    def poll_once(self) -> None:
        """Re-scan every configured model now (what the polling thread does)."""
        with self._lifecycle:
            for model in list(self._models.values()):
                if model.active:
                    self._reconcile(model)

    def _poll(self) -> None:
        while not self._stop.wait(self._poll_wait):
            try:
                self.poll_once()
            except Exception as exc:  # keep polling whatever one scan did
                report("model-poller", exc)

    def _apply(self, configs: list[ModelConfig]) -> None:
        check_labels(self._models, configs, self._allow_unavailable_labels)
        wanted = {c.name: c for c in configs}
        for name, model in list(self._models.items()):
            if name not in wanted and model.active:
                log.info("model %s removed from the config; unloading it", name)
                self._deactivate(model)
        for config in configs:
            with self._lock:
                model = self._models.get(config.name)
                if model is None or not model.active:
                    model = self._models[config.name] = ModelState(config)
                model.config, model.active = config, True
                model.labels = dict(config.version_labels)
                self._publish(model)
            self._reconcile(model)
        self._configs = configs

    def _deactivate(self, model: ModelState) -> None:
        with self._lock:
            model.active = False
            self._publish(model)
        self._reconcile_versions(model, {}, set())

    def _reconcile(self, model: ModelState) -> None:
        name, base = model.config.name, model.config.base_path
        try:
            on_disk = scan_versions(base)
        except OSError as exc:
            log.error("cannot list base path %s of model %s: %s", base, name, exc)
            return
        if not on_disk:
            log.warning("No versions of servable %s found under base path %s", name, base)
        policy = model.config.version_policy
        missing = tuple(v for v in policy.versions if v not in on_disk)
        if missing != model.missing_specific:
            model.missing_specific = missing
            if missing:
                log.warning(
                    "versions %s of %s requested by its policy are not under %s",
                    list(missing),
                    name,
                    base,
                )
        self._reconcile_versions(model, on_disk, aspired_versions(set(on_disk), policy))

    def _reconcile_versions(self, model: ModelState, on_disk: dict, aspired: set[int]) -> None:
        to_load: list[VersionEntry] = []
        for version in sorted(aspired, reverse=True):
            entry = model.versions.get(version)
            retry = (
                entry is not None
                and entry.state == State.END
                and (
                    entry.error_code == Code.OK
                    or entry.fingerprint != fingerprint(on_disk[version])
                )
            )
            if entry is None or retry:
                to_load.append(VersionEntry(version, on_disk[version]))
        with self._lock:
            for entry in to_load:
                model.versions[entry.version] = entry
        for entry in to_load:
            self._load(model, entry)
            self._unload_surplus(model, aspired)
        self._unload_surplus(model, aspired)

    def _load(self, model: ModelState, entry: VersionEntry) -> None:
        name, platform = model.config.name, model.config.platform
        with self._lock:
            entry.state = State.LOADING
        entry.fingerprint = fingerprint(entry.path)
        attempts = 1 + self._max_load_retries
        for attempt in range(1, attempts + 1):
            backend, exc = self._try_load(platform, entry)
            if exc is None:
                break
            message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if attempt < attempts and not self._stop.is_set():
                log.warning(
                    "loading version %d of model %s failed (attempt %d of %d), retrying in "
                    "%g s: %s", entry.version, name, attempt, attempts, self._retry_interval,
                    message,
                )
                if not self._stop.wait(self._retry_interval):
                    continue
            code = exc.code if isinstance(exc, ServingError) else Code.UNKNOWN
            log.error("loading version %d of model %s failed: %s", entry.version, name, message)
            with self._lock:
                entry.state, entry.error_code, entry.error_message = State.END, code, message
            return
        # A loaded TensorFlow model leaves hundreds of thousands of long-lived Python objects;
        # without this every full collection walks them (~280 ms on 2 cores) and request
        # parsing (a 480 kB JSON body allocates ~16k lists) triggers those collections often:
        # served p99 340 ms -> 33 ms in the issue 5 serving notes (git history, commit 175a5b4).
        # The cost: cyclic garbage among them is only reclaimed by reference counting after an
        # unload.
        gc.freeze()
        with self._lock:
            entry.backend = backend
            entry.served = ServedVersion(name, entry.version, platform, backend)
            entry.state, entry.error_code, entry.error_message = State.AVAILABLE, Code.OK, ""
            self._publish(model)
        log.info("version %d of model %s is AVAILABLE", entry.version, name)

    def _try_load(self, platform: str, entry: VersionEntry):
        """One load attempt: ``(backend, None)``, or ``(None, error)`` with nothing left loaded."""
        backend = None
        try:
            backend = backend_for_version(platform, entry.path, self._backend_options)
            backend.load(entry.path)
            if self._enable_warmup:
                run_warmup(backend, entry.path, self._warmup_iterations)
        except Exception as exc:
            if backend is not None:
                unload_quietly(backend)
            return None, exc
        return backend, None

    def _unload_surplus(self, model: ModelState, aspired: set[int]) -> None:
        while (version := surplus_version(model, aspired)) is not None:
            entry = model.versions[version]
            with self._lock:
                backend, entry.backend, entry.served = entry.backend, None, None
                entry.state = State.UNLOADING
                self._publish(model)
            what = f"version {version} of model {model.config.name}"
            self._unloader.release(backend, partial(self._unloaded, entry, what), what)
            del backend  # from here on only in-flight requests keep it alive

    def _unloaded(self, entry: VersionEntry, what: str) -> None:
        with self._lock:
            entry.state = State.END
        log.info("%s unloaded", what)

    def _publish(self, model: ModelState) -> None:
        """Swap in a new routing table for ``model`` (caller holds ``self._lock``)."""
        routes = dict(self._routes)
        if model.active:
            routes[model.config.name] = Route.of(model)
        else:
            routes.pop(model.config.name, None)
        self._routes = routes
