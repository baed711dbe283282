"""Optimizer, loss and compilation for ``trainer fit``."""

from __future__ import annotations

from typing import Any

from trainer.config import FitConfig

__all__ = ["make_optimizer", "compile_model", "one_hot"]


def make_optimizer(config: FitConfig, steps_per_epoch: int, *, lr: float | None = None,
                   epochs: int | None = None, accumulate: bool = True) -> Any:
    """The optimizer named by ``--optimizer`` with ``--lr`` (constant, or cosine decay over
    all ``--epochs``), ``--momentum`` (sgd), ``--weight-decay`` (decoupled, all optimizers)
    and ``--ema`` (an exponential moving average of the trainable weights, Keras'
    ``use_ema``; ``fit`` copies the average into the model when training ends).
    ``lr``/``epochs`` replace ``--lr``/``--epochs`` (phase 2 of a fine-tune). With
    ``accumulate`` and micro-batches (``--micro-batch-size``) the optimizer averages the
    gradients of ``config.accumulation`` steps per update (Keras' gradient accumulation; the
    schedule counts steps, so ``steps_per_epoch`` is in micro-batches)."""
    import keras

    rate: Any = config.lr if lr is None else lr
    if config.schedule == "cosine":
        if not (epochs or config.epochs):
            raise ValueError("a cosine schedule needs the epochs: resolve --epochs first")
        rate = keras.optimizers.schedules.CosineDecay(
            rate, decay_steps=max(1, (epochs or config.epochs) * steps_per_epoch))
    decay = config.weight_decay or None
    extra: dict[str, Any] = {"use_ema": config.ema > 0, "ema_momentum": config.ema or 0.99}
    if accumulate and config.accumulation > 1:
        extra["gradient_accumulation_steps"] = config.accumulation
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=config.momentum, weight_decay=decay, **extra)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay, **extra)
    return keras.optimizers.Adam(rate, weight_decay=decay, **extra)


def compile_model(model: Any, config: FitConfig, steps_per_epoch: int, xla: bool, *,
                  lr: float | None = None, epochs: int | None = None,
                  accumulate: bool = True) -> None:
    """Compile with categorical cross-entropy (labels arrive one-hot, so
    ``--label-smoothing`` applies) and an ``accuracy`` metric; ``lr``/``epochs`` as in
    :func:`make_optimizer`; ``accumulate=False`` for training that is not on image
    micro-batches (a head on cached features)."""
    import keras

    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch, lr=lr, epochs=epochs,
                                 accumulate=accumulate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=xla,
    )


def one_hot(dataset: Any, num_classes: int) -> Any:
    """Map ``(images, int labels)`` batches to ``(images, one-hot float32 labels)``."""
    import tensorflow as tf

    return dataset.map(lambda x, y: (x, tf.one_hot(y, num_classes, dtype=tf.float32)),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
