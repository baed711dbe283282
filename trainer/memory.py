"""Process memory settings applied before TensorFlow starts its threads.

glibc's malloc gives threads their own arenas (up to 8 per core). TensorFlow's thread pools
and tf.data's workers then leave freed memory spread over many arenas, which RSS keeps.
Capping the arenas at 2 cut the peak RSS of one 128 px MobileNet fine-tuning epoch from
1.48-1.53 GB to 1.16-1.19 GB on the 2-core development machine (BENCHMARKS.md section 1).
glibc reads ``MALLOC_ARENA_MAX`` only when the process starts, so the cap is set at run time
with ``mallopt(M_ARENA_MAX)``, which applies to every arena created afterwards.

``TRAINER_MALLOC_ARENAS=N`` chooses the cap (``0`` keeps glibc's default); a
``MALLOC_ARENA_MAX`` in the environment wins, since glibc already obeys it.

Training on images keeps every layer's output of a batch for the backward pass, so peak RSS
grows with batch x S^2 (BENCHMARKS.md section 11). ``--micro-batch-size auto`` feeds the
batch in the largest micro-batches whose estimated activations fit
:data:`ACTIVATION_BUDGET_BYTES` and lets the optimizer accumulate their gradients (same
batch per update, lower peak).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import Mapping

__all__ = ["DEFAULT_ARENAS", "arena_cap", "limit_malloc_arenas", "ACTIVATION_BUDGET_BYTES",
           "ACTIVATION_FACTOR", "activation_bytes_per_image", "micro_batch_size"]

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


# Measured on MobileNet alpha 0.25 (2 cores, arenas capped; MB = 2**20 bytes, peak RSS of one
# 1-epoch run on 1,000 images): one more training image in a batch costs about 1.35x the
# float32 bytes of all layer outputs for that image (25 MB at 224 px: batch 16 peaks at
# 1,412 MB, batch 32 at 1,809 MB; 128 px batch 32: 1,281 MB), on top of about 1,015 MB for
# TensorFlow and the rest. Micro-batches cost a little more than a plain batch of their size
# (224 px, batch 32 in micro-batches of 16: 1,495 MB; of 8: 1,296 MB), so the budget leaves
# room: 350 MB keeps 128 px whole (262 MB) and splits 224 px into micro-batches of 8.
ACTIVATION_FACTOR = 1.35
ACTIVATION_BUDGET_BYTES = 350 * 2**20


def activation_bytes_per_image(model: object) -> int:
    """Estimated training-activation bytes of one image: ``ACTIVATION_FACTOR`` x the float32
    size of every leaf layer's output (nested models are walked)."""
    def leaves(layer: object) -> list[object]:
        subs = getattr(layer, "layers", None)
        return [leaf for sub in subs for leaf in leaves(sub)] if subs else [layer]

    elements = 0
    for layer in leaves(model):
        try:
            shape = layer.output.shape  # type: ignore[attr-defined]
        except (AttributeError, ValueError):
            continue
        count = 1
        for dim in tuple(shape)[1:]:
            count *= int(dim or 1)
        elements += count
    return int(elements * 4 * ACTIVATION_FACTOR)


def micro_batch_size(batch: int, per_image: int,
                     budget: int = ACTIVATION_BUDGET_BYTES) -> int:
    """The largest divisor of ``batch`` whose estimated activations fit ``budget`` (1 when
    even one image does not)."""
    for size in range(batch, 0, -1):
        if batch % size == 0 and size * per_image <= budget:
            return size
    return 1
