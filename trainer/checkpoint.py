"""Resume state in ``checkpoints/``: a full ``.keras`` model (weights + optimizer state) per
completed epoch and ``state.json``, the commit point that names it.

Write order: the model file (atomically, under a new name), then ``state.json`` (atomically),
then older model files are deleted. An interruption at any point leaves a ``state.json``
naming a complete model file. Dropout's random-generator state is not saved by Keras, so it
is kept in ``state.json`` and restored, making a resumed run repeat an uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainer.atomic import save_keras, write_json
from trainer.errors import TrainerError

__all__ = ["save_checkpoint", "load_checkpoint", "save_base", "load_base", "STATE_FILE",
           "BASE_FILE"]

STATE_FILE = "state.json"
# The full classifier as the cached-features phase starts: that phase checkpoints only the head
# (it carries the optimizer), so --resume rebuilds the classifier from this file.
BASE_FILE = "base.keras"


def _seed_variables(model: Any) -> list[Any]:
    return [v for v in model.non_trainable_variables if "seed_generator_state" in v.path]


def save_checkpoint(model: Any, directory: Path, state: dict[str, Any]) -> Path:
    """Save ``model`` and ``state`` (must hold ``epochs_done``) as the latest checkpoint."""
    name = f"epoch-{int(state['epochs_done']):04d}.keras"
    directory.mkdir(parents=True, exist_ok=True)
    save_keras(model, directory / name)
    seeds = [[int(s) for s in v.numpy().tolist()] for v in _seed_variables(model)]
    write_json(directory / STATE_FILE, {**state, "model_file": name, "seed_states": seeds})
    for old in directory.glob("epoch-*.keras"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return directory / name


def load_checkpoint(directory: Path, backbone: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The latest checkpointed model (compiled, with optimizer state) and its state
    (``backbone``: the run's, so a ``hub:`` model loads through its trusted loader)."""
    import numpy as np

    from trainer.hub import load_trainer_model

    try:
        state = json.loads((directory / STATE_FILE).read_text())
        model_path = directory / state["model_file"]
    except (OSError, ValueError, KeyError) as exc:
        raise TrainerError(f"--resume: no usable checkpoint in {directory} ({exc})") from None
    if not model_path.is_file():
        raise TrainerError(f"--resume: checkpoint file {model_path} is missing")
    model = load_trainer_model(model_path, backbone if state.get("checkpoint") != "head" else None)
    seeds = state.get("seed_states", [])
    variables = _seed_variables(model)
    if len(seeds) == len(variables):
        for var, value in zip(variables, seeds, strict=True):
            var.assign(np.asarray(value, dtype=var.dtype))
    return model, state


def save_base(model: Any, directory: Path) -> Path:
    """Save the classifier a cached-features phase trains the head of (``BASE_FILE``)."""
    directory.mkdir(parents=True, exist_ok=True)
    return save_keras(model, directory / BASE_FILE)


def load_base(directory: Path, backbone: str | None = None) -> Any:
    """The classifier saved by :func:`save_base` (uncompiled)."""
    from trainer.hub import load_trainer_model

    path = directory / BASE_FILE
    if not path.is_file():
        raise TrainerError(f"--resume: {path} is missing (needed to resume a cached phase)")
    return load_trainer_model(path, backbone, compile=False)
