"""Selective int8 quantization study (issue 14): how many ops at the start of the network,
kept float, buy back agreement, chosen on images no CIFAR-10 run has seen.

For every K of ``--stems``, the int8 file is made exactly as ``exporter export --quantize
int8 --int8-float-stem K`` makes it (``exporter.formats.prepared_int8``): the first K
quantized ops after the input scaling are named by the converter, the preparation
(fine-tuning, Rescaling rewrite, bias correction) treats them as float, and the conversion
keeps them float. Each file is scored, as top-1 agreement with the float Keras model, on
two sets:

- **selection**: ``--select N`` random images of ``--select-data`` (unlabelled; CIFAR-100
  images for a CIFAR-10 run: never trained on, never used to pick epochs);
- **evaluation**: the 512 validation images of ``samples.npz`` plus the run's held-out images
  (``test_split.npz`` indices into ``--data``), with the held-out accuracy.

Usage::

    python bench/int8_selective.py runs/recipe/calib4096 --data ../shared/data/cifar10/train.npz \\
        --select-data ../shared/data/cifar100/train.npz
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _int8_file(run, model, calib, finetune_images, stem: int, steps: dict) -> bytes:
    """The exporter's int8 file (``exporter.formats.prepared_int8``: the preparation that
    knows the stem, then the conversion), without metadata."""
    from exporter.formats import WriteContext, prepared_int8

    ctx = WriteContext(staging=Path("."), run=run, model=model, top_k=5, opset=0,
                       model_name="study", warmup_images=calib[:0], warmup_requests=0,
                       calibration=calib, int8_finetune_images=finetune_images,
                       int8_float_stem=stem)
    data = prepared_int8(ctx)
    steps.update(ctx.int8_steps)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--select-data", type=Path, required=True)
    parser.add_argument("--select", type=int, default=4000)
    parser.add_argument("--stems", default="0,1,2,3,4,5,6")
    parser.add_argument("--work", type=Path, default=Path("int8-selective-work"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from exporter.datasets import to_model_input
    from exporter.run_dir import load_keras_model, load_run_info
    from exporter.tflite_export import TFLiteRunner

    run = load_run_info(args.run_dir)
    model = load_keras_model(run)
    samples = np.load(run.samples_path)
    x_calib, x_val = samples["x_calib"], samples["x_val"]
    index = np.load(run.path / "test_split.npz")["index"]
    with np.load(args.data) as data:
        x_held, y_held = data["x"][index], data["y"][index]
    with np.load(args.select_data) as data:
        pick = np.random.default_rng(0).choice(len(data["x"]), args.select, replace=False)
        x_sel = to_model_input(data["x"][np.sort(pick)], run.image_size)
    calib = to_model_input(x_calib[:256], run.image_size)
    x_eval = to_model_input(np.concatenate([x_val, x_held]), run.image_size)
    n_val = len(x_val)
    args.work.mkdir(parents=True, exist_ok=True)
    f_eval = model.predict(x_eval, batch_size=128, verbose=0).argmax(1)
    f_sel = model.predict(x_sel, batch_size=128, verbose=0).argmax(1)
    print(f"selection: {len(x_sel)} images of {args.select_data.name}; evaluation: "
          f"{len(x_eval)} images ({n_val} validation + {len(y_held)} held-out), float "
          f"held-out accuracy {(f_eval[n_val:] == y_held).mean():.2%}")
    print("| float ops after the input scaling | agreement, selection | agreement, evaluation |"
          " agreement, held-out | accuracy, held-out |")
    print("|---|---:|---:|---:|---:|")
    rows = []
    for k in (int(v) for v in args.stems.split(",")):
        steps: dict = {}
        start = time.perf_counter()
        path = args.work / f"stem{k}.tflite"
        path.write_bytes(_int8_file(run, model, calib, x_calib, k, steps))
        print(f"  stem {k}: prepared and converted in {time.perf_counter() - start:.0f} s",
              flush=True)
        runner = TFLiteRunner(path)
        top = np.concatenate([runner.predict(x[i : i + 64])
                              for x in (x_sel, x_eval) for i in range(0, len(x), 64)]).argmax(1)
        sel, ev = top[: len(x_sel)], top[len(x_sel) :]
        row = {"stem": k, "ops": [op.split(" ")[0] for op in steps.get("float_stem", [])],
               "selection": float((sel == f_sel).mean()),
               "evaluation": float((ev == f_eval).mean()),
               "heldout": float((ev[n_val:] == f_eval[n_val:]).mean()),
               "heldout_accuracy": float((ev[n_val:] == y_held).mean())}
        rows.append(row)
        names = ", ".join(row["ops"]) or "none"
        print(f"| {k}: {names} | {row['selection']:.2%} | {row['evaluation']:.2%} | "
              f"{row['heldout']:.2%} | {row['heldout_accuracy']:.2%} |", flush=True)
    best = max(rows, key=lambda r: r["selection"])
    print(f"best on the selection images: {best['stem']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
