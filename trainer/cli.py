"""``trainer`` command line: ``fit``, ``evaluate``, ``compare``, ``backbones``. Parses
arguments, calls the library, prints a short summary; a TrainerError is one line on stderr
and exit code 1 (``--debug`` shows the traceback)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import typer

from trainer.errors import TrainerError
from trainer.memory import limit_malloc_arenas

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Fine-tune ImageNet backbones (or train small nets) on image data.")

DEBUG = typer.Option(False, "--debug", help="Show tracebacks.")


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _micro(text: str) -> int | None:
    """``--micro-batch-size``: ``auto`` -> None, else a whole number."""
    if text.strip().lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise TrainerError(f"--micro-batch-size {text!r}: accepted: auto or a whole number "
                           "that divides --batch-size") from None


@contextlib.contextmanager
def _user_errors(debug: bool, quiet: bool = False) -> Iterator[None]:
    """Set up logging; turn expected failures into one line on stderr and exit code 1."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    limit_malloc_arenas()  # before TensorFlow starts threads: peak RSS -20% (trainer.memory)
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", force=True)
    try:
        yield
    except TrainerError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        if debug:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        typer.echo(f"error: {exc.strerror or exc}{where}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted (a run continues with --resume)", err=True)
        raise typer.Exit(130) from None


