"""One batching queue: the waiting batches of a model version + signature, and when they run
(see ``serving.batching`` for the rules).

One owner decides which batch starts: ``_schedule``. It is the only code that takes a batch
off ``waiting`` and starts it, and it is synchronous (no ``await``), so nothing can change the
queue while it decides. It runs whenever a batch may have become startable: a request
arrives (``add``), a running batch's outputs arrive (its slot frees; the next batch starts
*before* the finished batch's responses are sliced), or the head batch's timeout passes (one
loop timer). There is no dispatcher task to crash or to race with.

A started batch holds a "slot" until its outputs arrive; at most ``num_batch_threads`` slots
are held, plus one full batch waiting inside the inference pool when the pool has no more
threads than that (``prefetch``: a pool thread that finishes takes it at once).

Every request's future completes exactly once: with its rows of the outputs, or with an
error (the model's, the queue being closed, or the batch task being cancelled).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from serving.batching_options import BatchingOptions
from serving.errors import Internal, InvalidArgument, ServingError, Unavailable
from serving.task_errors import report, spawn

__all__ = ["Batch", "BatchQueue", "Runner", "Task"]

Runner = Callable[[dict[str, np.ndarray]], Awaitable[dict[str, np.ndarray]]]
QUEUE_FULL = "The batch scheduling queue to which this session was assigned is full"


@dataclass(eq=False)
class Task:
    """One request (or one piece of a split request) waiting in a batch."""

    inputs: dict[str, np.ndarray]
    rows: int
    future: asyncio.Future
    enqueued: float


@dataclass(eq=False)
class Batch:
    """Tasks merged into one model call (closed = takes no more tasks)."""

    shape_key: tuple
    created: float
    size: int = 0
    tasks: list[Task] = field(default_factory=list)
    closed: bool = False
    due: bool = False  # its batch timeout has passed (it stays open until it starts)


class BatchQueue:
    """One batching queue (a model version + signature + output filter)."""

    def __init__(
        self,
        options: BatchingOptions,
        run: Runner,
        on_batch: Callable,
        on_idle: Callable,
        pool_size: int | None = None,
        shape_key: Callable[[dict[str, np.ndarray]], tuple] | None = None,
    ) -> None:
        self.options, self.run, self.on_batch, self.on_idle = options, run, on_batch, on_idle
        self.shape_key = shape_key or exact_shape_key
        self.capacity = options.execution_batch_size  # rows one model call may hold
        self.timeout = options.batch_timeout_micros / 1e6
        self.waiting: deque[Batch] = deque()
        self.limit = max(1, options.num_batch_threads)  # batches of this queue run at once
        # When the inference pool has no more threads than the limit, the pool itself keeps
        # the limit, so one full batch may wait inside the pool: a thread that finishes takes
        # it at once instead of idling until the event loop hands it over.
        self.prefetch = pool_size is not None and pool_size <= self.limit
        self.running = 0  # started batches whose outputs have not arrived
        self.executing: set[asyncio.Task] = set()  # strong references to the batch tasks
        self.closed: ServingError | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_batch: Batch | None = None

    # -- enqueueing (synchronous: nothing else runs in between) ------------------------------

    def add(self, inputs: dict[str, np.ndarray], rows: int) -> list[asyncio.Future]:
        """Queue one request; each future resolves to the outputs of one piece of it, in row
        order (one piece unless ``enable_large_batch_splitting`` split it)."""
        if self.closed is not None:
            raise copy.copy(self.closed)
        key = self.shape_key(inputs)
        tail = self._open_batch(key)
        room = self.capacity - tail.size if tail is not None else 0
        if self.options.enable_large_batch_splitting:
            sizes = _split_sizes(rows, room, self.capacity)
            new_batches = len(sizes) - (1 if room > 0 and sizes[0] <= room else 0)
            self._check_capacity(rows, room, new_batches)
        else:
            sizes = [rows]
            if rows > room and len(self.waiting) >= self.options.max_enqueued_batches:
                raise Unavailable(QUEUE_FULL)
        loop = asyncio.get_running_loop()
        futures, start, now = [], 0, time.monotonic()
        for size in sizes:
            if tail is None or tail.size + size > self.capacity:
                if tail is not None:
                    tail.closed = True
                tail = Batch(key, now)
                self.waiting.append(tail)
            piece = inputs
            if size != rows:
                piece = {n: a[start : start + size] for n, a in inputs.items()}
            task = Task(piece, size, loop.create_future(), now)
            tail.tasks.append(task)
            tail.size += size
            if tail.size >= self.capacity:
                tail.closed = True
            futures.append(task.future)
            start += size
        self._schedule()
        return futures

    def _open_batch(self, key: tuple) -> Batch | None:
        for batch in reversed(self.waiting):  # the newest open batch of the same shapes
            if not batch.closed and batch.shape_key == key:
                return batch
        return None

    def _check_capacity(self, rows: int, room: int, new_batches: int) -> None:
        free = self.options.max_enqueued_batches - len(self.waiting)
        if new_batches > free:
            capacity = max(free, 0) * self.capacity + room
            raise Unavailable(
                "The batch scheduling queue to which this task was submitted is full; task "
                f"size is {rows} but scheduling capacity is only {capacity} "
                f"(num_enqueued_batches={len(self.waiting)}, "
                f"max_enqueued_batches={self.options.max_enqueued_batches}, "
                f"open_batch_size={self.capacity - room}, "
                f"max_execution_batch_size={self.capacity})"
            )

    # -- the one owner of "which batch starts" ---------------------------------------------

    def _schedule(self) -> None:
        """Start every batch that may start now, oldest first; arm the head's timer."""
        while self.waiting:
            head = self.waiting[0]
            if not self._has_slot(head):
                break  # a finishing batch calls _schedule again
            if not (head.closed or head.due or self.timeout <= 0):
                self._arm_timer(head)
                break
            self.waiting.popleft()
            head.closed = True
            self._start(head)
        if not self.waiting:
            self._cancel_timer()
            if self.running == 0:
                self.on_idle(self)

    def _has_slot(self, batch: Batch) -> bool:
        """A free batch thread, or a full batch the pool may hold (see ``prefetch``)."""
        if self.running < self.limit:
            return True
        full = batch.size >= self.capacity
        return self.prefetch and full and self.running == self.limit

    def _arm_timer(self, head: Batch) -> None:
        if self._timer_batch is head:
            return
        self._cancel_timer()
        delay = max(0.0, head.created + self.timeout - time.monotonic())
        self._timer = asyncio.get_running_loop().call_later(delay, self._timed_out, head)
        self._timer_batch = head

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_batch = None

    def _timed_out(self, batch: Batch) -> None:
        if self._timer_batch is batch:
            self._timer = self._timer_batch = None
        batch.due = True
        self._schedule()

    def _start(self, batch: Batch) -> None:
        self.running += 1
        task = spawn(self._execute(batch), "batch-task")
        self.executing.add(task)
        task.add_done_callback(self.executing.discard)

    # -- running one batch ------------------------------------------------------------------

    async def _execute(self, batch: Batch) -> None:
        live = [t for t in batch.tasks if not t.future.done()]  # cancelled requests drop out
        outputs: dict[str, np.ndarray] | None = None
        error: BaseException | None = None
        try:
            if live:
                merged, size, padded = self._merge(live)
                self.on_batch(size, padded, [t.enqueued for t in live], time.monotonic())
                outputs = await self.run(merged)
                _check_outputs(outputs, padded)
        except asyncio.CancelledError:
            error = Unavailable("batch cancelled: the server is shutting down")
            raise
        except Exception as exc:  # delivered to every request of the batch
            error = exc
        finally:
            self.running -= 1
            try:
                self._schedule()  # the next batch starts before these responses are sliced
            except Exception as exc:  # a scheduler bug: reported, these requests still complete
                report("batch-scheduler", exc)
            if error is not None:
                _fail(live, error)
        if outputs is not None:
            _deliver(live, outputs)

    def _merge(self, tasks: list[Task]) -> tuple[dict[str, np.ndarray], int, int]:
        size = sum(t.rows for t in tasks)
        padded = self.options.padded_size(size)
        if len(tasks) == 1:  # nothing merged: no copy in, no slicing out
            merged = tasks[0].inputs
        elif self.options.pad_variable_length_inputs:
            merged = {n: _concat_padded([t.inputs[n] for t in tasks]) for n in tasks[0].inputs}
        else:
            merged = {n: np.concatenate([t.inputs[n] for t in tasks]) for n in tasks[0].inputs}
        if padded > size:
            merged = {
                n: np.concatenate([a, np.repeat(a[:1], padded - size, axis=0)])
                for n, a in merged.items()
            }
        return merged, size, padded

    # -- shutdown ---------------------------------------------------------------------------

    def close(self, error: ServingError) -> None:
        """Refuse new requests and fail the waiting ones with ``error``; running batches
        finish and deliver normally."""
        self.closed = error
        self._cancel_timer()
        while self.waiting:
            _fail(self.waiting.popleft().tasks, error)
        if self.running == 0:
            self.on_idle(self)


