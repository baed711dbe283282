"""The batching queue alone under randomised load: every request completes exactly once with
its own rows, every row runs in exactly one batch, no task exception.

Deterministic: one seed per round drives request sizes, shapes, arrival gaps, batch
parameters, model errors, cancellations, shutdowns and the order in which batches complete
(the fake model yields to the loop a random number of times). The default run covers 2,000
rounds (both prefetch settings, splitting on and off); the ``reliability`` variant 20,000.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter as Tally

import numpy as np
import pytest

from serving.batching import Batcher, BatchingOptions
from serving.errors import ServingError, Unavailable
from serving.metrics import UNHANDLED_EXCEPTIONS
from serving.task_errors import install_loop_handler


class FakeModel:
    """y = 2x; records the row ids of every batch; fails batches holding a poisoned row."""

    def __init__(self, rng: random.Random, limit: int) -> None:
        self.rng, self.limit = rng, limit
        self.rows_run: Tally = Tally()
        self.batches = 0
        self.in_flight = self.peak = 0
        self.poisoned: set[float] = set()

    async def run(self, merged: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            x = merged["x"]
            self.batches += 1
            ids = x[:, 0].tolist()
            for _ in range(self.rng.randrange(6)):  # random completion order
                await asyncio.sleep(0)
            if self.poisoned.intersection(ids):
                raise ServingError("poisoned batch")
            self.rows_run.update(set(ids))  # allowed_batch_sizes pads by repeating row 0
            return {"y": 2 * x}
        finally:
            self.in_flight -= 1


def _options(rng: random.Random) -> BatchingOptions:
    max_batch = rng.choice([1, 2, 3, 4, 8, 16])
    splitting = rng.random() < 0.4
    execution = rng.randint(1, max_batch) if splitting else 0
    last = execution or max_batch
    allowed = ()
    if rng.random() < 0.3:
        allowed = tuple(sorted({*rng.sample(range(1, last + 1), min(2, last)), last}))
    return BatchingOptions(
        max_batch_size=max_batch,
        batch_timeout_micros=rng.choice([0, 0, 1, 100, 300]),
        max_enqueued_batches=rng.choice([2, 5, 1000]),
        num_batch_threads=rng.choice([1, 2, 3]),
        allowed_batch_sizes=allowed,
        enable_large_batch_splitting=splitting,
        max_execution_batch_size=execution,
    )


async def _round(seed: int, prefetch: bool) -> None:
    rng = random.Random(seed)
    options = _options(rng)
    limit = options.num_batch_threads
    model = FakeModel(rng, limit)
    batcher = Batcher(options, pool_size=limit if prefetch else None)
    requests = []
    for i in range(rng.randint(1, 40)):
        rows = rng.randint(1, options.max_batch_size)
        width = rng.choice([1, 1, 2])  # two shape keys: separate batches
        ids = np.arange(rows, dtype=np.float64) + i * 1000.0
        x = np.repeat(ids[:, None], width, axis=1)
        if rng.random() < 0.05:
            model.poisoned.add(float(ids[0]))
        requests.append(x)

    outcomes: dict[int, list] = {i: [] for i in range(len(requests))}

    async def one(i: int, x: np.ndarray) -> None:
        try:
            result = await batcher.submit(("k",), {"x": x}, model.run)
        except asyncio.CancelledError:
            outcomes[i].append("cancelled")
            raise
        except ServingError as err:
            outcomes[i].append(err)
        else:
            outcomes[i].append(result)

    tasks = []
    for i, x in enumerate(requests):
        tasks.append(asyncio.ensure_future(one(i, x)))
        if rng.random() < 0.3:
            await asyncio.sleep(0)
        if rng.random() < 0.05:
            await asyncio.sleep(0.0002)
    cancel = [t for t in tasks if rng.random() < 0.05]
    for _ in range(rng.randrange(3)):
        await asyncio.sleep(0)
    for task in cancel:
        task.cancel()
    if rng.random() < 0.1:
        batcher.close()
    done, pending = await asyncio.wait(tasks, timeout=10)
    assert not pending, f"seed {seed}: {len(pending)} requests hung"

    assert model.peak <= limit + (1 if prefetch else 0), f"seed {seed}: too many batches ran"
    for i, x in enumerate(requests):
        if not outcomes[i] and tasks[i].cancelled():
            continue  # cancelled before its coroutine started: it never reached the queue
        assert len(outcomes[i]) == 1, f"seed {seed}: request {i} completed {outcomes[i]}"
        outcome = outcomes[i][0]
        if isinstance(outcome, dict):
            np.testing.assert_array_equal(outcome["y"], 2 * x, err_msg=f"seed {seed} req {i}")
            assert all(model.rows_run[v] == 1 for v in x[:, 0].tolist()), f"seed {seed}"
        elif isinstance(outcome, ServingError):
            poisoned = isinstance(outcome, ServingError) and outcome.message == "poisoned batch"
            assert poisoned or isinstance(outcome, Unavailable), f"seed {seed}: {outcome}"
    assert all(count == 1 for count in model.rows_run.values()), f"seed {seed}: row ran twice"
    for _ in range(100):  # batches of cancelled requests still wait for their timeout
        if batcher.queue_count == 0:
            break
        await asyncio.sleep(0.001)
    assert batcher.queue_count == 0, f"seed {seed}: a queue was left behind"


async def _rounds(seeds: range) -> None:
    loop = asyncio.get_running_loop()
    install_loop_handler(loop)
    for seed in seeds:
        for prefetch in (False, True):
            await _round(seed, prefetch)


def _check(seeds: range) -> None:
    before = UNHANDLED_EXCEPTIONS.total()
    asyncio.run(_rounds(seeds))
    assert UNHANDLED_EXCEPTIONS.total() == before, "a batching task raised"


def test_randomised_rounds_complete_exactly_once():
    _check(range(1000))


@pytest.mark.reliability
def test_randomised_rounds_complete_exactly_once_long():
    _check(range(1000, 11000))
