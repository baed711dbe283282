"""Hardware-dependent choices: precision policy, XLA and distribution strategy.

The decisions are pure functions of the request and the number of visible GPUs so they can be
unit-tested on a CPU-only machine; ``visible_gpus`` and ``make_strategy`` touch TensorFlow.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from trainer.errors import ModelError

__all__ = ["choose_precision", "choose_xla", "choose_strategy", "visible_gpus", "make_strategy"]

log = logging.getLogger(__name__)

PrecisionRequest = Literal["auto", "on", "off"]


def choose_precision(requested: str, gpus: int) -> str:
    """Keras dtype policy name for ``--mixed-precision`` given ``gpus`` visible GPUs.

    ``auto``: ``mixed_float16`` with a GPU, else ``float32``; ``off``: ``float32``;
    ``on``: ``mixed_float16``, refused without a GPU (float16 on CPU is slow and unsupported
    by several kernels)."""
    if requested == "off":
        return "float32"
    if requested == "auto":
        return "mixed_float16" if gpus > 0 else "float32"
    if requested == "on":
        if gpus == 0:
            raise ModelError("--mixed-precision on needs a GPU and none is visible; "
                             "use auto or off")
        return "mixed_float16"
    raise ModelError(f"--mixed-precision must be auto, on or off, not {requested!r}")


def choose_xla(requested: bool, gpus: int) -> bool:
    """Whether to compile the train step with XLA: only when asked and a GPU is visible."""
    if requested and gpus == 0:
        log.warning("--xla ignored: no GPU visible (XLA is only used on GPU)")
    return bool(requested and gpus > 0)


def choose_strategy(gpus: int, requested: str = "auto") -> str:
    """``--strategy``: ``auto`` is ``mirrored`` for more than one GPU, else ``default`` (one
    device); ``default``, ``mirrored`` and ``multi-worker`` are taken as asked."""
    if requested == "auto":
        return "mirrored" if gpus > 1 else "default"
    if requested in ("default", "mirrored", "multi-worker"):
        return requested
    raise ModelError(f"unknown strategy {requested!r}; accepted: auto, default, mirrored, "
                     "multi-worker")


def visible_gpus() -> int:
    """Number of GPUs TensorFlow can see."""
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def make_strategy(name: str) -> Any:
    """The ``tf.distribute`` strategy called ``name`` (``default``, ``mirrored``, or
    ``multi-worker``: ``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``; create it
    before other TensorFlow work)."""
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "default":
        return tf.distribute.get_strategy()
    raise ModelError(f"unknown strategy {name!r}; accepted: default, mirrored, multi-worker")
