"""Build a tiny trainer-style run directory (docs/contracts.md section 1) without the trainer.

The model uses built-in Keras layers only, takes ``image`` float32 ``(S, S, 3)`` in 0..255 and
ends in a softmax, and is trained for a few steps on generated, learnable data so that its
predictions are neither uniform nor random.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LABELS = ["red", "green", "blue", "dark"]


def make_images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` uint8 RGB images whose class is their dominant colour (or darkness)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(LABELS), size=n).astype(np.int64)
    x = rng.integers(0, 90, size=(n, size, size, 3)).astype(np.int16)
    for i, label in enumerate(y):
        if label < 3:
            x[i, ..., label] += rng.integers(60, 165)
        else:
            x[i] //= 3
    # a little structure so the convolution has edges to look at
    x[:, : size // 2, : size // 2] += rng.integers(0, 40, size=(n, 1, 1, 3))
    return np.clip(x, 0, 255).astype(np.uint8), y


def build_model(image_size: int, num_classes: int):
    """Rescaling -> Conv -> GlobalAveragePooling -> Dense(softmax), input named ``image``."""
    import keras

    inputs = keras.Input((image_size, image_size, 3), dtype="float32", name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.1)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="tiny")


def save_hub_module(path: Path) -> Path:
    """A TF2 SavedModel shaped like a TF-Hub image feature vector: ``__call__`` maps float32
    ``[None, H, W, 3]`` in 0..1 to ``[None, 12]`` (per-channel statistics times a fixed
    matrix). No download: the tests build it."""
    import tensorflow as tf

    class FeatureVector(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            w = np.random.default_rng(0).normal(size=(9, 12)).astype("float32")
            self.w = tf.Variable(w)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def __call__(self, images):
            stats = tf.concat([tf.reduce_mean(images, [1, 2]), tf.reduce_max(images, [1, 2]),
                               tf.math.reduce_std(images, [1, 2])], axis=1)
            return tf.nn.relu(tf.matmul(stats * 4.0, self.w))

    tf.saved_model.save(FeatureVector(), str(path))
    return path


def build_hub_model(image_size: int, num_classes: int, module: Path):
    """What ``trainer fit --backbone hub:PATH`` builds: Rescaling(1/255) -> TFSMLayer (frozen)
    -> Dense(softmax), input named ``image``."""
    import keras

    inputs = keras.Input((image_size, image_size, 3), dtype="float32", name="image")
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.TFSMLayer(str(module), call_endpoint="__call__", trainable=False,
                               name="hub_module")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="hub_tiny")


def write_run_dir(
    run_dir: Path,
    image_size: int = 32,
    sample_size: int | None = None,
    n_val: int = 64,
    n_calib: int = 64,
    steps: int = 60,
    seed: int = 0,
    hub_module: Path | None = None,
) -> Path:
    """Train the tiny model briefly and write a complete run directory at ``run_dir``.

    ``sample_size`` is the stored size of the sample images (default: ``image_size``); a
    different value mimics a data source whose images the model resizes (e.g. CIFAR 32 px).
    ``hub_module`` (a :func:`save_hub_module` directory) makes it a TF-Hub run as the trainer
    writes it: a TFSMLayer backbone, ``backbone: hub:PATH`` and ``hub_modules`` in model.json.
    """
    import keras

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    stored = sample_size or image_size
    x_train, y_train = make_images(steps * 16, image_size, seed)
    if hub_module is None:
        model = build_model(image_size, len(LABELS))
    else:
        model = build_hub_model(image_size, len(LABELS), hub_module)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x_train.astype("float32"), y_train, batch_size=16, epochs=1, verbose=0)
    model.save(run_dir / "model.keras")
    model.save(run_dir / "best.keras")
    x_val, y_val = make_images(n_val, stored, seed + 1)
    x_calib, _ = make_images(n_calib, stored, seed + 2)
    np.savez(run_dir / "samples.npz", x_val=x_val, y_val=y_val, x_calib=x_calib)
    (run_dir / "labels.txt").write_text("\n".join(LABELS) + "\n")
    meta = {
        "format_version": 1,
        "model_file": "model.keras",
        "backbone": "tiny",
        "image_size": image_size,
        "input_name": "image",
        "input_dtype": "float32",
        "input_range": [0, 255],
        "color_order": "RGB",
        "resize": {"method": "bilinear", "half_pixel_centers": True, "antialias": False},
        "preprocessing": "scale to [-1, 1] (inside the model)",
        "num_classes": len(LABELS),
        "labels": LABELS,
        "output": "probabilities",
    }
    if hub_module is not None:
        meta["backbone"] = f"hub:{hub_module}"
        meta["hub_modules"] = [str(Path(hub_module).resolve())]
        meta["preprocessing"] = "scale to [0, 1] (inside the model)"
    (run_dir / "model.json").write_text(json.dumps(meta, indent=2))
    return run_dir
