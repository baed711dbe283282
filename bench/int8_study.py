"""Why int8 loses answers on a MobileNet run: one conversion per hypothesis, measured on
held-out images (accuracy, top-1 agreement with the Keras model, file size).

Usage (from the repository root; HELDOUT.npz never used for training or validation):

    python bench/int8_study.py runs/mobilenet --data HELDOUT.npz --calibration-pool TRAIN.npz

Hypotheses: the output's 1/256 step (float output), calibration size/representativeness
(1,000 random training images instead of the run's 256 samples), activation precision (16x8:
int16 activations), per-layer error (TFLite's quantization debugger; keep the worst N ops
float), depthwise convolutions (keep every DEPTHWISE_CONV_2D float) and combinations.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--calibration-pool", type=Path, required=True)
    args = parser.parse_args()

    import tensorflow as tf

    from exporter.datasets import to_model_input
    from exporter.quant_debug import layer_errors
    from exporter.run_dir import load_keras_model, load_run_info
    from exporter.savedmodel import write_savedmodel
    from exporter.tflite_export import TFLiteRunner, _convert, convert_tflite, int8_converter

    run = load_run_info(args.run_dir)
    model = load_keras_model(run)
    held = np.load(args.data)
    x, y = to_model_input(held["x"], run.image_size), held["y"]
    keras_top = model.predict(x, batch_size=50, verbose=0).argmax(1)
    work = Path(tempfile.mkdtemp(prefix="int8-study-"))
    write_savedmodel(model, run.image_size, run.labels, 5, work)
    calib = to_model_input(np.load(run.samples_path)["x_calib"][:256], run.image_size)
    pool = np.load(args.calibration_pool)["x"]
    rng = np.random.default_rng(0)
    big = to_model_input(pool[rng.choice(len(pool), 1000, replace=False)], run.image_size)
    print(f"{len(y)} held-out images; Keras accuracy {(keras_top == y).mean():.2%}")
    print("| variant | bytes | accuracy | agreement |\n|---|---:|---:|---:|")

    def report(name: str, data: bytes) -> None:
        path = work / f"{name}.tflite"
        path.write_bytes(data)
        runner = TFLiteRunner(path)
        top = np.concatenate([runner.predict(x[i : i + 50]) for i in range(0, len(x), 50)])
        top = top.argmax(1)
        print(f"| {name} | {len(data)} | {(top == y).mean():.2%} | "
              f"{(top == keras_top).mean():.2%} |", flush=True)

    for precision in ("float32", "float16", "dynamic", "int8"):
        report(precision, convert_tflite(work, precision, calib))
    converter, _keep = int8_converter(work, calib)
    converter.inference_output_type = tf.float32
    report("int8, float32 output", _convert(converter))
    report("int8, 1000 calibration images", convert_tflite(work, "int8", big))
    converter, _keep = int8_converter(work, calib, float_io=True)
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    ]
    report("16x8 (int16 activations)", _convert(converter))
    converter, _keep = int8_converter(work, calib, float_io=True)
    errors = layer_errors(converter, calib[::8])
    for error in errors[:8]:
        print(f"  {error.describe()}")
    report("DEPTHWISE_CONV_2D float", convert_tflite(work, "int8", calib, ("DEPTHWISE_CONV_2D",)))
    for count in (3, 6, 10):
        converter, _keep = int8_converter(work, calib)
        options = tf.lite.experimental.QuantizationDebugOptions(
            denylisted_nodes=[e.tensor for e in errors[:count]]
        )
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS
        ]
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=lambda: ([calib[i : i + 1]] for i in range(4)),
            debug_options=options,
        )
        report(f"worst {count} ops float", debugger.get_nondebug_quantized_model())


if __name__ == "__main__":
    main()
