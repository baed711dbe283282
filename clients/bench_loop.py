"""The load generator's engine: closed-loop and open-loop request drivers on asyncio.

A ``Target`` opens connections and sends request ``i``; the ``Recorder`` timestamps every
answer. Closed loop: ``concurrency`` workers, each sends its next request when the previous
one is answered; latency is measured from the actual send. Open loop: request ``i`` is
*scheduled* at ``start + i / rate`` whatever happened before, and its latency is measured
from that scheduled time, so time spent waiting behind slow requests (for a connection, or
because the generator fell behind) counts: no coordinated omission.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from clients.bench_stats import WindowStats

__all__ = ["Outcome", "Target", "Recorder", "closed_loop", "open_loop"]


@dataclass
class Outcome:
    """One answer: ``error`` is ``""`` on success, else a short kind (``http_503``...)."""

    error: str
    request_bytes: int
    response_bytes: int
    body: bytes | None = None


class Target(Protocol):
    """What the engine drives (REST or gRPC, see ``clients.bench_targets``)."""

    async def connect(self) -> Any:
        """A connection (or channel) a worker keeps."""

    async def call(self, conn: Any, index: int) -> Outcome:
        """Send request ``index`` on ``conn`` and wait for the answer."""

    async def close(self) -> None:
        """Release every connection."""


class Recorder:
    """Collects answers of requests started at/after ``start()``; ``cut()`` closes a window."""

    def __init__(self, sample_every: int = 500, max_samples: int = 64) -> None:
        self.measure_from = float("inf")
        self.lat = array("d")
        self.errors: Counter[str] = Counter()
        self.req_bytes = 0
        self.resp_bytes = 0
        self.samples: list[tuple[int, bytes]] = []
        self._sample_every = sample_every
        self._max_samples = max_samples
        self._mark = (0, Counter(), 0, 0, 0.0)

    def start(self) -> None:
        """Begin measuring now (earlier requests are warmup)."""
        now = time.perf_counter()
        self.measure_from = now
        self._mark = (0, Counter(), 0, 0, now)

    def record(self, index: int, started: float, outcome: Outcome) -> None:
        """Account one answer of a request scheduled or sent at ``started``."""
        if started < self.measure_from:
            return
        done = time.perf_counter()
        self.req_bytes += outcome.request_bytes
        self.resp_bytes += outcome.response_bytes
        if outcome.error:
            self.errors[outcome.error] += 1
            return
        self.lat.append(done - started)
        n = len(self.lat)
        if outcome.body is not None and len(self.samples) < self._max_samples and (
                n <= 8 or n % self._sample_every == 0):
            self.samples.append((index, outcome.body))

    def cut(self) -> WindowStats:
        """Stats of everything answered since the previous cut."""
        n0, err0, req0, resp0, t0 = self._mark
        now = time.perf_counter()
        n = len(self.lat)
        window = WindowStats(
            seconds=now - t0, ok=n - n0, errors=self.errors - err0,
            request_bytes=self.req_bytes - req0, response_bytes=self.resp_bytes - resp0,
            latencies=np.frombuffer(self.lat, dtype=np.float64)[n0:n].copy())
        self._mark = (n, self.errors.copy(), self.req_bytes, self.resp_bytes, now)
        return window


async def _safe_call(target: Target, conn: Any, index: int) -> Outcome:
    try:
        return await target.call(conn, index)
    except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError) as exc:
        return Outcome(type(exc).__name__, 0, 0)
    except TimeoutError:
        return Outcome("timeout", 0, 0)
    except OSError as exc:
        return Outcome(f"os_error_{exc.errno}", 0, 0)


async def closed_loop(target: Target, concurrency: int, rec: Recorder,
                      stop: asyncio.Event) -> int:
    """Run ``concurrency`` send-wait-send workers until ``stop``; returns requests sent."""
    sent = 0

    async def worker(first: int) -> None:
        nonlocal sent
        conn = await target.connect()
        index = first
        while not stop.is_set():
            started = time.perf_counter()
            outcome = await _safe_call(target, conn, index)
            rec.record(index, started, outcome)
            sent += 1
            index += concurrency
            if outcome.error and outcome.response_bytes == 0:
                await asyncio.sleep(0.005)  # transport failure: do not spin on a dead server

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return sent


async def open_loop(target: Target, rate: float, rec: Recorder, stop: asyncio.Event,
                    max_connections: int = 256, drain_timeout: float = 10.0,
                    max_backlog: int = 100_000) -> int:
    """Schedule requests at ``rate``/s until ``stop``; returns requests scheduled.

    Up to ``max_connections`` connections are opened on demand; a request that finds none
    free waits for one, and that wait is part of its latency. When ``max_backlog`` requests
    are already waiting or in flight (a rate far above what the server sustains), new ones
    are not sent but counted as ``client_backlog`` errors, so memory stays bounded.
    """
    idle: asyncio.Queue[Any] = asyncio.Queue()
    opened = 0
    pending: set[asyncio.Task[None]] = set()

    async def one(index: int, scheduled: float) -> None:
        nonlocal opened
        if idle.empty() and opened < max_connections:
            opened += 1
            conn = await target.connect()
        else:
            conn = await idle.get()
        try:
            rec.record(index, scheduled, await _safe_call(target, conn, index))
        finally:
            idle.put_nowait(conn)

    start = time.perf_counter()
    index = 0
    while not stop.is_set():
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(pending) >= max_backlog:
            rec.record(index, scheduled, Outcome("client_backlog", 0, 0))
        else:
            task = asyncio.create_task(one(index, scheduled))
            pending.add(task)
            task.add_done_callback(pending.discard)
        index += 1
    if pending:
        _, late = await asyncio.wait(pending, timeout=drain_timeout)
        for task in late:
            task.cancel()
    return index
