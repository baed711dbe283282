"""What a client needs to know about a served model, read from the metadata API.

Both transports hand this module the signature map as a JSON-shaped dict (REST gives it
directly; gRPC converts ``SignatureDefMap`` with ``MessageToDict``), so the parsing, and the
input size the client resizes to, are the same for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clients.errors import MalformedResponse, SignatureError

__all__ = ["TensorInfo", "Signature", "ModelInfo", "parse_model_info"]


@dataclass(frozen=True)
class TensorInfo:
    """One signature input or output: dtype name (``DT_FLOAT``) and shape (-1 = unknown;
    ``None`` = unknown rank)."""

    dtype: str
    shape: tuple[int, ...] | None


@dataclass(frozen=True)
class Signature:
    """Inputs and outputs of one SignatureDef, keyed by alias."""

    name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]

    def single_input(self) -> str:
        """The alias of the only input; a ``SignatureError`` if there are several."""
        if len(self.inputs) != 1:
            raise SignatureError(
                f"signature {self.name!r} has inputs {sorted(self.inputs)}; a client mode "
                "needs exactly one image input"
            )
        return next(iter(self.inputs))


@dataclass(frozen=True)
class ModelInfo:
    """The served version and its signatures (``__saved_model_init_op`` dropped)."""

    name: str
    version: int | None
    signatures: dict[str, Signature] = field(default_factory=dict)

    def signature(self, name: str) -> Signature:
        """The named signature, or a ``SignatureError`` listing what the model has."""
        if name not in self.signatures:
            raise SignatureError(
                f"model {self.name!r} has no signature {name!r}; it has {sorted(self.signatures)}"
            )
        return self.signatures[name]

    def image_size(self, signature: str = "serving_default") -> tuple[int, int]:
        """(H, W) of the image input of ``signature`` (shape ``[-1, H, W, C]``)."""
        sig = self.signature(signature)
        shape = sig.inputs[sig.single_input()].shape
        if shape is None or len(shape) != 4 or shape[1] <= 0 or shape[2] <= 0:
            raise SignatureError(
                f"signature {signature!r} input shape is {shape}; client-resize needs "
                "[-1, S, S, 3] with a fixed S"
            )
        return shape[1], shape[2]

    def top_k(self, signature: str = "serving_default") -> int | None:
        """K of the server's ``top_k_ids`` output, when the signature has one with fixed K."""
        info = self.signature(signature).outputs.get("top_k_ids")
        if info is None or info.shape is None or len(info.shape) != 2 or info.shape[1] < 0:
            return None
        return info.shape[1]


def _tensor_info(raw: dict[str, Any]) -> TensorInfo:
    shape_raw = raw.get("tensor_shape", {})
    if shape_raw.get("unknown_rank", False):
        shape = None
    else:
        shape = tuple(int(d.get("size", 0)) for d in shape_raw.get("dim", []))
    return TensorInfo(dtype=str(raw.get("dtype", "DT_INVALID")), shape=shape)


def parse_model_info(response: dict[str, Any]) -> ModelInfo:
    """Parse a TF Serving metadata answer (the REST JSON layout, section 1.2 of the API)."""
    try:
        spec = response.get("model_spec", {})
        sig_map = response["metadata"]["signature_def"]["signature_def"]
        signatures = {}
        for name, raw in sig_map.items():
            if name.startswith("__"):
                continue
            signatures[name] = Signature(
                name=name,
                inputs={k: _tensor_info(v) for k, v in raw.get("inputs", {}).items()},
                outputs={k: _tensor_info(v) for k, v in raw.get("outputs", {}).items()},
            )
        version = spec.get("version")
        return ModelInfo(
            name=str(spec.get("name", "")),
            version=int(version) if version not in (None, "") else None,
            signatures=signatures,
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise MalformedResponse(f"metadata answer is not TF Serving's layout: {exc!r}") from exc
