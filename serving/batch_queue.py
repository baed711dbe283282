"""One batching queue: the open and waiting batches of a model version + signature, and when
they run (see ``serving.batching`` for the rules).

The queue lives on the event loop. A batch holds a "slot" from its start until its outputs
arrive; at most ``num_batch_threads`` slots are held, plus one full batch waiting inside the
inference pool when the pool has no more threads than that (``prefetch``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from serving.errors import Internal, Unavailable

if TYPE_CHECKING:
    from serving.batching import BatchingOptions

__all__ = ["Batch", "BatchQueue", "Runner"]

Runner = Callable[[dict[str, np.ndarray]], Awaitable[dict[str, np.ndarray]]]


@dataclass
class Batch:
    """Requests merged into one model call (closed = takes no more requests)."""

    shape_key: tuple
    created: float
    size: int = 0
    tasks: list = field(default_factory=list)  # (inputs, rows, future, enqueued_at)
    closed: bool = False
    slot_held: bool = False  # counted in ``BatchQueue.running`` until its outputs arrive


class BatchQueue:
    """One batching queue (a model version + signature + output filter)."""

    def __init__(
        self,
        options: BatchingOptions,
        run: Runner,
        on_batch: Callable,
        on_idle: Callable,
        pool_size: int | None = None,
    ) -> None:
        self.options, self.run, self.on_batch, self.on_idle = options, run, on_batch, on_idle
        self.batches: deque[Batch] = deque()
        self.changed = asyncio.Event()
        self.limit = max(1, options.num_batch_threads)  # batches of this queue run at once
        # When the inference pool has no more threads than the limit, the pool itself keeps
        # the limit, so one full batch may wait inside the pool: a thread that finishes takes
        # it at once instead of idling until the event loop hands it over.
        self.prefetch = pool_size is not None and pool_size <= self.limit
        self.slot_freed = asyncio.Event()
        self.dispatcher: asyncio.Task | None = None
        self.running = 0  # batches executing: the queue is idle only when none wait or run
        self.executing: set[asyncio.Task] = set()  # strong references to the batch tasks

    def add(self, inputs: dict[str, np.ndarray], rows: int) -> asyncio.Future:
        """Queue one request; its future resolves to the request's slice of the outputs."""
        shape_key = tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items()))
        tail = None
        for batch in reversed(self.batches):  # the newest open batch of the same shapes
            if not batch.closed and batch.shape_key == shape_key:
                tail = batch
                break
        if tail is None or tail.size + rows > self.options.max_batch_size:
            if tail is not None:
                tail.closed = True
            if len(self.batches) >= self.options.max_enqueued_batches:
                raise Unavailable(
                    "The batch scheduling queue to which this session was assigned is full"
                )
            tail = Batch(shape_key, time.monotonic())
            self.batches.append(tail)
        future = asyncio.get_running_loop().create_future()
        tail.tasks.append((inputs, rows, future, time.monotonic()))
        tail.size += rows
        if tail.size >= self.options.max_batch_size:
            tail.closed = True
        if self._start_now():
            return future
        self.changed.set()
        if self.dispatcher is None or self.dispatcher.done():
            self.dispatcher = asyncio.create_task(self._dispatch())
        return future

    def _start_now(self) -> bool:
        """With ``batch_timeout_micros`` 0, a lone batch runs at once when a batch thread is
        free (what the dispatcher would do one loop turn later, minus that turn)."""
        if (
            self.options.batch_timeout_micros > 0
            or len(self.batches) != 1
            or self.running >= self.limit
            or (self.dispatcher is not None and not self.dispatcher.done())
        ):
            return False
        head = self.batches.popleft()
        head.closed = True
        self._start(head)
        return True

    def _start(self, batch: Batch) -> None:
        self.running += 1
        task = asyncio.create_task(self._execute(batch))
        self.executing.add(task)
        task.add_done_callback(self.executing.discard)

    def _may_start(self, batch: Batch) -> bool:
        """A free batch thread, or a full batch the pool may hold (see ``prefetch``)."""
        if self.running < self.limit:
            return True
        full = batch.size >= self.options.max_batch_size
        return self.prefetch and full and self.running == self.limit

    def _head_ready(self) -> bool:
        """The oldest batch may start: it is closed (full) or its timeout has passed."""
        head = self.batches[0]
        timeout = self.options.batch_timeout_micros / 1e6
        return head.closed or head.created + timeout <= time.monotonic()

    async def _dispatch(self) -> None:
        timeout = self.options.batch_timeout_micros / 1e6
        while self.batches:
            head = self.batches[0]
            while not head.closed:
                remaining = head.created + timeout - time.monotonic()
                if remaining <= 0:
                    break
                self.changed.clear()
                try:
                    await asyncio.wait_for(self.changed.wait(), remaining)
                except TimeoutError:
                    break
            head.closed = True
            if not self._may_start(head):
                # A finishing batch may start the head itself (``_slot_done``): look again.
                self.slot_freed.clear()
                await self.slot_freed.wait()
                continue
            self.batches.popleft()
            self._start(head)
        if self.running == 0:
            self.on_idle(self)

    def _slot_done(self) -> None:
        """A batch has its outputs: free its slot and, when the oldest waiting batch may run,
        start it now, before the finished batch's responses are built (the model never waits
        for that work; the dispatcher would start it a few loop turns later)."""
        if self.running <= 0:
            return
        self.running -= 1
        if self.batches and self._may_start(self.batches[0]) and self._head_ready():
            head = self.batches.popleft()
            head.closed = True
            self._start(head)
        self.slot_freed.set()

    async def _execute(self, batch: Batch) -> None:
        batch.slot_held = True
        try:
            await self._run_batch(batch)
        except Exception as err:  # delivered to every request of the batch
            for _, _, future, _ in batch.tasks:
                if not future.done():
                    future.set_exception(err)
        finally:
            if batch.slot_held:
                batch.slot_held = False
                self._slot_done()
            if self.running == 0 and not self.batches:
                self.on_idle(self)

    async def _run_batch(self, batch: Batch) -> None:
        started = time.monotonic()
        padded = self.options.padded_size(batch.size)
        if len(batch.tasks) == 1:  # nothing merged: no copy in, no slicing out
            merged = batch.tasks[0][0]
        else:
            names = list(batch.tasks[0][0])
            merged = {n: np.concatenate([t[0][n] for t in batch.tasks]) for n in names}
        if padded > batch.size:
            merged = {
                n: np.concatenate([a, np.repeat(a[:1], padded - batch.size, axis=0)])
                for n, a in merged.items()
            }
        self.on_batch(batch, padded, started)
        outputs = await self.run(merged)
        batch.slot_held = False
        self._slot_done()
        for name, arr in outputs.items():
            if arr.ndim == 0 or arr.shape[0] != padded:
                raise Internal(
                    f"Batched output tensor {name}'s 0th dimension does not equal the sum of "
                    "the 0th dimension sizes of the input tensors"
                )
        if len(batch.tasks) == 1 and padded == batch.size:
            future = batch.tasks[0][2]
            if not future.done():
                future.set_result(outputs)
            return
        offset = 0
        for _, rows, future, _ in batch.tasks:
            if not future.done():
                future.set_result({n: a[offset : offset + rows] for n, a in outputs.items()})
            offset += rows
