"""FitConfig validation (one-line messages naming the flag) and the config.yaml round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.config import dump_config, load_config, make_config
from trainer.errors import TrainerError

BASE = {"data": "x.npz", "out": "runs/x"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("val_split", 1.5, "--val-split: must be in [0, 1)"),
        ("epochs", 0, "--epochs: must be >= 1"),
        ("lr", -1.0, "--lr: must be > 0"),
        ("augment", ["rotate"], "unknown augmentation 'rotate'; accepted: flip, crop"),
        ("optimizer", "rmsprop", "--optimizer: Input should be 'sgd', 'adam' or 'adamw'"),
        ("dropout", 1.0, "--dropout: must be in [0, 1)"),
    ],
)
def test_bad_values_are_one_line(field: str, value: object, message: str) -> None:
    with pytest.raises(TrainerError) as info:
        make_config(**BASE, **{field: value})
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_validation_data_required() -> None:
    with pytest.raises(TrainerError, match="validation data needed"):
        make_config(**BASE, val_split=0.0)


def test_yaml_round_trip(tmp_path: Path) -> None:
    config = make_config(
        **BASE, classes=["cat", "dog"], augment=["flip", "crop"], image_size=96, schedule="cosine"
    )
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config
