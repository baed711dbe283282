"""The training phases of ``trainer fit`` and the plan that picks them.

Phase 1 trains with the ``--freeze`` policy: on cached backbone features when the backbone
is fully frozen (see :func:`plan_phases`), else on images. Phase 2 (``--fine-tune-epochs``)
unfreezes the backbone from ``--unfreeze-from``, keeps every backbone BatchNorm in inference
mode, re-compiles with ``--fine-tune-lr`` and trains on (augmented) images. Epochs are
numbered across both phases; ``history.csv`` records each epoch's phase.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.callbacks import RunState, recorder_callbacks
from trainer.config import FitConfig
from trainer.errors import ModelError
from trainer.inputs import FitData
from trainer.run_dir import RunPaths

__all__ = ["Session", "PhasePlan", "plan_phases", "run_phases", "image_datasets",
           "start_fine_tune", "recorder_callbacks"]

log = logging.getLogger(__name__)


@dataclass
class Session:
    """Everything a phase needs besides the model."""

    config: FitConfig
    data: FitData
    paths: RunPaths
    state: RunState
    size: int
    steps: int
    xla: bool
    strategy: Any
    verbose: int = 1
    epoch_hook: Callable[[int], None] | None = None
    multi_worker: bool = False  # train with distributed.fit_multi_worker (not Model.fit)


@dataclass(frozen=True)
class PhasePlan:
    """How phase 1 runs: on cached features (in ``cache_dir``) or on images (``augment``)."""

    cached: bool
    phase1_augment: list[str]
    cache_dir: Path | None = None


def plan_phases(config: FitConfig, model: Any) -> PhasePlan:
    """Decide phase 1 for a new run and reject what cannot work, before the run directory
    exists: cached features are used with ``--cache-features``, or automatically when the
    backbone is fully frozen and no augmentation runs in phase 1 (in a two-phase run,
    augmentation applies in phase 2 only)."""
    from trainer.feature_cache import check_cache_dir, default_cache_dir
    from trainer.feature_head import can_cache, split_classifier
    from trainer.freeze import backbone_layers, unfreeze_index

    two_phase = config.fine_tune_epochs > 0
    if two_phase:
        unfreeze_index(backbone_layers(model), config.unfreeze_from)
    frozen = can_cache(split_classifier(model))
    if config.cache_features and not frozen:
        raise ModelError(f"--cache-features needs a fully frozen backbone in the cached phase "
                         f"(--freeze all, or phase 1 of --fine-tune-epochs), not --freeze "
                         f"{config.freeze}")
    varied = bool(config.augment or config.input_noise)  # training-time input changes
    cached = (config.cache_features if config.cache_features is not None
              else frozen and (two_phase or not varied))
    cache_dir = None
    if cached:
        cache_dir = check_cache_dir(config.cache_dir or default_cache_dir())
    if config.augment and two_phase:
        log.info("--augment %s applies in phase 2 only: phase 1 trains the head on %s",
                 ",".join(config.augment),
                 "cached features of unaugmented images" if cached else "unaugmented images")
    elif config.augment and cached:
        log.warning("--augment %s is not applied: the head trains on cached features of "
                    "unaugmented images (augmentation needs images flowing through the "
                    "network: use --no-cache-features or a phase 2)", ",".join(config.augment))
    if config.input_noise and cached:
        log.info("--input-noise %g is not applied in the cached phase (features come from "
                 "noise-free images)%s", config.input_noise,
                 "; it applies in phase 2" if two_phase else "")
    phase1_augment = [] if (two_phase or cached) else list(config.augment)
    return PhasePlan(bool(cached), phase1_augment, cache_dir)


def image_datasets(session: Session, augment: list[str]) -> tuple[Any, Any]:
    """``(train, val)`` one-hot image datasets; training repeats from the next epoch."""
    import tensorflow as tf

    from trainer.data import make_dataset
    from trainer.training import one_hot

    cfg, data = session.config, session.data
    classes = len(data.labels)
    train = make_dataset(data.train, image_size=session.size, batch_size=cfg.step_batch,
                         training=True, augment=augment, seed=cfg.seed, repeat=True,
                         start_epoch=session.state.epochs_done)
    val = make_dataset(data.val, image_size=session.size, batch_size=cfg.step_batch,
                       training=False)
    batches = math.ceil(len(data.val) / cfg.step_batch)
    val = val.apply(tf.data.experimental.assert_cardinality(batches))
    return one_hot(train, classes), one_hot(val, classes)


def _train_on_images(session: Session, model: Any, phase: int, augment: list[str],
                     until: int) -> None:
    st = session.state
    train_ds, val_ds = image_datasets(session, augment)
    st.checkpoint = "model"
    log.info("phase %d: epochs %d..%d on images%s, %d steps each", phase, st.epochs_done + 1,
             until, f" (augment {','.join(augment)})" if augment else "", session.steps)
    if session.multi_worker:
        from trainer.distributed import evaluate_local, fit_multi_worker

        smoothing = session.config.label_smoothing
        if not st.history:
            st.loss_before, st.accuracy_before = evaluate_local(model, val_ds, smoothing)
        fit_multi_worker(model, session.strategy, train_ds, val_ds, epochs=until,
                         initial_epoch=st.epochs_done, steps_per_epoch=session.steps,
                         callbacks=recorder_callbacks(session, phase),
                         label_smoothing=smoothing)
        return
    if not st.history:
        st.loss_before, st.accuracy_before = (
            float(v) for v in model.evaluate(val_ds, verbose=0))
    model.fit(train_ds, epochs=until, initial_epoch=st.epochs_done,
              steps_per_epoch=session.steps, validation_data=val_ds,
              callbacks=recorder_callbacks(session, phase), shuffle=False,
              verbose=session.verbose)


def start_fine_tune(model: Any, config: FitConfig, steps: int, xla: bool) -> None:
    """Phase 2 set-up: unfreeze the backbone from ``--unfreeze-from`` with every backbone
    BatchNorm in inference mode (``batchnorm="frozen"``: pretrained statistics, fixed
    scale/offset), then re-compile (a new optimizer at ``--fine-tune-lr``) so the new
    ``trainable`` flags take effect."""
    from trainer.freeze import apply_freeze, backbone_layers, unfreeze_index
    from trainer.training import compile_model

    keep = unfreeze_index(backbone_layers(model), config.unfreeze_from)
    report = apply_freeze(model, str(keep) if keep else "none", "frozen")
    log.info("phase 2: backbone unfrozen from layer %d of %d (BatchNorm in inference mode), "
             "lr %g; parameters: %d trainable of %d", keep, report.backbone_layers,
             config.fine_tune_lr, report.trainable_params, report.total_params)
    compile_model(model, config, steps, xla, lr=config.fine_tune_lr,
                  epochs=config.fine_tune_epochs)


def run_phases(session: Session, model: Any, plan: PhasePlan, head: Any | None = None) -> None:
    """Train ``model`` through the phases still to run (a resumed run continues where its
    checkpoint left off). ``head`` is a head restored from a cached-phase checkpoint."""
    from trainer.cached_phase import train_cached
    from trainer.feature_head import transplant_head

    cfg, st = session.config, session.state
    phase1_open = st.epochs_done < cfg.epochs and not (st.phase == 1 and st.stopped_early)
    if st.phase == 1 and phase1_open:
        if plan.cached:
            train_cached(session, model, plan, head)
        else:
            _train_on_images(session, model, 1, plan.phase1_augment, cfg.epochs)
    elif head is not None:
        transplant_head(head, model)
    if cfg.fine_tune_epochs == 0 or st.epochs_done >= cfg.total_epochs:
        return
    if st.phase == 2 and st.stopped_early:
        return
    if st.phase == 1:
        with session.strategy.scope():
            start_fine_tune(model, cfg, session.steps, session.xla)
        st.wait, st.stopped_early = 0, False
    _train_on_images(session, model, 2, list(cfg.augment), cfg.total_epochs)
