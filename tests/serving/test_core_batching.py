"""ServingCore with dynamic batching over a numpy fake backend (no TensorFlow session)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from serving.batching import BatchingOptions
from serving.core import ServingCore
from serving.errors import Code, ServingError
from tests.serving.conftest import FakeBackend, FakeManager


def make_core(backend: FakeBackend, **batching) -> ServingCore:
    options = BatchingOptions(**batching) if batching else None
    return ServingCore(FakeManager(backend), batching=options, workers=2)


async def predict_many(core: ServingCore, xs: list[np.ndarray]) -> list:
    served = core.resolve("m")
    calls = [core.predict(served, "", {"x": x}) for x in xs]
    return await asyncio.gather(*calls, return_exceptions=True)


def rows(n: int, start: float = 0.0) -> list[np.ndarray]:
    return [np.array([[start + i]], np.float32) for i in range(n)]


def test_concurrent_requests_are_merged_and_split_back():
    backend = FakeBackend()
    core = make_core(backend, max_batch_size=8, batch_timeout_micros=200_000, num_batch_threads=1)
    results = asyncio.run(predict_many(core, rows(8)))
    assert [r["y"].tolist() for r in results] == [[[0.5 * i + 2.0]] for i in range(8)]
    assert sum(backend.batches) == 8 and len(backend.batches) < 8
    total, batches = core.metrics.batch_size.snapshot("m", "serving_default")
    assert (total, batches) == (8, len(backend.batches))
    assert core.metrics.wrapped_run_count.value() == 8
    core.close()


def test_requests_arriving_while_busy_merge_even_with_zero_timeout():
    backend = FakeBackend(delay=0.3)
    core = make_core(backend, max_batch_size=16, batch_timeout_micros=0, num_batch_threads=1)

    async def scenario():
        first = asyncio.ensure_future(predict_many(core, rows(1)))
        await asyncio.sleep(0.1)  # the first batch is running now
        rest = await predict_many(core, rows(5, start=1))
        return await first + rest

    results = asyncio.run(scenario())
    assert [r["y"][0, 0] for r in results] == [2.0 + 0.5 * i for i in range(6)]
    assert backend.batches == [1, 5]
    core.close()


def test_padding_to_allowed_batch_sizes():
    backend = FakeBackend()
    core = make_core(
        backend,
        max_batch_size=8,
        batch_timeout_micros=300_000,
        num_batch_threads=1,
        allowed_batch_sizes=(4, 8),
    )
    results = asyncio.run(predict_many(core, rows(3, start=10)))
    assert backend.batches == [4]
    assert [r["y"][0, 0] for r in results] == [7.0, 7.5, 8.0]
    assert core.metrics.padding_size.snapshot("m", "serving_default") == (1, 1)
    core.close()


def test_full_queue_is_unavailable():
    backend = FakeBackend(delay=0.3)
    core = make_core(
        backend,
        max_batch_size=1,
        batch_timeout_micros=0,
        num_batch_threads=1,
        max_enqueued_batches=1,
    )
    results = asyncio.run(predict_many(core, rows(4)))
    codes = [r.code if isinstance(r, ServingError) else Code.OK for r in results]
    assert Code.UNAVAILABLE in codes and codes[0] == Code.OK
    rejected = next(r for r in results if isinstance(r, ServingError))
    assert rejected.message == (
        "The batch scheduling queue to which this session was assigned is full"
    )
    core.close()


def test_oversized_request_and_unbatchable_requests():
    backend = FakeBackend()
    core = make_core(backend, max_batch_size=2, batch_timeout_micros=1000)
    results = asyncio.run(predict_many(core, [np.zeros((3, 1), np.float32)]))
    assert isinstance(results[0], ServingError)
    assert results[0].message == "Task size 3 is larger than maximum input batch size 2"
    scalar = asyncio.run(predict_many(core, [np.float32(4.0)]))
    assert scalar[0]["y"] == 4.0
    core.close()


def test_different_trailing_shapes_run_in_separate_batches():
    backend = FakeBackend()
    core = make_core(backend, max_batch_size=8, batch_timeout_micros=200_000, num_batch_threads=2)
    xs = [np.zeros((1, 2), np.float32), np.zeros((1, 3), np.float32)] * 2
    results = asyncio.run(predict_many(core, xs))
    assert [r["y"].shape for r in results] == [(1, 2), (1, 3), (1, 2), (1, 3)]
    assert sorted(backend.batches) == [2, 2]
    core.close()


def test_errors_reach_every_request_of_a_batch_and_the_batcher_recovers():
    backend = FakeBackend()
    core = make_core(backend, max_batch_size=4, batch_timeout_micros=100_000)
    served = core.resolve("m")

    async def scenario():
        bad = [core.predict(served, "nope", {"x": x}) for x in rows(2)]
        failed = await asyncio.gather(*bad, return_exceptions=True)
        good = await core.predict(served, "", {"x": rows(1)[0]})
        return failed, good

    failed, good = asyncio.run(scenario())
    assert all(isinstance(f, ServingError) and f.code == Code.FAILED_PRECONDITION for f in failed)
    assert good["y"].tolist() == [[2.0]]
    assert core.batcher.queue_count == 0
    core.close()


def test_unbatched_core_runs_off_the_loop_and_records_runtime_latency():
    backend = FakeBackend()
    core = make_core(backend)
    result = asyncio.run(predict_many(core, rows(2)))
    assert [r["y"][0, 0] for r in result] == [2.0, 2.5]
    assert core.metrics.runtime_latency.snapshot("m", "Predict", "TF1")[1] == 2
    core.close()


@pytest.mark.parametrize("method", ["classify", "regress"])
def test_examples_on_a_predict_only_signature_are_rejected(method):
    core = make_core(FakeBackend())
    served = core.resolve("m")
    with pytest.raises(ServingError) as info:
        asyncio.run(getattr(core, method)(served, "", [b""]))
    assert info.value.code == Code.INVALID_ARGUMENT
    core.close()


class _RecordingBackend(FakeBackend):
    """Keeps the input and output arrays it saw, to check what the batcher copies."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.seen: list[tuple[np.ndarray, dict]] = []

    def predict(self, signature_name, inputs, output_filter=()):
        outputs = super().predict(signature_name, inputs, output_filter)
        self.seen.append((inputs["x"], outputs))
        return outputs


