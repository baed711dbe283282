"""Float-equivalent rewrites for the int8 conversion (``exporter.int8_graph``)."""

from __future__ import annotations

import numpy as np
import pytest

from exporter.int8_graph import rescaling_as_depthwise

keras = pytest.importorskip("keras")


def _model(nested: bool, scale, offset) -> keras.Model:
    inputs = keras.Input((6, 6, 3), name="image")
    if nested:
        inner_in = keras.Input((6, 6, 3))
        x = keras.layers.Rescaling(scale, offset=offset, name="inner_scale")(inner_in)
        x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(x)
        x = keras.Model(inner_in, x, name="backbone")(inputs)
    else:
        x = keras.layers.Rescaling(scale, offset=offset, name="scale")(inputs)
        x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    features = keras.layers.Rescaling(2.0, name="features_scale")(x)  # 2-D: left alone
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(features))


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
@pytest.mark.parametrize("scale,offset", [(1 / 127.5, -1.0), ([0.01, 0.02, 0.03], [-1, 0, 1])],
                         ids=["scalar", "per-channel"])
def test_rescaling_becomes_an_equivalent_depthwise_conv(nested, scale, offset) -> None:
    model = _model(nested, scale, offset)
    copy, replaced = rescaling_as_depthwise(model)
    assert replaced == 1
    kinds = {type(layer).__name__ for layer in
             (copy.get_layer("backbone").layers if nested else copy.layers)}
    assert "DepthwiseConv2D" in kinds and ("Rescaling" not in kinds or not nested)
    x = np.random.default_rng(0).uniform(0, 255, (8, 6, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert isinstance(copy.get_layer("features_scale"), keras.layers.Rescaling)
