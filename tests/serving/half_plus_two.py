"""Hand-written SavedModels in the style of TF Serving's test models: y = 0.5 * x + offset.

Signatures (as TF Serving's ``saved_model_half_plus_two`` test data has them):
- ``serving_default``: ``x`` float32 of unknown rank -> ``y`` (TF Serving feeds shapes as-is);
- ``classify_x_to_y``: ``inputs`` serialized tf.Example with float feature ``x`` -> ``scores``;
- ``regress_x_to_y``: same input -> ``outputs`` ``[batch]``.
"""

from __future__ import annotations

from pathlib import Path


def write_half_plus(base_path: Path, version: int, offset: float = 2.0) -> Path:
    """Write ``base_path/version`` as a SavedModel computing ``0.5 * x + offset``."""
    import tensorflow as tf

    class HalfPlus(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(0.5, name="a")
            self.b = tf.Variable(float(offset), name="b")

        @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="x")])
        def predict(self, x):
            return {"y": self.a * x + self.b}

        def _parse(self, serialized):
            features = tf.io.parse_example(
                serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)}
            )
            return self.a * features["x"] + self.b

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs):
            return {"scores": self._parse(inputs)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs):
            return {"outputs": tf.squeeze(self._parse(inputs), axis=1)}

    module = HalfPlus()
    target = Path(base_path) / str(version)
    tf.saved_model.save(
        module,
        str(target),
        signatures={
            "serving_default": module.predict,
            "classify_x_to_y": module.classify,
            "regress_x_to_y": module.regress,
        },
    )
    return target
