"""trainer.memory: which malloc arena cap applies, and that it is set on glibc Linux."""

from __future__ import annotations

import sys

import pytest

from trainer.memory import DEFAULT_ARENAS, arena_cap, limit_malloc_arenas


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
