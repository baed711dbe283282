"""Write the SavedModel of a version directory and run its ``serving_default``.

Layout: ``saved_model.pb``, ``variables/``, ``assets/labels.txt``. TF2's saver marks every
signature as a predict signature; the ``classify`` signature is re-marked with method name
``tensorflow/serving/classify`` afterwards so TF Serving's Classify API accepts it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from common.atomic import write_bytes
from exporter.signatures import CLASSIFY_METHOD, build_export_archive

SAVED_MODEL_FILE = "saved_model.pb"


def mark_classify_signature(export_dir: Path, signature: str = "classify") -> None:
    """Set ``signature``'s method name to ``tensorflow/serving/classify`` in saved_model.pb
    (rewritten through a temporary file and an atomic rename)."""
    from tensorflow.core.protobuf import saved_model_pb2

    pb_path = Path(export_dir) / SAVED_MODEL_FILE
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(pb_path.read_bytes())
    for meta_graph in proto.meta_graphs:
        if signature in meta_graph.signature_def:
            meta_graph.signature_def[signature].method_name = CLASSIFY_METHOD
    write_bytes(pb_path, proto.SerializeToString())
    refresh_fingerprint(Path(export_dir))


def refresh_fingerprint(export_dir: Path) -> None:
    """Recompute ``fingerprint.pb`` after saved_model.pb changed (its checksum covers it)."""
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

    write_bytes(export_dir / "fingerprint.pb", fingerprinting.CreateFingerprintDef(str(export_dir)))


def write_savedmodel(
    model: Any, image_size: int, labels: tuple[str, ...], top_k: int, export_dir: Path
) -> Path:
    """Write the contract SavedModel into ``export_dir`` (which may already exist and hold
    other files) and return the path of ``saved_model.pb``."""
    export_dir = Path(export_dir)
    archive = build_export_archive(model, image_size, labels, top_k)
    scratch = export_dir / ".savedmodel-write"
    archive.write_out(str(scratch), verbose=False)
    for item in scratch.iterdir():
        shutil.move(str(item), str(export_dir / item.name))
    scratch.rmdir()
    mark_classify_signature(export_dir)
    assets = export_dir / "assets"
    assets.mkdir(exist_ok=True)
    (assets / "labels.txt").write_text("\n".join(labels) + "\n")
    return export_dir / SAVED_MODEL_FILE


class SavedModelRunner:
    """Runs the ``serving_default`` signature of a SavedModel on float32 images."""

    def __init__(self, export_dir: Path) -> None:
        import tensorflow as tf

        self._tf = tf
        self._loaded = tf.saved_model.load(str(export_dir))
        self._fn = self._loaded.signatures["serving_default"]

    def outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """All outputs of ``serving_default`` for ``x`` float32 ``(N, S, S, 3)``."""
        result = self._fn(image=self._tf.constant(x, dtype=self._tf.float32))
        return {name: value.numpy() for name, value in result.items()}

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities float32 ``(N, C)``."""
        return self.outputs(x)["probabilities"]

    def signature(self, name: str) -> Any:
        """A loaded signature function, e.g. ``serve_raw``."""
        return self._loaded.signatures[name]
