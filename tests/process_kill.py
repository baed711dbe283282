"""Shared by the reliability tests that SIGKILL a CLI subprocess at a chosen moment."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

__all__ = ["kill_when"]


def kill_when(proc: subprocess.Popen[str], ready: Callable[[], bool],
              limit: float = 300) -> bool:
    """SIGKILL ``proc``'s process group once ``ready()``; False if it ended (or ``limit`` s
    passed) first. ``proc`` must be started with ``start_new_session=True``."""
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return True
        time.sleep(0.002)
    if proc.poll() is None:
        proc.kill()
    proc.communicate()
    return False
