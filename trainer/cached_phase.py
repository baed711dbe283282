"""Phase 1 on cached bottleneck features: the classifier's head trains on the frozen
backbone's pooled features, read from (or computed into) the feature cache.

The head shares its layers with the classifier (``feature_head.split_classifier``), so the
classifier is complete after training; ``best.keras`` is saved from the full classifier. The
checkpoint holds the compiled head (it carries the optimizer state) and
``checkpoints/base.keras`` the classifier as the phase started, so ``--resume`` rebuilds the
classifier from that file and continues training the restored head.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from trainer.feature_cache import CachedFeatures

__all__ = ["feature_key", "train_cached", "cache_report", "with_speedup"]

log = logging.getLogger(__name__)


def feature_key(config: Any, size: int, split: Any, ds: Any) -> Any:
    """The cache key of ``ds``'s features under ``split.extractor``."""
    from trainer.data.fingerprint import data_fingerprint
    from trainer.feature_cache import FeatureKey, model_digest, weights_id

    backbone = f"{config.backbone}@{config.alpha:g}"
    if config.upsample > 1:  # weightless, so not in model_digest: the key must say it
        backbone += f"x{config.upsample}"
    return FeatureKey(backbone, weights_id(config.weights), size, split.pooling,
                      data_fingerprint(ds), model_digest(split.extractor))


def cache_report(train: CachedFeatures, val: CachedFeatures, cache_dir: Any) -> dict[str, Any]:
    """The ``feature_cache`` block of ``metrics.json`` before training (see
    :func:`with_speedup`)."""
    return {"hit": bool(train.hit and val.hit), "cache_dir": str(cache_dir),
            "extract_seconds": round(train.compute_seconds, 3),
            "val_extract_seconds": round(val.compute_seconds, 3)}


def with_speedup(block: dict[str, Any], history: list[dict[str, Any]],
                 images: int) -> dict[str, Any]:
    """``block`` plus the head epoch time (mean time in the phase-1 training steps, without
    the first epoch when there are more: it includes tracing the train step) and the
    estimated per-epoch speed-up over a frozen-backbone epoch through the full network."""
    from trainer.feature_head import estimated_speedup

    times = [float(row["train_time_s"]) for row in history if row.get("phase", 1) == 1]
    times = times[1:] if len(times) > 1 else times
    head_epoch = sum(times) / len(times) if times else None
    speedup = (estimated_speedup(float(block["extract_seconds"]), images, head_epoch, images)
               if head_epoch else None)
    return {**block, "head_epoch_seconds": round(head_epoch, 4) if head_epoch else None,
            "estimated_speedup": round(speedup, 2) if speedup else None}


def train_cached(session: Any, model: Any, plan: Any, head: Any | None = None) -> None:
    """Train phase 1 of ``model`` on cached features (``head``: restored from a checkpoint,
    else the classifier's own head, compiled here). Leaves ``model`` complete."""
    from trainer.checkpoint import save_base
    from trainer.feature_cache import cached_features
    from trainer.feature_head import feature_dataset, split_classifier, transplant_head
    from trainer.training import compile_model

    cfg, data, st = session.config, session.data, session.state
    split = split_classifier(model)
    parts = []
    for ds in (data.train, data.val):
        key = feature_key(cfg, session.size, split, ds)
        parts.append(cached_features(split.extractor, ds, key, plan.cache_dir,
                                     batch_size=cfg.batch_size))
    train, val = parts
    classes = len(data.labels)
    val_ds = feature_dataset(val.features, data.val.y, classes, cfg.batch_size, training=False)
    if head is None:
        head = split.head  # the classifier stays uncompiled: base.keras has no optimizer
        with session.strategy.scope():
            compile_model(head, cfg, math.ceil(len(data.train) / cfg.batch_size), session.xla,
                          accumulate=False)
        save_base(model, session.paths.checkpoints)
    if not st.history:
        st.loss_before, st.accuracy_before = (float(v) for v in head.evaluate(val_ds, verbose=0))
    st.checkpoint = "head"
    if st.feature_cache is None:
        st.feature_cache = cache_report(train, val, plan.cache_dir)
    train_ds = feature_dataset(train.features, data.train.y, classes, cfg.batch_size,
                               training=True, seed=cfg.seed, start_epoch=st.epochs_done)
    log.info("phase 1: epochs %d..%d on cached %d-d features (%s), %d steps each",
             st.epochs_done + 1, cfg.epochs, split.feature_dim,
             "cache hit" if train.hit and val.hit else "extracted", session.steps)
    from trainer.callbacks import recorder_callbacks

    head.fit(train_ds, epochs=cfg.epochs, initial_epoch=st.epochs_done,
             steps_per_epoch=math.ceil(len(data.train) / cfg.batch_size),
             validation_data=val_ds, callbacks=recorder_callbacks(session, 1, model),
             shuffle=False, verbose=session.verbose)
    transplant_head(head, model)
    report = with_speedup(st.feature_cache, st.history, len(data.train))
    log.info("cached features: head epoch %.3f s, estimated %.1fx faster than a "
             "frozen-backbone epoch", report["head_epoch_seconds"] or 0.0,
             report["estimated_speedup"] or 0.0)