def test_a_lone_request_is_passed_through_without_copies():
    backend = _RecordingBackend()
    core = make_core(backend, max_batch_size=8, batch_timeout_micros=0, num_batch_threads=1)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (result,) = asyncio.run(predict_many(core, [x]))
    seen_input, seen_outputs = backend.seen[0]
    assert seen_input is x and result["y"] is seen_outputs["y"]
    assert result["y"].tolist() == (0.5 * x + 2.0).tolist()
    assert core.batcher.queue_count == 0
    core.close()


def test_zero_timeout_starts_at_once_on_free_threads_and_keeps_the_thread_limit():
    backend = FakeBackend(delay=0.2)
    core = make_core(backend, max_batch_size=16, batch_timeout_micros=0, num_batch_threads=2)
    results = asyncio.run(predict_many(core, rows(6)))
    assert [r["y"][0, 0] for r in results] == [2.0 + 0.5 * i for i in range(6)]
    # Two free batch threads take the first two requests; the other four wait and merge.
    assert backend.batches == [1, 1, 4]
    core.close()


def test_a_finishing_batch_starts_the_waiting_one_before_its_own_callers_resume():
    backend = FakeBackend(delay=0.2)
    core = make_core(backend, max_batch_size=16, batch_timeout_micros=0, num_batch_threads=1)

    async def scenario():
        served = core.resolve("m")
        first = asyncio.ensure_future(core.predict(served, "", {"x": rows(1)[0]}))
        await asyncio.sleep(0.05)  # the first batch runs; the next two wait and merge
        rest = asyncio.gather(*(core.predict(served, "", {"x": x}) for x in rows(2, start=1)))
        await first
        # The model is not left idle while the first request's response is built: the
        # merged batch was handed to the pool before this coroutine resumed.
        started = core.metrics.batch_size.snapshot("m", "serving_default")
        return started, await rest

    started, rest = asyncio.run(scenario())
    assert started == (3, 2)
    assert [r["y"][0, 0] for r in rest] == [2.5, 3.0]
    assert backend.batches == [1, 2]
    core.close()


@pytest.mark.parametrize(("workers", "handed_over"), [(1, 2), (2, 1)])
def test_a_full_batch_waits_in_the_pool_only_when_the_pool_keeps_the_thread_limit(
    workers, handed_over
):
    backend = FakeBackend(delay=0.3)
    options = BatchingOptions(max_batch_size=1, batch_timeout_micros=0, num_batch_threads=1)
    core = ServingCore(FakeManager(backend), batching=options, workers=workers)

    async def scenario():
        served = core.resolve("m")
        calls = [asyncio.ensure_future(core.predict(served, "", {"x": x})) for x in rows(3)]
        await asyncio.sleep(0.15)  # the first batch runs; the second is full
        started = core.metrics.batch_size.snapshot("m", "serving_default")[1]
        return started, await asyncio.gather(*calls)

    started, results = asyncio.run(scenario())
    # One pool thread: the pool itself runs one batch at a time, so the next full batch is
    # handed over early (at most one). Two pool threads: handing it over would break the
    # num_batch_threads limit, so it waits for the running batch.
    assert started == handed_over
    assert [r["y"][0, 0] for r in results] == [2.0, 2.5, 3.0]
    assert backend.batches == [1, 1, 1]
    core.close()
