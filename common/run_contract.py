"""The run directory's ``model.json`` as one typed model (docs/contracts.md section 1).

Written by ``trainer`` (``ModelCard.for_run(...).write(...)``) and read by ``exporter``
(``ModelCard.read(...)``), so both sides agree on one definition. Needs ``pydantic`` (part of
the ``[train]`` and ``[export]`` extras); the thin clients never import this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from common.atomic import write_json

__all__ = ["ModelCard", "ResizeSpec", "RunContractError", "MODEL_JSON"]

MODEL_JSON = "model.json"


class RunContractError(ValueError):
    """A ``model.json`` that breaks the contract (one-line message)."""


class ResizeSpec(BaseModel):
    """The contract resize: bilinear, half-pixel centres, no antialiasing."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    method: Literal["bilinear"] = "bilinear"
    half_pixel_centers: Literal[True] = True
    antialias: Literal[False] = False


class ModelCard(BaseModel):
    """``model.json``: everything the exporter needs to know about a run's model."""

    model_config = ConfigDict(extra="allow", frozen=True)

    format_version: Literal[1] = 1
    model_file: str = "model.keras"
    backbone: str = "unknown"
    image_size: int = Field(ge=1)
    input_name: str = "image"
    input_dtype: Literal["float32"] = "float32"
    input_range: tuple[int, int] = (0, 255)
    color_order: Literal["RGB"] = "RGB"
    resize: ResizeSpec = ResizeSpec()
    preprocessing: str = ""
    num_classes: int = Field(ge=1)
    labels: tuple[str, ...]
    output: Literal["probabilities"] = "probabilities"
    # a ``hub:`` backbone: the local SavedModel directories its TFSMLayer loads, the only ones a
    # consumer should trust when it loads ``model.keras`` with safe mode off (omitted otherwise)
    hub_modules: tuple[str, ...] | None = None

    @field_validator("input_name")
    @classmethod
    def _image_input(cls, value: str) -> str:
        if value != "image":
            raise ValueError(f"input_name is {value!r}; the contract needs 'image'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModelCard:
        if len(self.labels) != self.num_classes:
            raise ValueError(f"image_size={self.image_size}, num_classes={self.num_classes} "
                             f"and {len(self.labels)} labels are inconsistent")
        return self

    @classmethod
    def for_run(cls, backbone: str, image_size: int, preprocessing: str,
                labels: Sequence[str], hub_modules: Sequence[str] = ()) -> ModelCard:
        """The card the trainer writes for a finished run."""
        return cls(backbone=backbone, image_size=int(image_size), preprocessing=preprocessing,
                   num_classes=len(labels), labels=tuple(str(x) for x in labels),
                   hub_modules=tuple(str(p) for p in hub_modules) or None)

    @classmethod
    def parse(cls, data: object, source: str = MODEL_JSON) -> ModelCard:
        """Validate decoded JSON; ``RunContractError`` names the first problem in one line."""
        if not isinstance(data, dict):
            raise RunContractError(f"{source} must hold a JSON object")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise RunContractError(f"{source}: {_one_line(exc)}") from None

    @classmethod
    def read(cls, run_dir: str | Path) -> ModelCard:
        """Read and validate ``run_dir/model.json``."""
        path = Path(run_dir) / MODEL_JSON
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise RunContractError(f"{path} is not valid JSON: {exc}") from None
        return cls.parse(data, str(path))

    def to_json_dict(self) -> dict:
        """The JSON object written to ``model.json``."""
        data = self.model_dump(mode="json")
        if data.get("hub_modules") is None:
            data.pop("hub_modules", None)
        return data

    def write(self, run_dir: str | Path) -> Path:
        """Write ``run_dir/model.json`` atomically."""
        return write_json(Path(run_dir) / MODEL_JSON, self.to_json_dict())


def _one_line(exc: ValidationError) -> str:
    errors = exc.errors()
    missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing"]
    if missing:
        return f"lacks {', '.join(missing)} (see docs/contracts.md)"
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"])
    if where in ("image_size", "num_classes") and first["type"].startswith("int"):
        return f"image_size and num_classes must be integers ({where}: {first['input']!r})"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
