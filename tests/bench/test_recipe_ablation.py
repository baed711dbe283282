"""The recipe ablation's statistics and table (pure functions: no training)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import recipe_ablation  # noqa: E402
from recipe_ablation import mcnemar, table, wilson  # noqa: E402


def test_wilson_matches_the_textbook_value() -> None:
    low, high = wilson(844, 1000)
    assert low == pytest.approx(0.8202, abs=1e-4) and high == pytest.approx(0.8652, abs=1e-4)


@pytest.mark.parametrize(("a", "b", "expected"), [
    ([1, 1, 0, 0], [1, 1, 0, 0], (0, 0, 1.0)),          # no discordant pair
    ([1, 0, 1, 0], [0, 1, 0, 1], (2, 2, 1.0)),          # balanced
    ([1] * 10 + [0], [0] * 10 + [1], (10, 1, 0.01172)),  # 2 * P(X <= 1), X ~ Bin(11, 1/2)
])
def test_mcnemar_exact(a: list[int], b: list[int], expected: tuple[int, int, float]) -> None:
    only_a, only_b, p = mcnemar(a, b)
    assert (only_a, only_b) == expected[:2] and p == pytest.approx(expected[2], abs=1e-4)


def test_table_says_which_rows_never_ran() -> None:
    rec = {"ci95": [0.8, 0.9], "accuracy": 0.85, "num_images": 4, "correct_per_image": [1, 1, 0, 1],
           "wall_s": 10.0, "peak_rss_mb": 1000.0, "images_per_s": 300.0, "epochs": 18}
    text = table({"default": rec, "ema": {**rec, "correct_per_image": [1, 0, 0, 1]}})
    assert "| default |" in text and "**85.0 %** [80.0, 90.0], n=4" in text
    assert "| ema |" in text and "0 / 1 (p=1)" in text
    never = [r.name for r in recipe_ablation.ROWS if r.name not in ("default", "ema")]
    assert all(f"| {name} | " in text and "not run" in text for name in never)
