"""After bias correction, what is left of the int8 loss: activation ranges (issue 14 study).

Bias correction (``exporter.bias_correction``, on by default) removes the mean error of the
int8 weights; with int16 activations (16x8) the corrected model then agrees 99.0 % with the
float model, so the rest of the full-integer loss is the int8 activations: each activation
tensor has one scale, and channels with a small range get few of its 256 levels. This tries
per-channel activation equalization before the correction, on a Keras MobileNet v1 backbone
(layer names of ``keras.applications.MobileNet``):

- ``conv_pw_i`` (and ``conv1``) output -> ``conv_dw_{i+1}``: channel ``c`` of the ReLU6 output
  is scaled up by ``1/s_c`` (BatchNormalization gamma and beta) and the depthwise kernel's
  channel ``c`` by ``s_c``, with ``s_c = range_c / max range`` on calibration images: every
  channel then spans the tensor's range, and since the depthwise weights have one int8 scale
  per channel this costs the weights nothing;
- with ``--alpha A`` also ``conv_dw_i`` output -> ``conv_pw_i`` with ``s_c = (range_c /
  max range) ** A`` (the pointwise weights' input channels shrink by ``s_c``: a trade between
  activation and weight rounding, hence the exponent).

The scaled activations stay within the calibration range, so ReLU6 clips the same calibration
values; the float model changes only where unseen images exceed it (its agreement is printed).

Usage::

    python bench/int8_equalization.py runs/recipe/default --data ../shared/data/cifar10/train.npz \\
        [--alpha 0 0.25 0.5 1] [--headroom 1]

The held-out images are the run's ``test_split.npz`` indices into ``--data``.
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


def _scales(activations: np.ndarray, alpha: float, headroom: float = 1.0) -> np.ndarray:
    ranges = activations.reshape(-1, activations.shape[-1]).max(axis=0)
    top = ranges.max()
    scales = np.clip(headroom * ranges / top, 1e-9, 1.0) ** alpha
    scales[ranges < 1e-6 * top] = 1.0  # dead channels stay as they are
    return scales


def equalize(model, inputs: np.ndarray, alpha: float, headroom: float = 1.0):
    """A copy of ``model`` with the activation equalization described in the module
    docstring; ``inputs`` are backbone inputs (after the model's own preprocessing)."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    backbone = copy.get_layer("backbone")
    pairs = [("conv1_bn", "conv1_relu", "conv_dw_1", 1.0)]
    pairs += [(f"conv_pw_{i}_bn", f"conv_pw_{i}_relu", f"conv_dw_{i + 1}", 1.0)
              for i in range(1, 13)]
    if alpha > 0:
        pairs += [(f"conv_dw_{i}_bn", f"conv_dw_{i}_relu", f"conv_pw_{i}", alpha)
                  for i in range(1, 14)]
    probe = keras.Model(backbone.input, [backbone.get_layer(r).output for _, r, _, _ in pairs])
    outputs = probe.predict(inputs, batch_size=32, verbose=0)
    for (bn, _, conv, power), acts in zip(pairs, outputs, strict=True):
        scales = _scales(acts, power, headroom)
        norm = backbone.get_layer(bn)
        gamma, beta, mean, var = norm.get_weights()
        norm.set_weights([gamma / scales, beta / scales, mean, var])
        layer = backbone.get_layer(conv)
        kernel, *rest = layer.get_weights()
        layer.set_weights([kernel * scales[None, None, :, None], *rest])
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0])
    parser.add_argument("--headroom", type=float, default=1.0,
                        help="scale channels to 1/H of the largest range only (H > 1 leaves "
                             "ReLU6 room above the calibration range)")
    args = parser.parse_args()

    from int8_common import corrected_int8_top1

    from exporter.datasets import to_model_input
    from exporter.run_dir import load_keras_model, load_run_info

    run = load_run_info(args.run_dir)
    model = load_keras_model(run)
    index = np.load(run.path / "test_split.npz")["index"]
    with np.load(args.data) as data:
        x, y = to_model_input(data["x"][index], run.image_size), data["y"][index]
    calib = to_model_input(np.load(run.samples_path)["x_calib"][:256], run.image_size)
    reference = model.predict(x, batch_size=100, verbose=0).argmax(1)
    backbone_in = np.asarray(model.get_layer("preprocess_scale")(calib[:128]))
    print(f"{len(y)} held-out images; float accuracy {(reference == y).mean():.2%}")
    print("| variant | float agreement | int8 accuracy | int8 agreement |\n|---|---:|---:|---:|")
    work = Path(tempfile.mkdtemp(prefix="int8-eq-"))
    for step, alpha in enumerate([None, *args.alpha]):
        name = "bias correction only" if alpha is None else (
            f"equalized (pointwise -> depthwise; depthwise -> pointwise alpha {alpha:g}) "
            f"+ bias correction, headroom {args.headroom:g}")
        source = model if alpha is None else equalize(model, backbone_in, alpha, args.headroom)
        floats = source.predict(x, batch_size=100, verbose=0).argmax(1)
        top = corrected_int8_top1(source, run.image_size, run.labels, calib, x,
                                  work / f"variant{step}")
        print(f"| {name} | {(floats == reference).mean():.2%} | {(top == y).mean():.2%} | "
              f"{(top == reference).mean():.2%} |", flush=True)


if __name__ == "__main__":
    main()
