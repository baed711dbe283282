"""Signature maps for non-SavedModel formats, shaped like a TF2 SavedModel's.

For a contract model the map equals what the exporter's SavedModel reports, tensor names
included (TF2 names inputs ``<signature>_<alias>:0`` and outputs
``StatefulPartitionedCall[_i]:j``, ``i`` = signature position in sorted order, ``j`` =
output position in sorted alias order), plus ``__saved_model_init_op``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from serving.backends.contract import Contract
from serving.backends.signature_io import DT, TensorSpec

__all__ = ["CONTRACT_SIGNATURES", "contract_signature_specs", "signature_def_map"]

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
CONTRACT_SIGNATURES = ("classify", "serve_bytes", "serve_raw", "serving_default")


def _outputs(contract: Contract, signature: str) -> dict[str, tuple[int, tuple[int, ...]]]:
    k, c = contract.top_k, contract.num_classes
    if signature == "classify":
        return {"classes": (DT.STRING, (-1, k)), "scores": (DT.FLOAT, (-1, k))}
    return {
        "probabilities": (DT.FLOAT, (-1, c)),
        "top_k_classes": (DT.STRING, (-1, k)),
        "top_k_ids": (DT.INT64, (-1, k)),
        "top_k_scores": (DT.FLOAT, (-1, k)),
    }


def _inputs(contract: Contract, signature: str) -> dict[str, tuple[int, tuple[int, ...]]]:
    s = contract.image_size
    return {
        "serving_default": {"image": (DT.FLOAT, (-1, s, s, 3))},
        "serve_raw": {"image": (DT.UINT8, (-1, -1, -1, 3))},
        "serve_bytes": {"image_bytes": (DT.STRING, (-1,))},
        "classify": {"inputs": (DT.STRING, (-1,))},
    }[signature]


def contract_signature_specs(
    contract: Contract,
) -> dict[str, tuple[dict[str, TensorSpec], dict[str, TensorSpec]]]:
    """Per contract signature: (inputs, outputs) as ``TensorSpec`` s with TF2-style names."""
    specs = {}
    for index, signature in enumerate(CONTRACT_SIGNATURES):
        call = "StatefulPartitionedCall" + (f"_{index}" if index else "")
        inputs = {
            alias: TensorSpec(f"{signature}_{alias}:0", dtype, shape)
            for alias, (dtype, shape) in _inputs(contract, signature).items()
        }
        outputs = {
            alias: TensorSpec(f"{call}:{j}", dtype, shape)
            for j, (alias, (dtype, shape)) in enumerate(
                sorted(_outputs(contract, signature).items())
            )
        }
        specs[signature] = (inputs, outputs)
    return specs


def _tensor_info(info: Any, spec: TensorSpec) -> None:
    info.name = spec.name
    info.dtype = spec.dtype
    if spec.shape is None:
        info.tensor_shape.unknown_rank = True
    else:
        for size in spec.shape:
            info.tensor_shape.dim.add().size = size


def signature_def_map(
    signatures: Mapping[str, tuple[Mapping[str, TensorSpec], Mapping[str, TensorSpec]]],
    with_init_op: bool = True,
) -> Any:
    """Build a ``tensorflow.serving.SignatureDefMap`` from (inputs, outputs) specs."""
    from common import wire

    result = wire.SignatureDefMap()
    for name, (inputs, outputs) in signatures.items():
        signature_def = result.signature_def[name]
        signature_def.method_name = CLASSIFY_METHOD if name == "classify" else PREDICT_METHOD
        for alias, spec in inputs.items():
            _tensor_info(signature_def.inputs[alias], spec)
        for alias, spec in outputs.items():
            _tensor_info(signature_def.outputs[alias], spec)
    if with_init_op:
        init = result.signature_def["__saved_model_init_op"]
        _tensor_info(init.outputs["__saved_model_init_op"], TensorSpec("NoOp", DT.INVALID, None))
    return result
