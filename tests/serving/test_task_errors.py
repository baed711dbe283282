"""Unhandled exceptions of server tasks are logged as errors and counted, never silent."""

from __future__ import annotations

import asyncio
import logging

import pytest

from serving import task_errors
from serving.metrics import Counter, ServingMetrics


@pytest.fixture
def counter(monkeypatch):
    """A fresh counter, so these deliberate failures do not trip the suite-wide check."""
    fresh = Counter(":tfserve_kit:serving:unhandled_exception_count", ("task",))
    monkeypatch.setattr(task_errors, "UNHANDLED_EXCEPTIONS", fresh)
    return fresh


def test_spawned_task_exception_is_logged_and_counted(counter, caplog):
    async def boom():
        raise RuntimeError("dispatcher bug")

    async def scenario():
        task = task_errors.spawn(boom(), "batch-task")
        await asyncio.wait([task])
        await asyncio.sleep(0)  # done callbacks run on the next loop turn

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
    assert counter.value("batch-task") == 1
    assert "Unhandled exception in batch-task: RuntimeError: dispatcher bug" in caplog.text


def test_loop_handler_counts_what_asyncio_would_print(counter, caplog):
    def bad_callback():
        raise ValueError("callback bug")

    async def scenario():
        task_errors.install_loop_handler(asyncio.get_running_loop())
        asyncio.get_running_loop().call_soon(bad_callback)
        await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
    assert counter.total() == 1 and "callback bug" in caplog.text


def test_cancelled_task_is_not_an_error(counter):
    async def scenario():
        task = task_errors.spawn(asyncio.sleep(10), "poller")
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)

    asyncio.run(scenario())
    assert counter.total() == 0


def test_counter_is_on_the_prometheus_page():
    task_errors.UNHANDLED_EXCEPTIONS.value("x")  # reading does not create a sample
    page = ServingMetrics().render()
    assert "# TYPE :tfserve_kit:serving:unhandled_exception_count counter" in page
