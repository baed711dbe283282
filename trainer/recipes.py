"""Default recipes: the settings ``trainer fit`` uses for every flag the user does not give.

A recipe is a set of :class:`~trainer.config.FitConfig` values for one kind of run, measured
on held-out images (BENCHMARKS.md, section 11). ``--recipe auto`` (the default) picks the
recipe of the backbone when it starts from pretrained weights, and the plain defaults of
``FitConfig`` otherwise; ``--recipe none`` asks for the plain defaults; any flag given on the
command line wins over the recipe. The resolved settings and the recipe's name are printed at
start and saved in ``config.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Recipe", "RECIPES", "PLAIN", "recipe_for", "resolve", "default_epochs",
           "describe_recipe"]


@dataclass(frozen=True)
class Recipe:
    """Named default settings (FitConfig field -> value) and what they were measured on."""

    name: str
    summary: str
    values: Mapping[str, Any] = field(default_factory=dict)


PLAIN = Recipe("none", "the plain FitConfig defaults (no tuned recipe)")

# Fine-tuning MobileNet v1 from ImageNet weights. Measured on CIFAR-10 (10,000 images) and
# CIFAR-100 (40,000) with alpha 0.25 on 2 CPU cores; the ablation is BENCHMARKS.md section 11.
MOBILENET_FINE_TUNE = Recipe(
    "mobilenet-finetune",
    "whole network, BatchNorm learning, 128 px, Adam 1e-3 with cosine decay, flip + crop, "
    "label smoothing 0.1, epochs sized to the data",
    {
        "image_size": 128,
        "freeze": "none",
        "batchnorm": "train",
        "optimizer": "adam",
        "lr": 1e-3,
        "schedule": "cosine",
        "augment": ["flip", "crop"],
        "label_smoothing": 0.1,
        "batch_size": 32,
    },
)

RECIPES: dict[str, Recipe] = {r.name: r for r in (PLAIN, MOBILENET_FINE_TUNE)}

# backbone -> recipe used by --recipe auto with pretrained weights
_BY_BACKBONE = {"mobilenet": MOBILENET_FINE_TUNE.name}

# Training images seen by a default run (epochs = this / training images, within the bounds):
# 9,000 CIFAR-10 images -> 16 epochs; 36,000 CIFAR-100 images -> 10 epochs (the lower bound:
# a 100-class head needs its passes, and 10 of them fit 30 minutes on 2 cores).
IMAGES_SEEN = 144_000
EPOCH_BOUNDS = (10, 30)


def recipe_for(backbone: str, weights: str, requested: str = "auto") -> Recipe:
    """The recipe ``--recipe requested`` means for this backbone and ``--weights``."""
    if requested != "auto":
        try:
            return RECIPES[requested]
        except KeyError:
            raise ValueError(f"unknown recipe {requested!r}; accepted: auto, "
                             f"{', '.join(RECIPES)}") from None
    if weights == "none" or backbone not in _BY_BACKBONE:
        return PLAIN
    return RECIPES[_BY_BACKBONE[backbone]]


def default_epochs(recipe: Recipe, train_images: int) -> int | None:
    """Epochs of a recipe run on ``train_images`` images (None: the plain default)."""
    if recipe is PLAIN:
        return None
    low, high = EPOCH_BOUNDS
    return max(low, min(high, round(IMAGES_SEEN / max(1, train_images))))


def resolve(given: Mapping[str, Any]) -> tuple[dict[str, Any], Recipe, list[str]]:
    """``given`` (the settings the user chose; None = not given) completed by its recipe.
    Returns the values (None dropped, so FitConfig's defaults apply where the recipe says
    nothing), the recipe and the names of the fields the recipe filled in."""
    recipe = recipe_for(str(given.get("backbone") or "mobilenet"),
                        str(given.get("weights") or "imagenet"),
                        str(given.get("recipe") or "auto"))
    values = {k: v for k, v in given.items() if v is not None}
    filled = [k for k in recipe.values if k not in values]
    values.update({k: recipe.values[k] for k in filled})
    values["recipe"] = recipe.name
    return values, recipe, filled


def describe_recipe(config: Any) -> str:
    """One line for the start of a run: the recipe and the values it supplied (a value equal
    to the recipe's is shown as the recipe's, whoever gave it)."""
    recipe = RECIPES.get(config.recipe, PLAIN)
    if not recipe.values:
        return (f"recipe none: plain defaults (no tuned recipe for --backbone "
                f"{config.backbone} --weights {config.weights}; `--recipe` lists them)")
    used = [f"{k} {_show(v)}" for k, v in recipe.values.items() if getattr(config, k) == v]
    changed = [f"--{k.replace('_', '-')} {_show(getattr(config, k))}"
               for k, v in recipe.values.items() if getattr(config, k) != v]
    if config.time_budget is not None:
        epochs = f"epochs sized to --time-budget {config.time_budget:g} s"
    elif config.epochs is None:
        epochs = "epochs sized to the data"
    else:
        epochs = f"epochs {config.epochs}"
    line = f"recipe {recipe.name}: {', '.join(used)}; {epochs}"
    return line + (f"; overridden: {', '.join(changed)}" if changed else "")


def _show(value: Any) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)
