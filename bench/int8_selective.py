"""Selective int8 quantization study (issue 14): which ops, kept float, buy back agreement.

The run's model is prepared exactly as ``exporter export --quantize int8`` prepares it
(fine-tuning, Rescaling rewrite, bias correction) and written once as a SavedModel under
``--work``. Then, for every quantized op of the full-integer file, one file is converted with
that op alone kept float (TFLite's ``denylisted_nodes``) and scored on ``--select`` training
images of ``samples.npz:x_calib`` (selection images: never the evaluation images). Finally
the greedy sets of the most sensitive ops (1, 2, 3, ... ops) and the debugger's worst ops by
``rmse/scale`` are scored on the evaluation images: the 512 validation images of
``samples.npz`` plus the run's held-out images (``test_split.npz`` indices into ``--data``).

Usage::

    python bench/int8_selective.py runs/recipe/calib4096 --data ../shared/data/cifar10/train.npz
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


def _prepare(run, model, calib, finetune_images, target: Path) -> None:
    from exporter.bias_correction import bias_corrected_copy
    from exporter.datasets import to_model_input
    from exporter.int8_graph import rescaling_as_depthwise
    from exporter.quant_finetune import distillation_set, quantization_finetuned_copy
    from exporter.savedmodel import write_savedmodel

    images = distillation_set(finetune_images)
    source, _ = quantization_finetuned_copy(
        model, images, calib, lambda batch: to_model_input(batch, run.image_size))
    source, _ = rescaling_as_depthwise(source)
    source, _ = bias_corrected_copy(source, calib)
    write_savedmodel(source, run.image_size, run.labels, 5, target)


def _convert(savedmodel: Path, calib: np.ndarray, nodes: list[str]) -> bytes:
    import tensorflow as tf
    from tensorflow.lite.python.util import modify_model_io_type

    from exporter.tflite_export import int8_converter

    converter, _keep = int8_converter(savedmodel, calib)
    if not nodes:
        return converter.convert()
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                           tf.lite.OpsSet.TFLITE_BUILTINS]
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(nodes))
    probe = calib[:2]
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=lambda: ([probe[i : i + 1]] for i in range(2)),
        debug_options=options)
    return modify_model_io_type(debugger.get_nondebug_quantized_model(), tf.uint8, tf.uint8)


def _probs(data: bytes, x: np.ndarray, path: Path) -> np.ndarray:
    from exporter.tflite_export import TFLiteRunner

    path.write_bytes(data)
    runner = TFLiteRunner(path)
    return np.concatenate([runner.predict(x[i : i + 64]) for i in range(0, len(x), 64)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("bench/results/int8_selective_work"))
    parser.add_argument("--select", type=int, default=1024,
                        help="x_calib images that score the single-op files")
    parser.add_argument("--greedy", type=int, default=6, help="largest op set scored")
    args = parser.parse_args()

    from exporter.datasets import to_model_input
    from exporter.quant_debug import layer_errors
    from exporter.run_dir import load_keras_model, load_run_info
    from exporter.tflite_export import int8_converter

    run = load_run_info(args.run_dir)
    model = load_keras_model(run)
    samples = np.load(run.samples_path)
    x_calib, x_val, y_val = samples["x_calib"], samples["x_val"], samples["y_val"]
    index = np.load(run.path / "test_split.npz")["index"]
    with np.load(args.data) as data:
        x_held, y_held = data["x"][index], data["y"][index]
    calib = to_model_input(x_calib[:256], run.image_size)
    x_eval = to_model_input(np.concatenate([x_val, x_held]), run.image_size)
    y_eval = np.concatenate([y_val, y_held])
    x_sel = to_model_input(x_calib[-args.select:], run.image_size)
    prepared = args.work / "prepared"
    args.work.mkdir(parents=True, exist_ok=True)
    if not (prepared / "saved_model.pb").is_file():
        start = time.perf_counter()
        _prepare(run, model, calib, x_calib, prepared)
        print(f"prepared in {time.perf_counter() - start:.0f} s", flush=True)
    f_eval = model.predict(x_eval, batch_size=128, verbose=0)
    f_sel = model.predict(x_sel, batch_size=128, verbose=0)
    n_val = len(x_val)
    print(f"evaluation: {len(y_eval)} images ({n_val} x_val + {len(y_held)} held-out); "
          f"float accuracy {(f_eval.argmax(1) == y_eval).mean():.2%}", flush=True)

    def score(nodes: list[str], x: np.ndarray, ref: np.ndarray) -> dict:
        p = _probs(_convert(prepared, calib, nodes), x, args.work / "probe.tflite")
        return {"agreement": float((p.argmax(1) == ref.argmax(1)).mean()),
                "l1": float(np.abs(p - ref).sum(1).mean()), "top1": p.argmax(1)}

    converter, _keep = int8_converter(prepared, calib, float_io=True)
    errors = layer_errors(converter, calib[::8][:32])
    print(f"{len(errors)} quantized ops", flush=True)
    base_sel = score([], x_sel, f_sel)
    print(f"full int8 on selection: {base_sel['agreement']:.2%} l1 {base_sel['l1']:.4f}")
    rows = []
    for e in errors:
        s = score([e.tensor], x_sel, f_sel)
        rows.append({"tensor": e.tensor, "layer": e.layer, "op": e.op,
                     "rmse_over_scale": e.rmse_over_scale,
                     "agreement": s["agreement"], "l1": s["l1"]})
        print(f"  {e.layer:24s} {e.op:18s} rmse/scale {e.rmse_over_scale:5.2f} "
              f"agreement {s['agreement']:.2%} l1 {s['l1']:.4f}", flush=True)
    by_l1 = sorted(rows, key=lambda r: r["l1"])
    by_rmse = sorted(rows, key=lambda r: -r["rmse_over_scale"])

    def evaluate(label: str, nodes: list[str]) -> dict:
        s = score(nodes, x_eval, f_eval)
        top1 = s["top1"]
        out = {"label": label, "nodes": nodes, "agreement": s["agreement"],
               "agreement_heldout": float((top1[n_val:] == f_eval[n_val:].argmax(1)).mean()),
               "accuracy_heldout": float((top1[n_val:] == y_held).mean())}
        print(f"| {label} | {out['agreement']:.2%} | {out['agreement_heldout']:.2%} | "
              f"{out['accuracy_heldout']:.2%} |", flush=True)
        return out

    print("| float ops | agreement (1,512) | agreement (held-out) | accuracy (held-out) |")
    print("|---|---:|---:|---:|")
    results = [evaluate("none", [])]
    for k in range(1, args.greedy + 1):
        pick = by_l1[:k]
        results.append(evaluate("sensitivity " + ",".join(r["layer"] for r in pick),
                                [r["tensor"] for r in pick]))
    for k in (1, 3):
        pick = by_rmse[:k]
        results.append(evaluate("rmse/scale " + ",".join(r["layer"] for r in pick),
                                [r["tensor"] for r in pick]))
    (args.work / "results.json").write_text(json.dumps({"ops": rows, "sets": results},
                                                       indent=1))


if __name__ == "__main__":
    main()
