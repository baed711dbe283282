"""Precision / XLA / strategy policy: pure functions of the request and the GPU count."""

from __future__ import annotations

import pytest

from trainer.errors import ModelError
from trainer.runtime import choose_precision, choose_strategy, choose_xla


@pytest.mark.parametrize(
    ("requested", "gpus", "expected"),
    [
        ("auto", 0, "float32"),
        ("auto", 1, "mixed_float16"),
        ("auto", 4, "mixed_float16"),
        ("off", 0, "float32"),
        ("off", 2, "float32"),
        ("on", 1, "mixed_float16"),
    ],
)
def test_choose_precision(requested: str, gpus: int, expected: str) -> None:
    assert choose_precision(requested, gpus) == expected


def test_mixed_precision_on_without_gpu_is_refused() -> None:
    with pytest.raises(ModelError, match="needs a GPU"):
        choose_precision("on", 0)


def test_unknown_precision_request() -> None:
    with pytest.raises(ModelError, match="auto, on or off"):
        choose_precision("fp8", 1)


@pytest.mark.parametrize(
    ("requested", "gpus", "expected"),
    [(True, 0, False), (True, 1, True), (False, 1, False), (False, 0, False)],
)
def test_choose_xla(requested: bool, gpus: int, expected: bool) -> None:
    assert choose_xla(requested, gpus) is expected


@pytest.mark.parametrize(("gpus", "expected"), [(0, "default"), (1, "default"), (2, "mirrored")])
def test_choose_strategy(gpus: int, expected: str) -> None:
    assert choose_strategy(gpus) == expected
