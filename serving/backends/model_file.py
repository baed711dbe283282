"""Shared logic of the single-file backends (ONNX, TFLite).

A subclass opens one model file and runs it by alias (``_open``, ``_model_io``, ``_run``).
This class turns that into the exporter's four contract signatures when the version
directory has a contract block, or into a lone ``serving_default`` with the model's own
input/output names otherwise.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from serving.backends.base import Backend
from serving.backends.contract import (
    Contract,
    decode_images,
    encoded_from_examples,
    read_contract,
    top_k_heads,
)
from serving.backends.signature_io import (
    SignatureSpec,
    TensorSpec,
    check_request,
    select_outputs,
)
from serving.backends.synthetic_signatures import contract_signature_specs, signature_def_map
from serving.codecs.resize import resize_bilinear
from serving.errors import FailedPrecondition, InvalidArgument, NotFound

__all__ = ["ModelFileBackend"]


class ModelFileBackend(Backend):
    """A backend serving ``model.<format>`` from a version directory."""

    file_format: ClassVar[str]  # "onnx" | "tflite": the contract key and default extension

    def __init__(self) -> None:
        self._contract: Contract | None = None
        self._specs: dict[str, SignatureSpec] = {}
        self._signature_defs: Any = None
        self._loaded = False
        self._served_file: str | None = None

    @abstractmethod
    def _open(self, path: Path) -> None:
        """Open the model file; raise on a corrupt one."""

    @abstractmethod
    def _model_io(self) -> tuple[dict[str, TensorSpec], dict[str, TensorSpec]]:
        """The model's own inputs and outputs keyed by the aliases ``_run`` understands."""

    @abstractmethod
    def _run(self, feeds: Mapping[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]:
        """Run the model on ``feeds`` (by alias) and return ``outputs`` (by alias), in order."""

    def _model_file(self, contract: Contract | None) -> str:
        """The file this backend serves from a version directory."""
        return contract.model_file if contract else f"model.{self.file_format}"

    @property
    def served_file(self) -> str | None:
        """Name of the loaded model file (None before ``load``)."""
        return self._served_file

    def load(self, version_dir: Path) -> None:
        """Read the contract (if any), open the model file and build the signature map."""
        version_dir = Path(version_dir)
        contract = read_contract(version_dir, self.file_format)
        path = version_dir / self._model_file(contract)
        if not path.is_file():
            raise NotFound(f"{path.name} not found in version directory {version_dir}")
        try:
            self._open(path)
        except (FailedPrecondition, InvalidArgument):
            raise
        except Exception as exc:  # runtimes raise their own types for corrupt files
            message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise FailedPrecondition(f"cannot load {path.name}: {message}") from exc
        inputs, outputs = self._model_io()
        if contract is not None:
            if contract.input_name not in inputs or "probabilities" not in outputs:
                raise FailedPrecondition(
                    f"{path.name} must have input {contract.input_name!r} and output "
                    f"'probabilities'; it has inputs {sorted(inputs)} and outputs {sorted(outputs)}"
                )
            specs = contract_signature_specs(contract)
            self._signature_defs = signature_def_map(specs, with_init_op=True)
        else:
            specs = {"serving_default": (inputs, outputs)}
            self._signature_defs = signature_def_map(specs, with_init_op=False)
        self._specs = {name: SignatureSpec(dict(i), dict(o)) for name, (i, o) in specs.items()}
        self._contract = contract
        self._served_file = path.name
        self._loaded = True

    def signature_defs(self) -> Any:
        """The synthesised signature map (equal to the exporter's SavedModel map)."""
        return self._signature_defs

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """Run one signature with the same checks and messages as the SavedModel backend."""
        if not self._loaded:
            raise FailedPrecondition("model version is unloaded")
        spec = check_request(self._specs, signature_name, inputs)
        wanted = select_outputs(spec, output_filter)
        contract = self._contract
        if contract is None:
            return dict(zip(wanted, self._run(inputs, wanted), strict=True))
        outputs = self._contract_outputs(contract, signature_name or "serving_default", inputs)
        return {alias: outputs[alias] for alias in wanted}

    def _contract_outputs(
        self, contract: Contract, signature: str, inputs: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        size = contract.image_size
        try:
            if signature == "serve_raw":
                images = resize_bilinear(inputs["image"], size)
            elif signature == "serve_bytes":
                images = decode_images(inputs["image_bytes"], size)
            elif signature == "classify":
                images = decode_images(encoded_from_examples(inputs["inputs"]), size)
            else:
                images = inputs["image"]
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        if images.shape[0] == 0:
            probs = np.zeros((0, contract.num_classes), np.float32)
        else:
            probs = self._run({contract.input_name: images}, ["probabilities"])[0]
        heads = top_k_heads(probs, contract)
        if signature == "classify":
            return {"classes": heads["top_k_classes"], "scores": heads["top_k_scores"]}
        return heads

    def unload(self) -> None:
        """Mark unloaded; subclasses drop their runtime objects."""
        self._loaded = False
