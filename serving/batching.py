"""Dynamic batching: merge concurrent requests to one model version/signature, split results.

Mirrors TF Serving's batching session (``BatchingParameters``): requests join the open batch of
their queue while it has room (``max_batch_size``); a batch is run once it is full or
``batch_timeout_micros`` after its first request, and at most ``num_batch_threads`` batches of a
queue run at once (so requests arriving while the model is busy are merged too). More than
``max_enqueued_batches`` waiting batches -> UNAVAILABLE. With ``batch_timeout_micros`` 0 a
request that finds a batch thread free runs at once, alone; the others wait and merge. The
merged batch is padded to the next ``allowed_batch_sizes`` entry by repeating its first row;
outputs are sliced back per request (a lone request's arrays pass through uncopied).

Hand-offs avoid idle model threads: a finishing batch starts the oldest waiting one before its
own responses are built, and when the inference pool has no more threads than
``num_batch_threads`` (the pool then keeps the limit itself) one full batch may wait inside the
pool, so a thread that finishes takes it without a trip through the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from serving.batch_queue import BatchQueue, Runner
from serving.errors import InvalidArgument

__all__ = ["BatchingOptions", "Batcher"]


@dataclass(frozen=True)
class BatchingOptions:
    """``BatchingParameters`` (TF Serving's defaults where the file leaves a field unset)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 1000000
    num_batch_threads: int = 4
    allowed_batch_sizes: tuple[int, ...] = ()
    thread_pool_name: str = "batch_threads"

    def padded_size(self, size: int) -> int:
        """The smallest allowed batch size holding ``size`` rows (``size`` if none is set)."""
        for allowed in self.allowed_batch_sizes:
            if allowed >= size:
                return allowed
        return size


def batch_rows(inputs: dict[str, np.ndarray]) -> int | None:
    """The common dim 0 of every input, or None when the request cannot be batched."""
    sizes = {arr.shape[0] if arr.ndim else None for arr in inputs.values()}
    if len(sizes) != 1 or None in sizes:
        return None
    return sizes.pop()


class Batcher:
    """Routes requests to per-key queues; ``submit`` resolves to this request's outputs."""

    def __init__(
        self,
        options: BatchingOptions,
        on_batch: Callable | None = None,
        pool_size: int | None = None,
    ) -> None:
        self.options = options
        self._pool_size = pool_size  # threads of the pool that runs the batches, if known
        self._queues: dict[tuple, BatchQueue] = {}
        self._on_batch = on_batch or (lambda key, batch, padded, started: None)

    async def submit(
        self, key: tuple, inputs: dict[str, np.ndarray], run: Runner
    ) -> dict[str, np.ndarray]:
        """Run ``inputs`` merged with concurrent requests of the same ``key``.

        ``run`` executes a merged batch. Requests whose inputs do not share dim 0 run alone.
        """
        rows = batch_rows(inputs)
        if rows is None or rows == 0:
            return await run(inputs)
        if rows > self.options.max_batch_size:
            raise InvalidArgument(
                f"Task size {rows} is larger than maximum input batch size "
                f"{self.options.max_batch_size}"
            )
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = BatchQueue(
                self.options,
                run,
                lambda b, p, s: self._on_batch(key, b, p, s),
                lambda q: self._forget(key, q),
                self._pool_size,
            )
        return await queue.add(inputs, rows)

    def _forget(self, key: tuple, queue: BatchQueue) -> None:
        """Drop an idle queue (nothing waiting or running), so an unloaded version is not kept
        alive by its runner. Dropping it while a batch still runs would hand the next request
        a fresh queue with fresh ``num_batch_threads`` slots: no limit, so nothing merges."""
        if self._queues.get(key) is queue and not queue.batches and queue.running == 0:
            del self._queues[key]

    @property
    def queue_count(self) -> int:
        """Queues with pending work (for tests and diagnostics)."""
        return len(self._queues)