def exact_shape_key(inputs: dict[str, np.ndarray]) -> tuple:
    """Requests merge only with requests of the same dtypes and shapes past dim 0."""
    return tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items()))


def _split_sizes(rows: int, room: int, capacity: int) -> list[int]:
    """Piece sizes for a request of ``rows``: fill the open batch's ``room``, then whole
    execution batches (TF Serving's ``SplitInputTask``)."""
    if rows <= room:
        return [rows]
    sizes = [room] if room > 0 else []
    left = rows - sum(sizes)
    while left > 0:
        sizes.append(min(left, capacity))
        left -= sizes[-1]
    return sizes


def _concat_padded(arrays: list[np.ndarray]) -> np.ndarray:
    """``pad_variable_length_inputs``: pad every array past dim 0 to the largest size in the
    batch with its own first element (TF Serving's padding), then concatenate."""
    shape = tuple(max(dims) for dims in zip(*(a.shape[1:] for a in arrays), strict=True))
    rows = sum(a.shape[0] for a in arrays)
    out = np.empty((rows, *shape), dtype=arrays[0].dtype)
    offset = 0
    for arr in arrays:
        if arr.shape[1:] != shape:
            if arr.size == 0:
                raise InvalidArgument("Got empty tensor in batch of non-empty tensors.")
            out[offset : offset + arr.shape[0]] = arr.reshape(-1)[0]
        region = (slice(offset, offset + arr.shape[0]), *(slice(0, d) for d in arr.shape[1:]))
        out[region] = arr
        offset += arr.shape[0]
    return out


