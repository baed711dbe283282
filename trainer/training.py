"""Optimizer, loss and compilation for ``trainer fit``."""

from __future__ import annotations

from typing import Any

from trainer.config import FitConfig

__all__ = ["make_optimizer", "compile_model", "one_hot"]


def make_optimizer(config: FitConfig, steps_per_epoch: int) -> Any:
    """The optimizer named by ``--optimizer`` with ``--lr`` (constant, or cosine decay over all
    ``--epochs``), ``--momentum`` (sgd) and ``--weight-decay`` (decoupled, all optimizers)."""
    import keras

    lr: Any = config.lr
    if config.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            config.lr, decay_steps=max(1, config.epochs * steps_per_epoch))
    decay = config.weight_decay or None
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=config.momentum, weight_decay=decay)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(lr, weight_decay=decay)


def compile_model(model: Any, config: FitConfig, steps_per_epoch: int, xla: bool) -> None:
    """Compile with categorical cross-entropy (labels arrive one-hot, so
    ``--label-smoothing`` applies) and an ``accuracy`` metric."""
    import keras

    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=xla,
    )


def one_hot(dataset: Any, num_classes: int) -> Any:
    """Map ``(images, int labels)`` batches to ``(images, one-hot float32 labels)``."""
    import tensorflow as tf

    return dataset.map(lambda x, y: (x, tf.one_hot(y, num_classes, dtype=tf.float32)),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
