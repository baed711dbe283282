"""``--strategy multi-worker``: ``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``.

Every worker runs the same ``trainer fit`` command; ``TF_CONFIG`` tells each its place in the
cluster. The chief (task ``chief``, or ``worker`` 0 when the cluster has no ``chief``) writes
the run directory; the other workers write theirs into a private temporary directory that is
deleted at the end, so they write nothing shared (and use no shared feature cache).

Keras 3's ``Model.fit``/``evaluate`` cannot run under this strategy (the distributed batches
reach the train function as ``PerReplica`` values and fail to convert; keras-team/keras#20585,
reproduced here with Keras 3.15), so image phases under it train with :func:`fit_multi_worker`,
a small custom loop: ``strategy.run`` of a gradient step on the distributed dataset (gradients
are all-reduced across workers, so every worker applies the same update), then a local pass
over the validation set, with the same callbacks ``Model.fit`` would call.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainer.config import FitConfig
from trainer.errors import TrainerError

log = logging.getLogger(__name__)

__all__ = ["cluster_role", "prepare_worker", "fit_multi_worker", "evaluate_local"]


def cluster_role(env: dict[str, str] | None = None) -> tuple[bool, str]:
    """``(is_chief, "type:index")`` of this process from ``TF_CONFIG``; a missing or malformed
    ``TF_CONFIG`` is a one-line TrainerError."""
    text = (env if env is not None else os.environ).get("TF_CONFIG", "")
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        kind, index = str(task["type"]), int(task["index"])
    except (ValueError, KeyError, TypeError):
        raise TrainerError("--strategy multi-worker needs TF_CONFIG (JSON with 'cluster' and "
                           "'task'), e.g. {\"cluster\": {\"worker\": [\"host1:port\", "
                           "\"host2:port\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}"
                           ) from None
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
    return chief, f"{kind}:{index}"


def prepare_worker(config: FitConfig, resume: bool) -> tuple[FitConfig, Path | None, str]:
    """The config this process trains with under ``--strategy multi-worker``, the private
    scratch directory of a non-chief worker (delete it after the run; None for the chief)
    and the process's role. No feature cache (it would be shared); no ``--resume``."""
    if resume:
        raise TrainerError("--resume is not supported with --strategy multi-worker")
    if config.cache_features:
        raise TrainerError("--cache-features is not supported with --strategy multi-worker "
                           "(workers would share the cache); leave it off")
    chief, role = cluster_role()
    config = config.model_copy(update={"cache_features": False})
    if chief:
        log.info("multi-worker: %s is the chief and writes %s", role, config.out)
        return config, None, role
    scratch = Path(tempfile.mkdtemp(prefix="trainer-worker-"))
    log.info("multi-worker: %s writes only to its scratch directory %s", role, scratch)
    return config.model_copy(update={"out": str(scratch / "run")}), scratch, role


def evaluate_local(model: Any, dataset: Any, label_smoothing: float = 0.0) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of ``model`` (inference mode) over one-hot batches."""
    import keras

    losses, correct, count = 0.0, 0.0, 0
    for x, y in dataset:
        probs = model(x, training=False)
        per = keras.losses.categorical_crossentropy(y, probs, label_smoothing=label_smoothing)
        losses += float(np.sum(np.asarray(per)))
        correct += float(np.sum(np.argmax(np.asarray(probs), 1) == np.argmax(np.asarray(y), 1)))
        count += int(np.asarray(y).shape[0])
    return losses / max(count, 1), correct / max(count, 1)


def _train_step(model: Any, strategy: Any, label_smoothing: float) -> Any:
    import keras
    import tensorflow as tf

    optimizer = model.optimizer

    def replica_step(x: Any, y: Any) -> tuple[Any, Any, Any]:
        with tf.GradientTape() as tape:
            probs = model(x, training=True)
            per = keras.losses.categorical_crossentropy(y, probs,
                                                        label_smoothing=label_smoothing)
            loss = tf.nn.compute_average_loss(per)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        hits = tf.cast(tf.equal(tf.argmax(probs, 1), tf.argmax(y, 1)), tf.float32)
        return tf.reduce_sum(per), tf.reduce_sum(hits), tf.cast(tf.shape(y)[0], tf.float32)

    @tf.function
    def step(iterator: Any) -> list[Any]:
        x, y = next(iterator)
        out = strategy.run(replica_step, args=(x, y))
        return [strategy.reduce("SUM", value, axis=None) for value in out]

    return step


def fit_multi_worker(model: Any, strategy: Any, train_ds: Any, val_ds: Any, *, epochs: int,
                     initial_epoch: int, steps_per_epoch: int, callbacks: Sequence[Any],
                     label_smoothing: float = 0.0) -> None:
    """Train compiled ``model`` from ``initial_epoch`` to ``epochs`` like ``Model.fit`` (same
    callback calls and ``loss``/``accuracy``/``val_*`` logs) under ``strategy``.
    ``--batch-size`` is per worker: the global batch is batch size x workers."""
    spec = strategy.cluster_resolver.cluster_spec()
    workers = sum(spec.num_tasks(job) for job in spec.jobs if job in ("chief", "worker")) or 1
    # the dataset is sharded by batch across workers: each takes every workers-th batch, so
    # one epoch over the data is steps_per_epoch / workers steps of each worker
    steps_per_epoch = max(1, math.ceil(steps_per_epoch / workers))
    log.info("multi-worker: %d workers, %d replicas in sync, %d steps per epoch", workers,
             strategy.num_replicas_in_sync, steps_per_epoch)
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    step = _train_step(model, strategy, label_smoothing)
    iterator = iter(strategy.experimental_distribute_dataset(train_ds))
    for callback in callbacks:
        callback.set_model(model)
    model.stop_training = False
    for epoch in range(initial_epoch, epochs):
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        totals = np.zeros(3)
        for _ in range(steps_per_epoch):
            totals += [float(v) for v in step(iterator)]
        for callback in callbacks:
            callback.on_test_begin()
        val_loss, val_accuracy = evaluate_local(model, val_ds, label_smoothing)
        logs = {"loss": totals[0] / totals[2], "accuracy": totals[1] / totals[2],
                "val_loss": val_loss, "val_accuracy": val_accuracy}
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