@app.command()
def fit(
    data: str = typer.Option(..., help="cifar10[:train|:test] | cifar100[:train|:test] | "
                             "file.npz | image folder | cifar-10-batches-py / "
                             "cifar-100-python directory[:train|:test] (default split: "
                             "train)"),
    out: Path = typer.Option(..., help="Run directory to create (runs/NAME)."),
    val_data: str | None = typer.Option(None, help="Validation data (else --val-split)."),
    val_split: float = typer.Option(0.1, help="Stratified validation fraction."),
    test_split: float | None = typer.Option(
        None, help="Hold out a stratified, seeded test split first (fraction < 1, or N "
        "images spread evenly over the classes): never trained on nor used to pick epochs; "
        "the final model is scored on it (accuracy, 95% Wilson interval)."),
    test_data: str | None = typer.Option(None, help="Held-out test data (instead of "
                                         "--test-split); same forms as --data."),
    label_mode: str = typer.Option("fine", help="CIFAR-100 labels: fine | coarse (a .npz: "
                                   "y_coarse, names from coarse_labels.txt)."),
    classes: str | None = typer.Option(None, help="Class subset a,b,c (names or indices)."),
    train_size: int | None = typer.Option(None, help="Class-balanced training subset size."),
    augment: str | None = typer.Option(None, help="Augmentations: flip,crop ('' = none; "
                                       "default: the recipe's, else none)."),
    seed: int = typer.Option(0, help="Seed for split, shuffling and initialisation."),
    backbone: str = typer.Option("mobilenet", help="See `trainer backbones`."),
    weights: str = typer.Option("imagenet", help="imagenet | none | PATH (.h5, no top)."),
    alpha: float = typer.Option(1.0, help="Width multiplier (mobilenet backbones)."),
    image_size: int | None = typer.Option(None, help="Input size (default: the recipe's, "
                                          "else the backbone's)."),
    pooling: str = typer.Option("avg", help="Head pooling: avg | flatten."),
    dense: int = typer.Option(0, help="Hidden Dense units in the head (0 = none)."),
    dropout: float = typer.Option(0.0, help="Dropout before the output layer."),
    freeze: str | None = typer.Option(None, help="all | none | N | LAYER_NAME (backbone "
                                      "layers; default: the recipe's, else none)."),
    batchnorm: str | None = typer.Option(None, help="Unfrozen BatchNorm: train | frozen "
                                         "(default: the recipe's, else train)."),
    input_noise: float = typer.Option(0.0, help="GaussianNoise stddev on 0..255 pixels "
                                      "(training only; 0 = off)."),
    upsample: int = typer.Option(1, help="UpSampling2D factor before the backbone: the "
                                 "model takes --image-size, the backbone sees size*K."),
    init_from: Path | None = typer.Option(None, help="Earlier run directory: start from its "
                                          "backbone (every layer except the head)."),
    cache_features: bool | None = typer.Option(
        None, "--cache-features/--no-cache-features",
        help="Train the head on cached backbone features (default: when the backbone is "
        "fully frozen and no augmentation runs in phase 1)."),
    cache_dir: Path | None = typer.Option(None, help="Feature cache directory (default "
                                          "$TRAINER_CACHE_DIR/features or "
                                          "~/.cache/trainer/features)."),
    fine_tune_epochs: int = typer.Option(0, help="Phase 2 epochs: fine-tune the backbone "
                                         "after --epochs of head training (0 = off)."),
    fine_tune_lr: float = typer.Option(1e-5, help="Phase 2 learning rate."),
    unfreeze_from: str = typer.Option("0", help="Phase 2 trains the backbone from this "
                                      "layer name, or after its first N layers (0 = all)."),
    optimizer: str | None = typer.Option(None, help="sgd | adam | adamw (default: the "
                                         "recipe's, else adam)."),
    lr: float | None = typer.Option(None, help="Learning rate (default: the recipe's, else "
                                    "0.001)."),
    momentum: float = typer.Option(0.9, help="SGD momentum."),
    weight_decay: float = typer.Option(0.0, help="Decoupled weight decay."),
    label_smoothing: float | None = typer.Option(None, help="Label smoothing (default: the "
                                                 "recipe's, else 0)."),
    ema: float | None = typer.Option(None, help="Keep an exponential moving average of the weights "
                              "with this momentum (e.g. 0.999) and end the run with it "
                              "(0 = off; default: the recipe's, else 0)."),
    schedule: str | None = typer.Option(None, help="constant | cosine (default: the "
                                        "recipe's, else constant)."),
    epochs: int | None = typer.Option(None, help="Epochs (default: sized by the recipe to the "
                                      "data, else 10)."),
    time_budget: str | None = typer.Option(
        None, help="Wall-time budget (600, 10m, 1.5h): measure this machine, then train the "
        "epochs that fit (one-phase runs; instead of --epochs)."),
    recipe: str = typer.Option("auto", help="Defaults for the flags not given: auto (the "
                               "backbone's tuned recipe when it starts from pretrained "
                               "weights) | none (plain defaults) | mobilenet-finetune."),
    batch_size: int | None = typer.Option(None, help="Batch size (default: the recipe's, "
                                          "else 32)."),
    micro_batch_size: str = typer.Option(
        "auto", help="Images per training step: the optimizer accumulates the gradients of "
        "--batch-size / N steps per update (same batch, lower peak memory). auto: the whole "
        "batch unless its estimated activations exceed the memory budget (CPU)."),
    early_stopping: int = typer.Option(0, help="Patience in epochs (0 = off)."),
    strategy: str = typer.Option("auto", help="auto | default | mirrored | multi-worker "
                                 "(TF_CONFIG; the chief writes --out)."),
    mixed_precision: str = typer.Option("auto", help="auto | on | off (GPU only)."),
    xla: bool = typer.Option(False, help="XLA-compile the train step (GPU only)."),
    overwrite: bool = typer.Option(False, help="Replace an existing run directory."),
    resume: bool = typer.Option(False, help="Continue --out from its last checkpoint."),
    tensorboard: bool = typer.Option(False, help="Write TensorBoard logs."),
    quiet: bool = typer.Option(False, help="No progress bar, warnings only."),
    debug: bool = DEBUG,
) -> None:
    """Train a classifier and write a run directory."""
    with _user_errors(debug, quiet):
        from trainer.config import make_config
        from trainer.fit import fit as run_fit
        from trainer.fit import resume_config
        from trainer.recipes import describe_recipe

        if resume:
            config = resume_config(out, epochs)
        else:
            if time_budget is not None and epochs is not None:
                raise TrainerError("give --epochs or --time-budget, not both")
            config = make_config(
                data=data, out=str(out), val_data=val_data, val_split=val_split,
                test_split=test_split, test_data=test_data,
                label_mode=label_mode, classes=_split(classes) or None, train_size=train_size,
                augment=None if augment is None else _split(augment), seed=seed,
                backbone=backbone, weights=weights, alpha=alpha, image_size=image_size,
                pooling=pooling, dense=dense, dropout=dropout, freeze=freeze,
                batchnorm=batchnorm, input_noise=input_noise, upsample=upsample,
                init_from=str(init_from) if init_from else None,
                cache_features=cache_features, cache_dir=str(cache_dir) if cache_dir else None,
                fine_tune_epochs=fine_tune_epochs, fine_tune_lr=fine_tune_lr,
                unfreeze_from=unfreeze_from, optimizer=optimizer, lr=lr,
                momentum=momentum, weight_decay=weight_decay, label_smoothing=label_smoothing,
                ema=ema, schedule=schedule, epochs=epochs, time_budget=time_budget,
                recipe=recipe, batch_size=batch_size,
                micro_batch_size=_micro(micro_batch_size), early_stopping=early_stopping,
                strategy=strategy, mixed_precision=mixed_precision, xla=xla,
                overwrite=overwrite, tensorboard=tensorboard)
            typer.echo(describe_recipe(config))
        result = run_fit(config, resume=resume, verbose=0 if quiet else 1)
        m = result.metrics
        typer.echo(f"run: {result.run_dir}")
        typer.echo(f"val accuracy: before {m['accuracy_before_training']:.4f}  final "
                   f"{m['final_val_accuracy']:.4f}  best {m['best_val_accuracy']:.4f} "
                   f"(epoch {m['best_epoch']})")
        typer.echo(f"params: {m['trainable_params']:,} trainable of {m['total_params']:,}; "
                   f"{m['train_time_s']:.1f} s, {m['images_per_s']} images/s")
        if "test" in m:
            t = m["test"]
            typer.echo(f"held-out test accuracy (final model): {t['accuracy']:.4f} on "
                       f"{t['num_images']} images, 95% CI [{t['ci95'][0]:.4f}, "
                       f"{t['ci95'][1]:.4f}] ({t['source']})")
        if m["skipped_images"]:
            typer.echo(f"skipped {m['skipped_images']} unreadable images")


