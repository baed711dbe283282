"""Default recipes: which one applies, what it fills in, that flags win, and that a saved
config reloads unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.config import dump_config, load_config, make_config, parse_duration
from trainer.errors import TrainerError
from trainer.recipes import (
    MOBILENET_FINE_TUNE,
    PLAIN,
    default_epochs,
    describe_recipe,
    recipe_for,
)


@pytest.mark.parametrize(("backbone", "weights", "expected"), [
    ("mobilenet", "imagenet", MOBILENET_FINE_TUNE),
    ("mobilenet", "weights.h5", MOBILENET_FINE_TUNE),
    ("mobilenet", "none", PLAIN),       # from scratch: the recipe is for fine-tuning
    ("small_cnn", "none", PLAIN),
    ("resnet50", "imagenet", PLAIN),    # no measured recipe
])
def test_auto_picks_the_backbones_recipe(backbone: str, weights: str, expected: object) -> None:
    assert recipe_for(backbone, weights) is expected


def test_the_recipe_fills_what_is_not_given_and_flags_win() -> None:
    config = make_config(data="d.npz", out="o", backbone="mobilenet", weights="imagenet",
                         lr=3e-4, augment=[])
    assert config.recipe == "mobilenet-finetune"
    assert config.image_size == 128 and config.schedule == "cosine"
    assert config.label_smoothing == 0.1 and config.freeze == "none"
    assert config.lr == 3e-4 and config.augment == []  # given: kept
    assert config.epochs is None  # sized to the data by fit
    line = describe_recipe(config)
    assert line.startswith("recipe mobilenet-finetune: image_size 128")
    assert "overridden: --lr 0.0003, --augment " in line


def test_recipe_none_keeps_the_plain_defaults() -> None:
    config = make_config(data="d.npz", out="o", backbone="mobilenet", weights="imagenet",
                         recipe="none")
    assert config.recipe == "none"
    assert config.image_size is None and config.schedule == "constant"
    assert config.augment == [] and config.label_smoothing == 0.0
    assert describe_recipe(config).startswith("recipe none: plain defaults")


def test_unknown_recipe_is_one_line() -> None:
    with pytest.raises(TrainerError, match="--recipe: unknown recipe 'fast'; accepted: auto, "
                       "none, mobilenet-finetune"):
        make_config(data="d.npz", out="o", recipe="fast")


def test_saved_config_reloads_unchanged(tmp_path: Path) -> None:
    config = make_config(data="d.npz", out="o", backbone="mobilenet", weights="imagenet",
                         label_smoothing=0.0, epochs=7, time_budget="10m")
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    again = load_config(path)
    assert again == config
    assert again.label_smoothing == 0.0 and again.time_budget == 600.0


@pytest.mark.parametrize(("images", "epochs"), [(9_000, 16), (8_100, 18), (36_000, 10),
                                                (1_000, 30), (1_000_000, 10)])
def test_epochs_are_sized_to_the_data(images: int, epochs: int) -> None:
    assert default_epochs(MOBILENET_FINE_TUNE, images) == epochs
    assert default_epochs(PLAIN, images) is None


@pytest.mark.parametrize(("text", "seconds"), [("600", 600.0), ("600s", 600.0),
                                               ("10m", 600.0), ("1.5h", 5400.0), (90, 90.0)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "message"), [
    ("ten", "--time-budget: 'ten' is not a duration; accepted: seconds (600, 600s), minutes "
            "(10m) or hours (1.5h)"),
    ("0m", "--time-budget: must be > 0, got '0m'"),
])
def test_bad_durations_are_one_line(text: str, message: str) -> None:
    with pytest.raises(TrainerError) as info:
        make_config(data="d.npz", out="o", time_budget=text)
    assert str(info.value) == message
