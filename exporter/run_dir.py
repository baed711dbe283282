"""Read and validate a trainer run directory (docs/contracts.md section 1)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.run_contract import MODEL_JSON, ModelCard, RunContractError
from exporter.errors import RunDirError


@dataclass(frozen=True)
class RunInfo:
    """What the exporter needs to know about one run (``card`` is the parsed model.json)."""

    path: Path
    model_path: Path
    card: ModelCard

    @property
    def image_size(self) -> int:
        """Model input size S."""
        return self.card.image_size

    @property
    def num_classes(self) -> int:
        """Number of classes C."""
        return self.card.num_classes

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names, index order."""
        return self.card.labels

    @property
    def input_name(self) -> str:
        """The model's input name (always ``image``)."""
        return self.card.input_name

    @property
    def backbone(self) -> str:
        """Backbone name recorded by the trainer."""
        return self.card.backbone

    @property
    def meta(self) -> dict[str, Any]:
        """model.json as a JSON object."""
        return self.card.to_json_dict()

    @property
    def samples_path(self) -> Path:
        """``samples.npz`` of the run (may be absent)."""
        return self.path / "samples.npz"


def _read_labels(path: Path, card: ModelCard) -> None:
    labels_path = path / "labels.txt"
    if labels_path.is_file():
        from_file = [line for line in labels_path.read_text().splitlines() if line.strip()]
        if from_file != list(card.labels):
            raise RunDirError(f"{labels_path} disagrees with the labels in model.json")


def load_run_info(path: Path | str) -> RunInfo:
    """Validate ``path`` as a run directory and return its description.

    Raises ``RunDirError`` with one line saying what is missing or inconsistent.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"run directory {path} does not exist")
    if not (path / MODEL_JSON).is_file():
        raise RunDirError(f"{path} is not a run directory: model.json is missing")
    try:
        card = ModelCard.read(path)
    except RunContractError as exc:
        raise RunDirError(str(exc)) from None
    model_path = path / card.model_file
    if not model_path.is_file():
        raise RunDirError(f"{path} has no model file {model_path.name}")
    _read_labels(path, card)
    return RunInfo(path=path, model_path=model_path, card=card)


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
