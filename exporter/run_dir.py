"""Read and validate a trainer run directory (docs/contracts.md section 1)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.errors import RunDirError

REQUIRED_KEYS = ("image_size", "num_classes", "labels")


@dataclass(frozen=True)
class RunInfo:
    """What the exporter needs to know about one run."""

    path: Path
    model_path: Path
    image_size: int
    num_classes: int
    labels: tuple[str, ...]
    input_name: str
    backbone: str
    meta: dict[str, Any]

    @property
    def samples_path(self) -> Path:
        """``samples.npz`` of the run (may be absent)."""
        return self.path / "samples.npz"


def _read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / "model.json"
    if not meta_path.is_file():
        raise RunDirError(f"{path} is not a run directory: model.json is missing")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{meta_path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise RunDirError(f"{meta_path} must hold a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    if missing:
        raise RunDirError(f"{meta_path} lacks {', '.join(missing)} (see docs/contracts.md)")
    return meta


def _read_labels(path: Path, meta: dict[str, Any]) -> tuple[str, ...]:
    labels = [str(label) for label in meta["labels"]]
    labels_path = path / "labels.txt"
    if labels_path.is_file():
        from_file = [line for line in labels_path.read_text().splitlines() if line.strip()]
        if from_file != labels:
            raise RunDirError(f"{labels_path} disagrees with the labels in model.json")
    return tuple(labels)


def load_run_info(path: Path | str) -> RunInfo:
    """Validate ``path`` as a run directory and return its description.

    Raises ``RunDirError`` with one line saying what is missing or inconsistent.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"run directory {path} does not exist")
    meta = _read_meta(path)
    model_path = path / str(meta.get("model_file", "model.keras"))
    if not model_path.is_file():
        raise RunDirError(f"{path} has no model file {model_path.name}")
    try:
        image_size = int(meta["image_size"])
        num_classes = int(meta["num_classes"])
    except (TypeError, ValueError) as exc:
        raise RunDirError(
            f"model.json: image_size and num_classes must be integers ({exc})"
        ) from exc
    labels = _read_labels(path, meta)
    if image_size < 1 or num_classes < 1 or len(labels) != num_classes:
        raise RunDirError(
            f"model.json: image_size={image_size}, num_classes={num_classes} and "
            f"{len(labels)} labels are inconsistent"
        )
    input_name = str(meta.get("input_name", "image"))
    if input_name != "image":
        raise RunDirError(f"model.json: input_name is {input_name!r}; the contract needs 'image'")
    return RunInfo(
        path=path,
        model_path=model_path,
        image_size=image_size,
        num_classes=num_classes,
        labels=labels,
        input_name=input_name,
        backbone=str(meta.get("backbone", "unknown")),
        meta=meta,
    )


def load_keras_model(run: RunInfo, trust_model: bool = False) -> Any:
    """Load the run's Keras model and check its I/O shapes.

    By default with ``safe_mode=True``: a model holding Python code (a ``Lambda`` layer, a
    pickled function) is refused with a one-line ``RunDirError`` naming ``--trust-model``.
    ``trust_model`` loads with ``safe_mode=False``, which runs that code: only for models
    from a trusted source. A TF-Hub run (``model.json`` ``backbone`` ``hub:...`` or
    ``hub_modules``) loads through :func:`exporter.hub_load.load_hub_model`: its TFSMLayer
    may load only the SavedModels ``model.json`` lists, and no Python code is allowed.
    """
    import keras

    from exporter.hub_load import is_hub_run, load_hub_model

    try:
        if is_hub_run(run.meta) and not trust_model:
            model = load_hub_model(run.model_path, run.meta)
        else:
            model = keras.saving.load_model(run.model_path, safe_mode=not trust_model,
                                            compile=False)
    except RunDirError:
        raise
    except Exception as exc:  # Keras raises many types; the user needs one line
        text = str(exc).strip()
        if not trust_model and "safe_mode" in text:
            raise RunDirError(
                f"refusing to load {run.model_path}: it contains Python code (e.g. a Lambda "
                "layer) that Keras safe mode does not run; if you trust where the model comes "
                "from, pass --trust-model to load it with safe_mode=False"
            ) from exc
        first = text.splitlines()[0] if text else type(exc).__name__
        raise RunDirError(f"cannot load {run.model_path}: {first}") from exc
    in_shape = tuple(model.inputs[0].shape[1:])
    out_shape = tuple(model.outputs[0].shape[1:])
    expected_in = (run.image_size, run.image_size, 3)
    if in_shape != expected_in or out_shape != (run.num_classes,):
        raise RunDirError(
            f"{run.model_path.name} maps {in_shape} -> {out_shape}; model.json promises "
            f"{expected_in} -> ({run.num_classes},)"
        )
    return model
