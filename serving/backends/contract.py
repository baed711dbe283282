"""The exporter's serving contract, reproduced in numpy for the ONNX and TFLite backends.

``export_report.json``'s ``contract`` block (docs/contracts.md section 2) says which file to
load and which outputs it has. Around a model that only maps ``image`` float32 ``[N,S,S,3]``
to ``probabilities`` ``[N,C]``, this module builds what the exporter's SavedModel offers:
``serve_raw`` (uint8 images, contract resize), ``serve_bytes`` (JPEG/PNG/GIF/BMP bytes;
PNG/GIF/BMP decoded by PIL, which matches ``tf.io.decode_image`` exactly; JPEG by TensorFlow's
decoder, because PIL's DCT differs from it),
``classify`` (tf.Example with ``image/encoded``) and the ``top_k_*`` heads.
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serving.codecs.resize import resize_bilinear
from serving.errors import FailedPrecondition, InvalidArgument

__all__ = [
    "Contract",
    "read_contract",
    "decode_images",
    "encoded_from_examples",
    "top_k_heads",
]

_DECODABLE = {"JPEG", "PNG", "GIF", "BMP"}  # what tf.io.decode_image accepts
_UNKNOWN_FORMAT = "Unknown image file format. One of JPEG, PNG, GIF, BMP required."


@dataclass(frozen=True)
class Contract:
    """What the serving backends need from ``export_report.json``'s ``contract`` block."""

    image_size: int
    num_classes: int
    top_k: int
    input_name: str
    labels: tuple[str, ...]
    model_file: str
    outputs: tuple[str, ...]


def read_contract(version_dir: Path, fmt: str) -> Contract | None:
    """The contract for ``fmt`` ("onnx" or "tflite"), or None when the directory has no
    ``export_report.json`` with a ``contract`` block (a plain model file)."""
    report_path = version_dir / "export_report.json"
    if not report_path.is_file():
        return None
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FailedPrecondition(f"cannot read {report_path.name}: {exc}") from None
    block = report.get("contract") if isinstance(report, dict) else None
    if not isinstance(block, dict):
        return None
    try:
        per_format = block.get(fmt) or {}
        labels_path = version_dir / str(block.get("labels_file", "labels.txt"))
        labels = tuple(
            line.strip()
            for line in labels_path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        )
        contract = Contract(
            image_size=int(block["image_size"]),
            num_classes=int(block["num_classes"]),
            top_k=min(int(block.get("top_k", 5)), int(block["num_classes"])),
            input_name=str(block.get("input_name", "image")),
            labels=labels,
            model_file=str(per_format.get("file", f"model.{fmt}")),
            outputs=tuple(per_format.get("outputs", ["probabilities"])),
        )
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise FailedPrecondition(f"invalid contract block in {report_path.name}: {exc}") from None
    if len(contract.labels) != contract.num_classes:
        raise FailedPrecondition(
            f"{labels_path.name} has {len(contract.labels)} labels but the contract says "
            f"num_classes={contract.num_classes}"
        )
    if "probabilities" not in contract.outputs:
        raise FailedPrecondition(f"the {fmt} contract lists no 'probabilities' output")
    return contract


def _decode_jpeg_like_tf(data: bytes) -> np.ndarray:
    """JPEG through TensorFlow's decoder: the SavedModel's ``decode_image`` uses libjpeg's
    fast integer DCT, while PIL uses the accurate one (pixels differ by up to ~13 levels)."""
    import tensorflow as tf

    try:
        return tf.io.decode_jpeg(data, channels=3).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as exc:
        message = (exc.message or "").strip().splitlines() or [_UNKNOWN_FORMAT]
        raise InvalidArgument(message[0]) from None


def _decode_one(data: bytes, size: int) -> np.ndarray:
    if data[:3] == b"\xff\xd8\xff":
        return resize_bilinear(_decode_jpeg_like_tf(data), size)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in _DECODABLE:
                raise InvalidArgument(_UNKNOWN_FORMAT)
            rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InvalidArgument(_UNKNOWN_FORMAT) from None
    return resize_bilinear(rgb, size)


def decode_images(encoded: np.ndarray, size: int) -> np.ndarray:
    """Decode a ``[N]`` batch of encoded images to float32 ``[N,S,S,3]`` (contract resize)."""
    batch = [_decode_one(bytes(item), size) for item in encoded.reshape(-1)]
    if not batch:
        return np.zeros((0, size, size, 3), np.float32)
    return np.stack(batch)


def encoded_from_examples(serialized: np.ndarray, feature: str = "image/encoded") -> np.ndarray:
    """Pull the single bytes value of ``feature`` out of each serialized tf.Example."""
    from google.protobuf.message import DecodeError

    from common import wire

    values = []
    for item in serialized.reshape(-1):
        example = wire.Example()
        try:
            example.ParseFromString(bytes(item))
        except DecodeError:
            raise InvalidArgument(
                f"Could not parse example input, value: '{bytes(item)[:64]!r}'"
            ) from None
        feat = example.features.feature.get(feature)
        if feat is None or feat.WhichOneof("kind") is None:
            raise InvalidArgument(
                f"Feature: {feature} (data type: string) is required but could not be found."
            )
        if feat.WhichOneof("kind") != "bytes_list":
            raise InvalidArgument(
                f"Data types don't match. Expected type: string, Feature is: "
                f"{feat.WhichOneof('kind')}"
            )
        if len(feat.bytes_list.value) != 1:
            raise InvalidArgument(
                f"Key: {feature}.  Can't parse serialized Example: expected 1 value, got "
                f"{len(feat.bytes_list.value)}"
            )
        values.append(feat.bytes_list.value[0])
    return np.array(values, dtype=object).reshape(serialized.shape)


@functools.lru_cache(maxsize=64)
def _label_array(labels: tuple[str, ...]) -> np.ndarray:
    return np.array([label.encode("utf-8") for label in labels], dtype=object)


def top_k_heads(probabilities: np.ndarray, contract: Contract) -> dict[str, np.ndarray]:
    """The four predict outputs from probabilities, with ``tf.math.top_k``'s tie order."""
    probs = np.asarray(probabilities, dtype=np.float32)
    ids = np.argsort(-probs, axis=1, kind="stable")[:, : contract.top_k]
    rows = _rows(probs.shape[0])
    return {
        "probabilities": probs,
        "top_k_scores": probs[rows, ids],
        "top_k_ids": ids.astype(np.int64),
        "top_k_classes": _label_array(contract.labels)[ids],
    }


@functools.lru_cache(maxsize=256)
def _rows(n: int) -> np.ndarray:
    return np.arange(n)[:, None]
