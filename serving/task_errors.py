"""No background failure is silent: every unhandled exception of a server task is logged as an
error and counted in ``UNHANDLED_EXCEPTIONS`` (exported on the Prometheus page as
``:tfserve_kit:serving:unhandled_exception_count{task=...}``).

``spawn`` starts a task whose exception is reported as soon as it ends (batch tasks, pollers);
``install_loop_handler`` routes whatever else asyncio would report ("Task exception was never
retrieved", a failing callback) through ``report`` too (a loop message without an exception,
such as "Task was destroyed but it is pending!", is logged as an error but not counted);
threads and request handlers call ``report`` from their ``except`` clause. The serving test
suite fails a test during which the counter moved.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from typing import Any

from serving.metrics import UNHANDLED_EXCEPTIONS

__all__ = ["UNHANDLED_EXCEPTIONS", "report", "spawn", "install_loop_handler"]

log = logging.getLogger(__name__)


def report(task: str, exc: BaseException | None, message: str = "") -> None:
    """Log one unhandled exception of ``task`` (with its traceback) and count it."""
    UNHANDLED_EXCEPTIONS.inc(task)
    detail = message or (f"{type(exc).__name__}: {exc}" if exc is not None else "error")
    log.error("Unhandled exception in %s: %s", task, detail, exc_info=exc)


def _done(task: asyncio.Task) -> None:
    if task.cancelled():
        return
    exc = task.exception()  # retrieving it also silences asyncio's own late warning
    if exc is not None:
        report(task.get_name(), exc)


def spawn(coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
    """``asyncio.create_task`` whose unhandled exception is reported when the task ends."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    task.add_done_callback(_done)
    return task


def _loop_handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    exc = context.get("exception")
    source = context.get("task") or context.get("future") or context.get("handle")
    name = source.get_name() if isinstance(source, asyncio.Task) else "event-loop"
    if re.fullmatch(r"Task-\d+", name):  # asyncio's default names: one label, not thousands
        name = "asyncio-task"
    if exc is None:  # e.g. "Task was destroyed but it is pending!": no exception to count
        log.error("%s: %s", name, context.get("message", "event loop error"))
        return
    report(name, exc, context.get("message", ""))


def install_loop_handler(loop: asyncio.AbstractEventLoop) -> None:
    """Report (log + count) everything the loop's default exception handler would print."""
    loop.set_exception_handler(_loop_handler)
