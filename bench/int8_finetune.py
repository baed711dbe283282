"""Quantization-aware fine-tuning by distillation before the int8 conversion (issue 14 study).

For each setting (distillation images, epochs, learning rate), ``exporter.quant_finetune``
fine-tunes a copy of the run's model under simulated int8 activations to reproduce the float
model's probabilities; the copy is bias-corrected and converted to a full-integer int8 file
exactly as ``exporter export --quantize int8`` does, and the file is scored with LiteRT on the
run's held-out images (``test_split.npz`` indices into ``--data``) against the float model.

Usage::

    python bench/int8_finetune.py runs/recipe/default --data ../shared/data/cifar10/train.npz \\
        --setting calib:512:4:2e-5 --setting pool:4000:2:2e-5

A setting is ``SOURCE:N:EPOCHS:LR[:COPIES]`` (COPIES: the N images and ``augmented`` copies,
COPIES * N in all; ``auto``: the exporter's ``distillation_set``). SOURCE ``calib`` takes the
run's ``samples.npz``
``x_calib`` (training images, what the exporter has by default), ``pool`` takes N random
images of ``--data`` outside the held-out indices; ``none`` skips the fine-tuning (the
exporter's bias correction alone).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--setting", action="append", required=True,
                        help="SOURCE:N:EPOCHS:LR (see the module docstring); repeatable")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-rescaling", action="store_true",
                        help="convert without exporter.int8_graph.rescaling_as_depthwise")
    parser.add_argument("--float-ops", default="",
                        help="comma list of TFLite ops kept float (as --int8-float-ops)")
    parser.add_argument("--agreement-data", default="",
                        help="FILE.npz:N: also report agreement on N random unlabelled images "
                             "of FILE (e.g. CIFAR-100 images, never seen by a CIFAR-10 run)")
    parser.add_argument("--with-val", action="store_true",
                        help="also score samples.npz's validation images (agreement on all)")
    args = parser.parse_args()

    from int8_common import corrected_int8_top1

    from exporter.datasets import to_model_input
    from exporter.int8_graph import rescaling_as_depthwise
    from exporter.quant_finetune import (
        augmented,
        distillation_set,
        quantization_finetuned_copy,
    )
    from exporter.run_dir import load_keras_model, load_run_info

    run = load_run_info(args.run_dir)
    model = load_keras_model(run)
    index = np.load(run.path / "test_split.npz")["index"]
    with np.load(args.data) as data:
        raw_x, raw_y = data["x"], data["y"]
    x, y = to_model_input(raw_x[index], run.image_size), raw_y[index]
    samples = np.load(run.samples_path)
    n_val = 0
    if args.with_val:  # the 512 validation images too: a tighter agreement estimate
        n_val = len(samples["y_val"])
        x = np.concatenate([to_model_input(samples["x_val"], run.image_size), x])
        y = np.concatenate([samples["y_val"], y])
    x_calib = samples["x_calib"]
    calib = to_model_input(x_calib[:256], run.image_size)
    pool = np.setdiff1d(np.arange(len(raw_x)), index)
    n_main = len(x)
    if args.agreement_data:
        path, count = args.agreement_data.rsplit(":", 1)
        with np.load(path) as extra:
            pick = np.random.default_rng(0).choice(len(extra["x"]), int(count), replace=False)
            x = np.concatenate([x, to_model_input(extra["x"][np.sort(pick)], run.image_size)])
    reference = model.predict(x, batch_size=100, verbose=0).argmax(1)
    extra_ref = reference[n_main:]
    reference, x_all, x = reference[:n_main], x, x[:n_main]
    print(f"{len(y) - n_val} held-out images (+{n_val} validation images); float accuracy "
          f"{(reference == y).mean():.2%}; {len(x_all) - n_main} --agreement-data images")
    print("| setting | seconds | float copy agreement | int8 accuracy (held-out) | "
          "int8 agreement (held-out) | int8 agreement (all) | agreement (--agreement-data) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    work = Path(tempfile.mkdtemp(prefix="int8-ft-"))

    def pick_images(source: str, n: int) -> np.ndarray:
        if source == "calib":
            return x_calib[:n]
        pick = np.random.default_rng(args.seed).choice(pool, n, replace=False)
        return raw_x[np.sort(pick)]

    for step, setting in enumerate(args.setting):
        source, n, epochs, lr, *more = setting.split(":")
        copies = more[0] if more else "1"
        mix = float(more[1]) if len(more) > 1 else 0.0
        start = time.perf_counter()
        if source == "none":
            tuned = model
        else:
            images = pick_images(source, int(n))
            if copies == "auto":
                images = distillation_set(images, seed=args.seed)
            elif int(copies) > 1:
                images = augmented(images, int(copies), args.seed)
            tuned, report = quantization_finetuned_copy(
                model, images, calib, lambda batch: to_model_input(batch, run.image_size),
                epochs=int(epochs), learning_rate=float(lr), seed=args.seed, mix=mix)
            print(f"  {setting}: {report}", flush=True)
        seconds = time.perf_counter() - start
        floats = tuned.predict(x, batch_size=100, verbose=0).argmax(1)
        if not args.keep_rescaling:
            tuned, _ = rescaling_as_depthwise(tuned)
        top = corrected_int8_top1(tuned, run.image_size, run.labels, calib, x_all,
                                  work / f"variant{step}",
                                  tuple(o for o in args.float_ops.split(",") if o))
        print(f"| {setting} | {seconds:.0f} | {(floats == reference).mean():.2%} | "
              f"{(top[n_val:n_main] == y[n_val:]).mean():.2%} | "
              f"{(top[n_val:n_main] == reference[n_val:]).mean():.2%} | "
              f"{(top[:n_main] == reference).mean():.2%} | "
              f"{(top[n_main:] == extra_ref).mean():.2%} |", flush=True)


if __name__ == "__main__":
    main()
