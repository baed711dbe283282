"""``fit(config) -> FitResult``: train a classifier and write a complete run directory."""

from __future__ import annotations

import importlib.util
import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.atomic import write_text
from trainer.backbones import get_spec
from trainer.config import FitConfig, dump_config, load_config, make_config
from trainer.errors import TrainerError
from trainer.hub import is_hub
from trainer.inputs import FitData, prepare_data
from trainer.run_dir import (
    prepare_run_dir,
    write_labels,
    write_model_json,
    write_samples,
)

__all__ = ["FitResult", "fit", "resume_config"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitResult:
    """Where the run went and what it measured (the content of ``metrics.json``)."""

    run_dir: Path
    metrics: dict[str, Any]


def resume_config(out: str | Path, epochs: int | None = None) -> FitConfig:
    """The saved config of run ``out``, with ``epochs`` replaced (and validated) when given."""
    config = load_config(Path(out) / "config.yaml")
    if epochs is None or epochs == config.epochs:
        return config
    if config.fine_tune_epochs:
        raise TrainerError(f"--resume --epochs {epochs}: a two-phase run keeps its phase "
                           f"lengths (--epochs {config.epochs}, --fine-tune-epochs "
                           f"{config.fine_tune_epochs})")
    return make_config(**{**config.model_dump(), "epochs": epochs})


def _seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)
    _op_determinism(True)


def _op_determinism(enable: bool | None = None) -> bool:
    """Whether TF op determinism is on; ``enable`` switches it first. TF exports only
    ``enable_op_determinism``; the query and the switch-off live in its config module."""
    from tensorflow.python.framework import config as tf_config

    if enable is True:
        tf_config.enable_op_determinism()
    elif enable is False:
        tf_config.disable_op_determinism()
    return bool(tf_config.is_op_determinism_enabled())


def fit(config: FitConfig, *, resume: bool = False, verbose: int = 1,
        epoch_hook: Callable[[int], None] | None = None) -> FitResult:
    """Train per ``config`` into ``config.out``; with ``resume`` continue its last
    checkpoint (same config; see :func:`resume_config`). ``verbose`` is Keras' (0 = quiet,
    1 = progress bar); ``epoch_hook(epoch)`` runs after each epoch's checkpoint.
    Returns the final metrics. Everything that can be rejected (data, backbone, weights) is
    checked before the run directory is touched."""
    was_deterministic = _op_determinism()
    try:
        return _fit(config, resume, verbose, epoch_hook)
    finally:
        _op_determinism(was_deterministic)  # leave the process as we found it


