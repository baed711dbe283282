"""ONNX conversion of the ``serving_default`` signature (tf2onnx) and an onnxruntime runner.

The ONNX graph keeps the contract names: input ``image`` float32 ``[N, S, S, 3]`` (NHWC,
pixels 0..255) and outputs ``probabilities``, ``top_k_scores``, ``top_k_classes`` (string),
``top_k_ids`` (int64). Labels and the input contract are stored in ``metadata_props``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from exporter.errors import ConversionError
from exporter.signatures import IMAGE_KEY


def _failing_ops(message: str) -> list[str]:
    found = re.findall(r"(?:op|Op|type)[ =:]+'?([A-Z][A-Za-z0-9_]+)'?", message)
    return sorted(set(found))


def _unconverted_ops(model_proto: Any) -> list[str]:
    """TensorFlow ops tf2onnx could not translate (it logs them and leaves them in the graph
    under their TensorFlow name, where no ONNX runtime can run them)."""
    import onnx

    def unknown(node: Any) -> bool:
        if node.domain == "tf":
            return True
        return node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type)

    return sorted({node.op_type for node in model_proto.graph.node if unknown(node)})


def convert_onnx(
    savedmodel_dir: Path, image_size: int, opset: int, metadata: dict[str, str]
) -> bytes:
    """Convert ``serving_default`` of the SavedModel to a serialized ONNX model whose
    ``metadata_props`` hold ``metadata``. Raises ``ConversionError`` on failure."""
    import tensorflow as tf
    import tf2onnx

    loaded = tf.saved_model.load(str(savedmodel_dir))
    signature = loaded.signatures["serving_default"]
    spec = [tf.TensorSpec([None, image_size, image_size, 3], tf.float32, name=IMAGE_KEY)]

    @tf.function(input_signature=spec)
    def serving_default(image: Any) -> dict[str, Any]:
        return signature(image=image)

    try:
        model_proto, _ = tf2onnx.convert.from_function(
            serving_default, input_signature=spec, opset=opset
        )
    except Exception as exc:  # tf2onnx raises plain exceptions with the op in the text
        text = str(exc)
        ops = _failing_ops(text)
        where = f" (op: {', '.join(ops)})" if ops else ""
        first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
        raise ConversionError(f"ONNX conversion (opset {opset}) failed{where}: {first}") from exc
    unconverted = _unconverted_ops(model_proto)
    if unconverted:
        raise ConversionError(
            f"ONNX conversion (opset {opset}) failed: unsupported op: {', '.join(unconverted)}"
        )
    for key, value in metadata.items():
        prop = model_proto.metadata_props.add()
        prop.key, prop.value = key, value
    model_proto.producer_name = "exporter (tf2onnx)"
    return model_proto.SerializeToString()


def onnx_metadata(
    labels: tuple[str, ...], image_size: int, top_k: int, backbone: str
) -> dict[str, str]:
    """The ``metadata_props`` entries: labels as JSON plus the input contract."""
    return {
        "labels": json.dumps(list(labels)),
        "image_size": str(image_size),
        "top_k": str(top_k),
        "input_name": IMAGE_KEY,
        "input_layout": "NHWC",
        "input_range": "[0, 255]",
        "color_order": "RGB",
        "resize": "bilinear, half_pixel_centers, no antialias",
        "backbone": backbone,
    }


class OnnxRunner:
    """Runs an ONNX file with onnxruntime (CPU)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.output_names = [o.name for o in self._session.get_outputs()]

    def outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """All outputs for float32 pixels ``x`` ``(N, S, S, 3)``."""
        values = self._session.run(None, {IMAGE_KEY: x.astype(np.float32)})
        return dict(zip(self.output_names, values, strict=True))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities float32 ``(N, C)``."""
        return self._session.run(["probabilities"], {IMAGE_KEY: x.astype(np.float32)})[0]

    def describe(self) -> dict[str, Any]:
        """Input/output names, ONNX types, shapes and the metadata_props."""

        def one(arg: Any) -> dict[str, Any]:
            shape = [d if isinstance(d, int) else -1 for d in arg.shape]
            return {"dtype": arg.type, "shape": shape}

        meta = self._session.get_modelmeta().custom_metadata_map
        return {
            "inputs": {i.name: one(i) for i in self._session.get_inputs()},
            "outputs": {o.name: one(o) for o in self._session.get_outputs()},
            "metadata_props": dict(meta),
        }
