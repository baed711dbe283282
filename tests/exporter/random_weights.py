"""Random weights for the tiny int8-preparation test models."""

from __future__ import annotations

from typing import Any

import numpy as np


def randomize(model: Any, std: float, seed: int = 0) -> Any:
    """Set every weight of ``model`` at random: BatchNormalization gammas and moving
    variances uniform in 0.5..2 (kept positive), everything else normal(0, ``std``).
    Returns ``model``."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.weights:
        shape = tuple(w.shape)
        if "moving_variance" in w.path or "gamma" in w.path:
            weights.append(rng.uniform(0.5, 2.0, shape).astype(np.float32))
        else:
            weights.append(rng.normal(0, std, shape).astype(np.float32))
    model.set_weights(weights)
    return model