@app.command()
def evaluate(
    target: Path = typer.Argument(..., help="Run directory or .keras model file."),
    data: str | None = typer.Option(None, help="Labelled data (same forms as fit --data; "
                                    "cifar10 / cifar100 mean their test split, "
                                    "NAME:train asks for the training split)."),
    test_split: bool = typer.Option(False, "--test-split", help="Re-score exactly the "
                                    "held-out test images the run kept apart (fit "
                                    "--test-split / --test-data) instead of --data."),
    out: Path | None = typer.Option(None, help="Output directory (default: beside model)."),
    batch_size: int = typer.Option(64, help="Batch size."),
    label_mode: str = typer.Option("fine", help="CIFAR-100 labels: fine | coarse."),
    tta: str = typer.Option("none", help="Test-time augmentation: none | flip (average each "
                            "image's and its mirror image's probabilities; 2x compute)."),
    debug: bool = DEBUG,
) -> None:
    """Top-1/top-5 and per-class accuracy (95% Wilson interval), confusion matrix."""
    with _user_errors(debug):
        from trainer.evaluate import evaluate as run_evaluate

        r = run_evaluate(target, data, out=out, batch_size=batch_size, label_mode=label_mode,
                         test_split=test_split, tta=tta)
        shown_tta = "" if tta == "none" else f", tta {tta}"
        typer.echo(f"{r.num_images} images ({r.data}{shown_tta})  top-1 {r.top1:.4f} (95% CI "
                   f"[{r.ci95[0]:.4f}, {r.ci95[1]:.4f}])  top-{r.top_k} {r.top5:.4f}")
        width = max(len(label) for label in r.labels)
        for label, acc in r.per_class.items():
            shown = "-" if acc is None else f"{acc:.4f}"
            typer.echo(f"  {label:<{width}}  {shown}")
        typer.echo("wrote " + ", ".join(r.files))


@app.command()
def compare(
    runs: list[Path] = typer.Argument(..., help="Run directories to compare."),
    plot: Path | None = typer.Option(None, help="Write the validation-accuracy curves "
                                     "overlaid into this PNG."),
    debug: bool = DEBUG,
) -> None:
    """One table (backbone, weights, size, frozen, epochs, time, best val accuracy) over runs;
    optionally one PNG of their validation-accuracy curves (``*`` = unfinished run)."""
    with _user_errors(debug, quiet=True):
        from trainer.compare import compare_runs, format_table, plot_comparison

        table = compare_runs(runs)
        typer.echo(format_table(table))
        if plot is not None:
            typer.echo(f"wrote {plot_comparison(table, plot)}")


@app.command()
def backbones(
    params: bool = typer.Option(True, help="Count parameters (builds each backbone)."),
    debug: bool = DEBUG,
) -> None:
    """List the backbone registry (parameters: random init, default size, no classifier)."""
    with _user_errors(debug, quiet=True):
        from trainer.backbones import backbone_table

        rows = backbone_table(count_params=params)
        header = f"{'name':<20} {'size':>5} {'min':>4} {'preprocessing':<13} {'imagenet':<28}"
        typer.echo(header + (f" {'params':>12}" if params else ""))
        for r in rows:
            line = (f"{r['name']:<20} {r['default_size']:>5} {r['min_size']:>4} "
                    f"{r['preprocessing']:<13} {r['imagenet']:<28}")
            typer.echo(line + (f" {r['params']:>12,}" if params else ""))


def main() -> None:
    """Console entry point ``trainer``."""
    sys.exit(app())


if __name__ == "__main__":
    main()
