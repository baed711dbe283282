"""Deferred unloading: free a backend only once no in-flight request holds it.

The manager removes a version from routing first, then hands its backend here and drops
its own references. A request that resolved the version earlier still holds the backend
(through its ``ServedVersion``), so the backend lives until that request finishes; a weak
reference tells us when. Whoever still holds it after ``grace_seconds`` gets an unloaded
backend (its ``predict`` refuses with FailedPrecondition) so memory cannot leak forever.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable

from serving.backends.base import Backend

__all__ = ["DeferredUnloader", "unload_quietly"]

log = logging.getLogger(__name__)


def unload_quietly(backend: Backend) -> None:
    """``backend.unload()``, logging instead of raising (an unload must not stop the manager)."""
    try:
        backend.unload()
    except Exception:
        log.exception("backend unload failed")


class DeferredUnloader:
    """Waits, per released backend, for its last user, then reports completion."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self._threads: list[threading.Thread] = []

    def release(self, backend: Backend, on_done: Callable[[], None], what: str) -> None:
        """Track ``backend`` (the caller must drop its own references right after) and call
        ``on_done`` once it is freed or force-unloaded."""
        gone = threading.Event()
        weakref.finalize(backend, gone.set)
        thread = threading.Thread(
            target=self._wait,
            args=(weakref.ref(backend), gone, on_done, what),
            name="model-unload",
            daemon=True,
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _wait(
        self, ref: weakref.ref, gone: threading.Event, on_done: Callable[[], None], what: str
    ) -> None:
        if not gone.wait(self.grace_seconds):
            backend = ref()
            if backend is not None:
                log.warning(
                    "%s still in use after %.1fs; unloading anyway", what, self.grace_seconds
                )
                unload_quietly(backend)
                del backend
        on_done()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every released backend has been freed or force-unloaded (at most
        ``timeout`` seconds overall); True if all were."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)
