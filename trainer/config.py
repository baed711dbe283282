"""Typed, validated settings of ``trainer fit``; saved resolved as ``config.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from trainer.errors import TrainerError

__all__ = ["FitConfig", "make_config", "load_config", "dump_config", "parse_duration"]

AUGMENTATIONS = ("flip", "crop")


class FitConfig(BaseModel):
    """Every ``trainer fit`` flag. ``image_size`` None = the backbone's default."""

    model_config = ConfigDict(extra="forbid")

    data: str
    out: str
    val_data: str | None = None
    val_split: float = 0.1
    test_split: float | None = None  # held-out test images: fraction < 1 or a count N >= 1
    test_data: str | None = None  # held-out test source (instead of --test-split)
    label_mode: Literal["fine", "coarse"] = "fine"
    classes: list[str] | None = None
    train_size: int | None = None
    augment: list[str] = []
    seed: int = 0

    backbone: str = "mobilenet"
    weights: str = "imagenet"
    alpha: float = 1.0
    image_size: int | None = None
    pooling: Literal["avg", "flatten"] = "avg"
    dense: int = 0
    dropout: float = 0.0
    freeze: str = "none"
    batchnorm: Literal["train", "frozen"] = "train"
    input_noise: float = 0.0  # GaussianNoise stddev on 0..255 pixels, training only
    upsample: int = 1  # UpSampling2D factor before the backbone (input stays image_size)
    init_from: str | None = None  # an earlier run directory: every non-head layer from it
    cache_features: bool | None = None  # None = auto (fully frozen backbone, see fit)
    cache_dir: str | None = None  # None = feature_cache.default_cache_dir()
    fine_tune_epochs: int = 0  # phase 2 epochs (0 = one phase)
    fine_tune_lr: float = 1e-5
    unfreeze_from: str = "0"  # phase 2: backbone layer name or count of layers kept frozen

    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    ema: float = 0.0  # momentum of the weight average the run ends with (0 = off)
    schedule: Literal["constant", "cosine"] = "constant"
    epochs: int | None = None  # None = sized by the recipe to the data (fit resolves it)
    time_budget: float | None = None  # seconds of wall time that size --epochs (fit)
    recipe: str = "none"  # the recipe that filled in the flags not given (trainer.recipes)
    batch_size: int = 32
    # images per training step of the image pipeline; the optimizer accumulates the gradients
    # of batch_size / micro_batch_size steps (None = auto: fit picks it by memory, trainer.memory)
    micro_batch_size: int | None = None
    early_stopping: int = 0

    strategy: Literal["auto", "default", "mirrored", "multi-worker"] = "auto"
    mixed_precision: Literal["auto", "on", "off"] = "auto"
    xla: bool = False
    overwrite: bool = False
    tensorboard: bool = False

    @field_validator("augment")
    @classmethod
    def _augment(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a not in AUGMENTATIONS]
        if bad:
            raise ValueError(f"unknown augmentation {bad[0]!r}; accepted: flip, crop")
        return v

    @field_validator("val_split")
    @classmethod
    def _val_split(cls, v: float) -> float:
        if not 0.0 <= v < 1.0:
            raise ValueError(f"must be in [0, 1), got {v}")
        return v

    @field_validator("dropout", "label_smoothing", "ema")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0.0 <= v < 1.0:
            raise ValueError(f"must be in [0, 1), got {v}")
        return v

    @field_validator("batch_size", "upsample")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be >= 1, got {v}")
        return v

    @field_validator("dense", "early_stopping", "seed", "fine_tune_epochs")
    @classmethod
    def _non_negative(cls, v: int) -> int:
        if v < 0:
            raise ValueError(f"must be >= 0, got {v}")
        return v

    @field_validator("input_noise")
    @classmethod
    def _stddev(cls, v: float) -> float:
        if v < 0:
            raise ValueError(f"must be >= 0, got {v}")
        return v

    @field_validator("time_budget", mode="before")
    @classmethod
    def _budget(cls, v: Any) -> float | None:
        return None if v is None else parse_duration(v)

    @field_validator("lr", "fine_tune_lr")
    @classmethod
    def _lr(cls, v: float) -> float:
        if v <= 0:
            raise ValueError(f"must be > 0, got {v}")
        return v

    @field_validator("train_size", "image_size", "epochs")
    @classmethod
    def _optional_positive(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError(f"must be >= 1, got {v}")
        return v

    @field_validator("test_split")
    @classmethod
    def _test_split(cls, v: float | None) -> float | None:
        if v is not None and not (0.0 < v < 1.0 or (v >= 1 and float(v).is_integer())):
            raise ValueError(f"must be a fraction in (0, 1) or a whole number of images "
                             f"N >= 1, got {v:g}")
        return v

    @model_validator(mode="after")
    def _distinct_sources(self) -> FitConfig:
        """Validation and test images must not be the training images."""
        from trainer.data.sources import same_source

        if self.test_split is not None and self.test_data is not None:
            raise ValueError("give --test-split or --test-data, not both")
        for flag, other in (("--val-data", self.val_data), ("--test-data", self.test_data)):
            if other is not None and same_source(other, self.data):
                raise ValueError(f"{flag} {other} is the training data ({self.data}); give "
                                 "other images, or a split (--val-split / --test-split)")
        if (self.val_data is not None and self.test_data is not None
                and same_source(self.val_data, self.test_data)):
            raise ValueError(f"--test-data {self.test_data} is the validation data: held-out "
                             "test images must not be used to choose epochs")
        return self

    @model_validator(mode="after")
    def _needs_validation(self) -> FitConfig:
        if self.val_data is None and self.val_split == 0.0:
            raise ValueError("validation data needed: --val-split F (0 < F < 1) or --val-data")
        return self

    @model_validator(mode="after")
    def _two_phases(self) -> FitConfig:
        """Phase 1 of a two-phase run trains the head on a fully frozen backbone."""
        if self.fine_tune_epochs > 0:
            if self.freeze not in ("none", "all"):
                raise ValueError(f"--freeze {self.freeze} conflicts with --fine-tune-epochs: "
                                 "phase 1 freezes the whole backbone; choose what phase 2 "
                                 "trains with --unfreeze-from LAYER|N")
            self.freeze = "all"
        return self

    @model_validator(mode="after")
    def _micro_batch(self) -> FitConfig:
        m = self.micro_batch_size
        if m is not None and (m < 1 or m > self.batch_size or self.batch_size % m):
            raise ValueError(f"--micro-batch-size {m} must divide --batch-size "
                             f"{self.batch_size} (accepted: auto, or a divisor such as "
                             f"{self.batch_size // 2 or 1})")
        return self

    @property
    def step_batch(self) -> int:
        """Images per training step on images (the micro-batch, else the batch)."""
        return self.micro_batch_size or self.batch_size

    @property
    def accumulation(self) -> int:
        """Training steps whose gradients make one optimizer update (1 = no accumulation)."""
        return self.batch_size // self.step_batch

    @property
    def total_epochs(self) -> int:
        """Epochs of both phases (``--epochs`` + ``--fine-tune-epochs``; an unresolved
        ``--epochs`` counts 0)."""
        return (self.epochs or 0) + self.fine_tune_epochs


def parse_duration(value: Any) -> float:
    """Seconds from ``600``, ``"600s"``, ``"10m"``, ``"1.5h"`` (ValueError if not > 0)."""
    text = str(value).strip().lower()
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(text[-1:])
    number = text[:-1] if scale else text
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        raise ValueError(f"{value!r} is not a duration; accepted: seconds (600, 600s), "
                         "minutes (10m) or hours (1.5h)") from None
    if not seconds > 0:
        raise ValueError(f"must be > 0, got {value!r}")
    return seconds


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    flag = f"--{loc.replace('_', '-')}: " if loc else ""
    return f"{flag}{msg}"


def make_config(**values: Any) -> FitConfig:
    """Validate ``values`` into a FitConfig, completed by its recipe (``recipe``: "auto" when
    not given; see :mod:`trainer.recipes`); a value of None means "not given". A bad value is
    a one-line TrainerError."""
    from trainer.recipes import resolve

    try:
        resolved, _, _ = resolve({"recipe": "auto", **values})
    except ValueError as exc:
        raise TrainerError(f"--recipe: {exc}") from None
    try:
        return FitConfig(**resolved)
    except ValidationError as exc:
        raise TrainerError(_one_line(exc)) from None


def dump_config(config: FitConfig) -> str:
    """YAML text of the resolved config."""
    import yaml

    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def load_config(path: str | Path) -> FitConfig:
    """Read a ``config.yaml`` written by ``dump_config``."""
    import yaml

    try:
        values = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise TrainerError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(values, dict):
        raise TrainerError(f"{path} is not a trainer config")
    return make_config(**values)