def _check_outputs(outputs: dict[str, np.ndarray], padded: int) -> None:
    for name, arr in outputs.items():
        if arr.ndim == 0 or arr.shape[0] != padded:
            raise Internal(
                f"Batched output tensor {name}'s 0th dimension does not equal the sum of "
                "the 0th dimension sizes of the input tensors"
            )


def _deliver(tasks: list[Task], outputs: dict[str, np.ndarray]) -> None:
    if len(tasks) == 1 and next(iter(outputs.values()), np.empty(0)).shape[0] == tasks[0].rows:
        if not tasks[0].future.done():  # a lone request's arrays pass through uncopied
            tasks[0].future.set_result(outputs)
        return
    offset = 0
    for task in tasks:
        if not task.future.done():
            task.future.set_result({n: a[offset : offset + task.rows] for n, a in outputs.items()})
        offset += task.rows


def _fail(tasks: list[Task], error: BaseException) -> None:
    for task in tasks:
        if not task.future.done():
            task.future.set_exception(_copy_error(error))


def _copy_error(error: BaseException) -> BaseException:
    """One exception object per request: raising a shared one in many tasks would chain
    their tracebacks (and the frames would keep the served version alive)."""
    try:
        clone = copy.copy(error)
    except Exception:  # an exception type copy cannot rebuild: share it
        return error
    clone.__traceback__ = None
    return clone
