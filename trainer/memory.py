"""Process memory settings applied before TensorFlow starts its threads.

glibc's malloc gives threads their own arenas (up to 8 per core). TensorFlow's thread pools
and tf.data's workers then leave freed memory spread over many arenas, which RSS keeps.
Capping the arenas at 2 cut the peak RSS of one 128 px MobileNet fine-tuning epoch from
1.48-1.53 GB to 1.16-1.19 GB on the 2-core development machine (BENCHMARKS.md section 1).
glibc reads ``MALLOC_ARENA_MAX`` only when the process starts, so the cap is set at run time
with ``mallopt(M_ARENA_MAX)``, which applies to every arena created afterwards.

``TRAINER_MALLOC_ARENAS=N`` chooses the cap (``0`` keeps glibc's default); a
``MALLOC_ARENA_MAX`` in the environment wins, since glibc already obeys it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import Mapping

__all__ = ["DEFAULT_ARENAS", "arena_cap", "limit_malloc_arenas"]

log = logging.getLogger(__name__)

DEFAULT_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def arena_cap(env: Mapping[str, str]) -> int | None:
    """The arena cap to set for ``env``, or ``None`` to leave malloc alone."""
    if "MALLOC_ARENA_MAX" in env:
        return None
    raw = env.get("TRAINER_MALLOC_ARENAS", str(DEFAULT_ARENAS)).strip()
    try:
        value = int(raw)
    except ValueError:
        log.warning("TRAINER_MALLOC_ARENAS=%r is not an integer; using %d", raw, DEFAULT_ARENAS)
        value = DEFAULT_ARENAS
    return value if value > 0 else None


def limit_malloc_arenas(env: Mapping[str, str] | None = None) -> bool:
    """Cap glibc's malloc arenas (see the module docstring); ``True`` when a cap was set.

    A no-op returning ``False`` off Linux, with a C library without ``mallopt`` (musl), or
    when :func:`arena_cap` says to leave malloc alone."""
    cap = arena_cap(os.environ if env is None else env)
    if cap is None or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_ARENA_MAX, cap) == 1