def _fit(config: FitConfig, resume: bool, verbose: int,
         epoch_hook: Callable[[int], None] | None) -> FitResult:
    from trainer import runtime
    from trainer.backbones import check_request

    if config.init_from and not resume:
        config = _resolve_init_from(config)
    spec = get_spec(config.backbone)
    size = config.image_size or spec.default_size
    config = config.model_copy(update={"image_size": size})
    if is_hub(config.backbone) and (config.freeze != "all" or config.fine_tune_epochs):
        raise TrainerError(f"--backbone {config.backbone} is a frozen feature extractor: it "
                           "needs --freeze all and cannot be fine-tuned (--fine-tune-epochs)")
    if config.upsample > 1 and size * config.upsample < spec.min_size:
        raise TrainerError(f"--image-size {size} x --upsample {config.upsample} = "
                           f"{size * config.upsample} px is too small for {spec.name}: "
                           f"the backbone needs at least {spec.min_size}")
    check_request(spec, size * config.upsample, config.weights, config.alpha)
    if config.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise TrainerError("--tensorboard needs the tensorboard package, which is not "
                           "installed (pip install tensorboard)")
    gpus = runtime.visible_gpus()
    precision = runtime.choose_precision(config.mixed_precision, gpus)
    xla = runtime.choose_xla(config.xla, gpus)
    strategy_name = runtime.choose_strategy(gpus, config.strategy)
    scratch, role = None, ""
    if strategy_name == "multi-worker":
        from trainer.distributed import prepare_worker

        config, scratch, role = prepare_worker(config, resume)
    strategy = runtime.make_strategy(strategy_name)  # before other TensorFlow work
    try:
        return _train(config, resume, verbose, epoch_hook, strategy, role,
                      (spec, size, precision, xla))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _train(config: FitConfig, resume: bool, verbose: int,
           epoch_hook: Callable[[int], None] | None, strategy: Any, role: str,
           resolved: tuple[Any, int, str, bool]) -> FitResult:
    from trainer.callbacks import RunState
    from trainer.checkpoint import STATE_FILE
    from trainer.heldout import check_test_split, save_test_split
    from trainer.phases import PhasePlan, Session, image_datasets, plan_phases, run_phases
    from trainer.preprocessing import describe
    from trainer.report import finish_run
    from trainer.training import compile_model

    spec, size, precision, xla = resolved
    _seed_everything(config.seed)
    data = prepare_data(config)
    steps = math.ceil(len(data.train) / config.step_batch)
    if not resume:
        config = _default_epochs(config, len(data.train))
    head = None
    if resume:
        paths = prepare_run_dir(config.out, overwrite=False, resume=True)
        if not (paths.checkpoints / STATE_FILE).is_file():
            raise TrainerError(f"--resume: {paths.checkpoints} holds no checkpoint yet")
        with strategy.scope():
            model, head, saved = _restore(paths.checkpoints, config.backbone)
        state = RunState.from_dict(saved)
        plan = PhasePlan(state.checkpoint == "head", [] if config.fine_tune_epochs
                         else list(config.augment), _cache_dir(config))
        check_test_split(paths, data)
        write_text(paths.config, dump_config(config))  # --epochs may have changed
    else:
        with strategy.scope():
            model = _new_model(config, data, size, precision)
            config = _micro_batch(config, model, size)
            steps = math.ceil(len(data.train) / config.step_batch)
            plan = plan_phases(config, model)
            if not plan.cached:  # a cached phase compiles the head instead
                compile_model(model, config, steps, xla)
            if config.time_budget is not None:
                config = _fit_budget(config, model, data, plan, size, steps)
                compile_model(model, config, steps, xla)  # the schedule spans the new epochs
                _seed_everything(config.seed)
        state = RunState()
        paths = prepare_run_dir(config.out, overwrite=config.overwrite, resume=False)
        write_text(paths.config, dump_config(config))
        write_labels(paths, data.labels)
        save_test_split(paths, data)
        write_samples(paths, data.train, data.val, size, config.seed)
    hub_modules = []
    if is_hub(config.backbone):
        from trainer.hub import resolve_hub

        hub_modules = [str(resolve_hub(config.backbone))]
    write_model_json(paths, config.backbone, size, describe(spec.preprocessing), data.labels,
                     hub_modules)
    session = Session(config, data, paths, state, size, steps, xla, strategy, verbose,
                      epoch_hook, multi_worker=bool(role))
    run_phases(session, model, plan, head)
    if role:
        from trainer.feature_cache import model_digest

        log.info("multi-worker %s: final weights sha256 %s", role, model_digest(model))
    _, val_ds = image_datasets(session, [])
    test = None
    if data.test is not None:
        from trainer.data import make_dataset
        from trainer.heldout import describe_test

        test = (make_dataset(data.test, image_size=size, batch_size=config.step_batch,
                             training=False), describe_test(config))
    metrics = finish_run(model, paths, data, val_ds, state, precision=precision, xla=xla,
                         test=test)
    return FitResult(run_dir=paths.root, metrics=metrics)


def _default_epochs(config: FitConfig, train_images: int) -> FitConfig:
    """``--epochs`` not given: sized by the recipe to ``train_images`` (10 without one)."""
    if config.epochs is not None:
        return config
    from trainer.recipes import RECIPES, default_epochs

    recipe = RECIPES.get(config.recipe)
    epochs = (default_epochs(recipe, train_images) if recipe else None) or 10
    if recipe and recipe.values and config.time_budget is None:
        log.info("epochs: %d (recipe %s: about %d training images seen over %d images)",
                 epochs, recipe.name, epochs * train_images, train_images)
    return config.model_copy(update={"epochs": epochs})


