"""TF Serving warmup records: ``assets.extra/tf_serving_warmup_requests``.

A TFRecord file of ``tensorflow.serving.PredictionLog`` entries (``common.wire``, the
project's declared schema), each holding a real ``PredictRequest`` for ``serving_default``;
TF Serving replays them when started with ``--enable_model_warmup`` before it marks the
version available.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from exporter.signatures import IMAGE_KEY

WARMUP_RELPATH = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000  # TF Serving reads at most this many


def build_requests(images: np.ndarray, model_name: str, count: int) -> list[Any]:
    """``count`` single-image requests plus one batched request, as ``PredictionLog``s."""
    import tensorflow as tf

    from common import wire

    count = max(1, min(count, len(images), MAX_WARMUP_RECORDS - 1))
    batches = [images[i : i + 1] for i in range(count)] + [images[:count]]
    logs = []
    for batch in batches:
        log = wire.PredictionLog()
        request = log.predict_log.request
        request.model_spec.name = model_name
        request.model_spec.signature_name = "serving_default"
        # TensorFlow's TensorProto class is not ours: carry it over as bytes
        tensor = tf.make_tensor_proto(batch.astype(np.float32))
        request.inputs[IMAGE_KEY].ParseFromString(tensor.SerializeToString())
        logs.append(log)
    return logs


def write_warmup(export_dir: Path, images: np.ndarray, model_name: str, count: int = 8) -> Path:
    """Write the warmup TFRecord under ``export_dir`` and return its path."""
    import tensorflow as tf

    path = Path(export_dir) / WARMUP_RELPATH
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in build_requests(images, model_name, count):
            writer.write(log.SerializeToString())
    return path


def read_warmup(path: Path) -> list[Any]:
    """Parse a warmup file back into ``PredictionLog`` messages."""
    import tensorflow as tf

    from common import wire

    logs = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = wire.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    return logs
