"""trainer.memory: which malloc arena cap applies, and that it is set on glibc Linux."""

from __future__ import annotations

import sys

import pytest

from trainer.memory import (
    DEFAULT_ARENAS,
    activation_bytes_per_image,
    arena_cap,
    limit_malloc_arenas,
    micro_batch_size,
)


@pytest.mark.parametrize(("env", "expected"), [
    ({}, DEFAULT_ARENAS),
    ({"TRAINER_MALLOC_ARENAS": "4"}, 4),
    ({"TRAINER_MALLOC_ARENAS": "0"}, None),
    ({"TRAINER_MALLOC_ARENAS": "many"}, DEFAULT_ARENAS),
    ({"MALLOC_ARENA_MAX": "8", "TRAINER_MALLOC_ARENAS": "4"}, None),
])
def test_arena_cap(env, expected):
    assert arena_cap(env) == expected


def test_nothing_is_set_when_disabled():
    assert limit_malloc_arenas({"TRAINER_MALLOC_ARENAS": "0"}) is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_cap_is_set_on_linux():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert limit_malloc_arenas({}) is True


@pytest.mark.parametrize(("batch", "per_image", "budget", "expected"), [
    (32, 10, 320, 32),   # fits: the whole batch
    (32, 10, 319, 16),   # the largest divisor that fits
    (24, 10, 100, 8),    # divisors only (not 10)
    (32, 1000, 10, 1),   # not even one image fits: one at a time
])
def test_micro_batch_size(batch, per_image, budget, expected):
    assert micro_batch_size(batch, per_image, budget) == expected


def test_activation_estimate_grows_with_the_pixels():
    from trainer.model import build_classifier

    small = activation_bytes_per_image(build_classifier("small_cnn", 3, 32, weights="none"))
    large = activation_bytes_per_image(build_classifier("small_cnn", 3, 64, weights="none"))
    # small_cnn: 32x32 conv with 32 channels dominates; 4x the pixels, about 4x the bytes
    assert small > 32 * 32 * 32 * 4 and 3.5 < large / small < 4.5