def _micro_batch(config: FitConfig, model: Any, size: int) -> FitConfig:
    """``--micro-batch-size auto``: on the CPU, the largest divisor of ``--batch-size`` whose
    estimated training activations fit the memory budget (trainer.memory); with a GPU, the
    whole batch. The choice is logged and saved in ``config.yaml``."""
    micro, why = config.micro_batch_size, ""
    if micro is None:
        import tensorflow as tf

        from trainer.memory import (
            ACTIVATION_BUDGET_BYTES,
            activation_bytes_per_image,
            micro_batch_size,
        )

        per_image = activation_bytes_per_image(model)
        micro = (config.batch_size if tf.config.list_physical_devices("GPU")
                 else micro_batch_size(config.batch_size, per_image))
        why = (f": estimated training activations {config.batch_size * per_image / 2**20:.0f}"
               f" MB at {size} px exceed the {ACTIVATION_BUDGET_BYTES / 2**20:.0f} MB budget "
               "(--micro-batch-size N overrides)")
    if micro < config.batch_size:
        log.info("batch %d in %d micro-batches of %d (gradient accumulation)%s",
                 config.batch_size, config.batch_size // micro, micro, why)
    return config.model_copy(update={"micro_batch_size": micro})


def _fit_budget(config: FitConfig, model: Any, data: FitData, plan: Any, size: int,
                steps: int) -> FitConfig:
    """``--time-budget``: the epochs that fit, measured on this machine (trainer.budget)."""
    from trainer.budget import epochs_for_budget, measure_step_times, process_elapsed
    from trainer.data import make_dataset
    from trainer.training import one_hot

    if plan.cached or config.fine_tune_epochs:
        raise TrainerError("--time-budget sizes a one-phase run trained on images; a cached "
                           "or two-phase run takes --epochs / --fine-tune-epochs")
    classes, batch = len(data.labels), config.step_batch
    train_ds = one_hot(make_dataset(data.train, image_size=size, batch_size=config.step_batch,
                                    training=True, augment=plan.phase1_augment,
                                    seed=config.seed, repeat=True), classes)
    val_ds = one_hot(make_dataset(data.val, image_size=size, batch_size=batch,
                                  training=False), classes)
    times = measure_step_times(model, train_ds, val_ds)
    val_steps = math.ceil(len(data.val) / batch)
    test_steps = math.ceil(len(data.test) / batch) if data.test is not None else 0
    epochs = epochs_for_budget(config.time_budget or 0.0, process_elapsed(), times,
                               train_steps=steps, val_steps=val_steps,
                               final_eval_steps=2 * val_steps + test_steps)
    return config.model_copy(update={"epochs": epochs})


def _cache_dir(config: FitConfig) -> Path:
    from trainer.feature_cache import default_cache_dir

    return Path(config.cache_dir) if config.cache_dir else default_cache_dir()


def _restore(checkpoints: Path, backbone: str) -> tuple[Any, Any, dict[str, Any]]:
    """``(classifier, head or None, state)`` from the last checkpoint. A cached phase's
    checkpoint is the head: the classifier is ``base.keras`` with that head copied in."""
    from trainer.checkpoint import load_base, load_checkpoint
    from trainer.feature_head import transplant_head

    model, saved = load_checkpoint(checkpoints, backbone)
    if saved.get("checkpoint") != "head":
        return model, None, saved
    base = load_base(checkpoints, backbone)
    transplant_head(model, base)
    return base, model, saved


def _resolve_init_from(config: FitConfig) -> FitConfig:
    """``--init-from``: check the source run first; build with ``weights none`` (every
    non-head weight is replaced) and default ``--image-size`` to the source run's."""
    from trainer.transfer import run_model_path, source_image_size

    run_model_path(config.init_from or "")
    if config.weights not in ("none", "imagenet"):
        log.warning("--weights %s ignored: --init-from %s provides the backbone weights",
                    config.weights, config.init_from)
    size = config.image_size or source_image_size(config.init_from or "")
    return config.model_copy(update={"weights": "none", "image_size": size})


def _new_model(config: FitConfig, data: FitData, size: int, precision: str) -> Any:
    """The classifier of a new run: built, initialised (``--init-from``) and frozen
    (``--freeze``); not compiled yet."""
    from trainer.freeze import apply_freeze
    from trainer.model import HeadConfig, build_classifier

    model = build_classifier(
        config.backbone, len(data.labels), size, weights=config.weights, alpha=config.alpha,
        head=HeadConfig(config.pooling, config.dense, config.dropout), precision=precision,
        input_noise=config.input_noise, upsample=config.upsample)
    if config.init_from:
        from trainer.transfer import init_from_run

        init_from_run(model, config.init_from)
    report = apply_freeze(model, config.freeze, config.batchnorm)
    log.info("%s: %d of %d backbone layers frozen, batchnorm %s; parameters: %d trainable of "
             "%d", config.backbone, report.frozen_layers, report.backbone_layers,
             report.batchnorm, report.trainable_params, report.total_params)
    return model

