"""Dynamic batching: merge concurrent requests to one model version/signature, split results.

Mirrors TF Serving's batching session (``BatchingParameters``): requests join the open batch of
their queue while it has room (``max_batch_size``); a batch is run once it is full or
``batch_timeout_micros`` after its first request, and at most ``num_batch_threads`` batches of a
queue run at once (so requests arriving while the model is busy are merged too). More than
``max_enqueued_batches`` waiting batches -> UNAVAILABLE. With ``batch_timeout_micros`` 0 a
request that finds a batch thread free runs at once, alone; the others wait and merge. The
merged batch is padded to the next ``allowed_batch_sizes`` entry by repeating its first row;
outputs are sliced back per request (a lone request's arrays pass through uncopied).

``enable_large_batch_splitting``: ``max_batch_size`` bounds a *request* and
``max_execution_batch_size`` (default ``max_batch_size``) a *model call*; a request larger than
the open batch's room fills that room and the rest goes to new batches of
``max_execution_batch_size`` rows; its pieces' outputs are concatenated back in order.
``pad_variable_length_inputs``: requests whose inputs differ only in dimensions the signature
declares variable (-1, or unknown rank) merge into one batch, each input padded to the largest
size in the batch with its own first element (TF Serving's padding; outputs are not unpadded).
Dimensions the signature fixes are never padded (a wrongly shaped request still fails alone).

Hand-offs avoid idle model threads: a finishing batch starts the oldest waiting one before its
own responses are built, and when the inference pool has no more threads than
``num_batch_threads`` (the pool then keeps the limit itself) one full batch may wait inside the
pool, so a thread that finishes takes it without a trip through the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import numpy as np

from serving.batch_queue import BatchQueue, Runner, exact_shape_key
from serving.batching_options import BatchingOptions
from serving.errors import InvalidArgument, ServingError, Unavailable

__all__ = ["BatchingOptions", "Batcher", "VariableDims"]

log = logging.getLogger(__name__)

# Per input alias: for each dimension past dim 0, whether the signature leaves it variable
# (None: unknown rank, every dimension is variable).
VariableDims = Mapping[str, tuple[bool, ...] | None]


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
        self._on_batch = on_batch or (lambda key, size, padded, enqueued, started: None)
        self._closed: str | None = None
        self._warned: set[tuple] = set()

    async def submit(
        self,
        key: tuple,
        inputs: dict[str, np.ndarray],
        run: Runner,
        variable_dims: VariableDims | None = None,
    ) -> dict[str, np.ndarray]:
        """Run ``inputs`` merged with concurrent requests of the same ``key``.

        ``run`` executes a merged batch. Requests whose inputs do not share dim 0 run alone.
        ``variable_dims`` (the signature's) is used by ``pad_variable_length_inputs``.
        """
        rows = batch_rows(inputs)
        if rows is None or rows == 0:
            return await run(inputs)
        if rows > self.options.max_batch_size:
            raise InvalidArgument(
                f"Task size {rows} is larger than maximum input batch size "
                f"{self.options.max_batch_size}"
            )
        if self._closed is not None:
            raise Unavailable(self._closed)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = BatchQueue(
                self.options,
                run,
                lambda size, padded, enqueued, started: self._on_batch(
                    key, size, padded, enqueued, started
                ),
                lambda q: self._forget(key, q),
                self._pool_size,
                self._shape_key(key, variable_dims),
            )
        try:
            futures = queue.add(inputs, rows)
        except ServingError:
            self._forget(key, queue)  # a queue that took nothing must not linger
            raise
        if len(futures) == 1:
            return await futures[0]
        parts = await asyncio.gather(*futures, return_exceptions=True)  # every piece settles
        for part in parts:
            if isinstance(part, BaseException):
                raise part
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def _shape_key(self, key: tuple, variable_dims: VariableDims | None):
        if not self.options.pad_variable_length_inputs:
            return exact_shape_key
        dims = dict(variable_dims or {})
        fixed = dims and all(v is not None and not any(v) for v in dims.values())
        if fixed and key not in self._warned:
            self._warned.add(key)
            log.warning(
                "pad_variable_length_inputs has no effect on model %s signature %s: every "
                "input dimension past the batch dimension is fixed, so nothing can be padded",
                key[1] if len(key) > 1 else key, key[2] if len(key) > 2 else "",
            )

        def padded_key(inputs: dict[str, np.ndarray]) -> tuple:
            parts = []
            for name, arr in inputs.items():
                variable = dims.get(name, ())
                if variable is None:
                    shape = (-1,) * (arr.ndim - 1)
                elif len(variable) == arr.ndim - 1:
                    pairs = zip(variable, arr.shape[1:], strict=True)
                    shape = tuple(-1 if v else d for v, d in pairs)
                else:
                    shape = arr.shape[1:]  # not the signature's rank: runs alone, fails there
                parts.append((name, arr.dtype.str, arr.ndim, shape))
            return tuple(sorted(parts))

        return padded_key

    def close(self, message: str = "The server is shutting down") -> None:
        """Refuse new requests (UNAVAILABLE) and fail the ones still waiting to start."""
        self._closed = message
        for queue in list(self._queues.values()):
            queue.close(Unavailable(message))

    def _forget(self, key: tuple, queue: BatchQueue) -> None:
        """Drop an idle queue (nothing waiting or running), so an unloaded version is not kept
        alive by its runner. Dropping it while a batch still runs would hand the next request
        a fresh queue with fresh ``num_batch_threads`` slots: no limit, so nothing merges."""
        if self._queues.get(key) is queue and not queue.waiting and queue.running == 0:
            del self._queues[key]

    @property
    def queue_count(self) -> int:
        """Queues with pending work (for tests and diagnostics)."""
        return len(self._queues)
