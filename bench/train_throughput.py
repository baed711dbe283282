"""Training throughput: ``trainer``'s input pipeline vs a plain Keras ``model.fit`` on
pre-resized arrays in memory, same model, side by side (issue 16).

Every variant runs in its own process (fresh TensorFlow thread pools and memory); rounds
interleave the variants so machine noise hits all of them alike. A variant builds MobileNet
α0.25 (ImageNet weights, whole network trainable, BatchNorm learning: the default recipe's
model), compiles it like ``trainer fit`` does, runs ``--warmup`` steps, then times ``--steps``
steps of batch ``--batch-size`` and reports images/s.

    python bench/train_throughput.py --data ../shared/data/cifar10/train.npz \\
        --weights ../shared/data/weights/mobilenet_2_5_224_tf_no_top.h5 --rounds 3

Variants (``--variants`` picks some):
  plain        model.fit on float32 arrays resized to S px beforehand (the tutorial way)
  pipeline     trainer.data.make_dataset (streamed resize), no augmentation
  augment      make_dataset with flip,crop
  plain_augment  plain with Keras' RandomFlip + RandomTranslation(1/8) layers in front of
               the model (the tutorial way to augment arrays in memory)
  plain_xla    plain with jit_compile=True (XLA on the CPU)
  pipeline_xla pipeline with jit_compile=True
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("plain", "pipeline", "augment", "plain_augment", "plain_xla", "pipeline_xla")


def _one(args: argparse.Namespace) -> dict:
    """Run one variant in this process; return its measurement."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from trainer.memory import limit_malloc_arenas

    limit_malloc_arenas()
    import keras
    import tensorflow as tf

    from trainer.config import make_config
    from trainer.data import load_source
    from trainer.data.pipeline import make_dataset
    from trainer.model import build_classifier
    from trainer.training import compile_model, one_hot

    keras.utils.set_random_seed(0)
    variant, size, batch = args.variant, args.image_size, args.batch_size
    images = args.batch_size * (args.steps + args.warmup)
    source = load_source(args.data)
    x, y = source.x[:images], source.y[:images]
    model = build_classifier("mobilenet", 10, size, weights=args.weights, alpha=0.25)
    if variant == "plain_augment":
        model = keras.Sequential([keras.Input((size, size, 3)),
                                  keras.layers.RandomFlip("horizontal", seed=0),
                                  keras.layers.RandomTranslation(0.125, 0.125, seed=0),
                                  model])
    config = make_config(data=args.data, out="unused", optimizer="adam", lr=1e-3,
                         schedule="cosine", epochs=1, batch_size=batch)
    compile_model(model, config, args.steps, xla=variant.endswith("_xla"))

    timings: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch_index, logs=None):  # noqa: ANN001
            timings.append(time.perf_counter())

    if variant.startswith("plain"):
        resized = tf.image.resize(tf.cast(x, tf.float32), (size, size)).numpy()
        labels = np.eye(10, dtype="float32")[y]
        model.fit(resized, labels, batch_size=batch, epochs=1, shuffle=True, verbose=0,
                  callbacks=[Timer()])
    else:
        from trainer.data.types import ImageSet

        subset = ImageSet(x=x, y=y, labels=source.labels, source=source.source)
        augment = ["flip", "crop"] if variant == "augment" else []
        ds = one_hot(make_dataset(subset, image_size=size, batch_size=batch, training=True,
                                  augment=augment, repeat=True), 10)
        model.fit(ds, epochs=1, steps_per_epoch=args.steps + args.warmup, verbose=0,
                  callbacks=[Timer()])
    timed = timings[args.warmup - 1:]
    seconds = timed[-1] - timed[0]
    return {"variant": variant, "image_size": size, "batch_size": batch,
            "steps": len(timed) - 1, "images_per_s": (len(timed) - 1) * batch / seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared/data/cifar10/train.npz"))
    p.add_argument("--weights", default=str(
        ROOT.parent / "shared/data/weights/mobilenet_2_5_224_tf_no_top.h5"))
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--variants", default="plain,pipeline,augment,plain_augment")
    p.add_argument("--variant", help=argparse.SUPPRESS)  # child process: run this one
    p.add_argument("--json", type=Path, help="Write all measurements here.")
    args = p.parse_args()
    if args.variant:
        print(json.dumps(_one(args)))
        return
    chosen = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in chosen if v not in VARIANTS]
    if bad:
        sys.exit(f"error: unknown variant {bad[0]!r}; accepted: {', '.join(VARIANTS)}")
    results: dict[str, list[float]] = {v: [] for v in chosen}
    for r in range(args.rounds):
        for v in chosen:
            cmd = [sys.executable, __file__, "--variant", v, "--data", args.data,
                   "--weights", args.weights, "--image-size", str(args.image_size),
                   "--batch-size", str(args.batch_size), "--steps", str(args.steps),
                   "--warmup", str(args.warmup)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                 env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
            if out.returncode:
                sys.exit(f"error: variant {v} failed:\n{out.stderr[-2000:]}")
            value = json.loads(out.stdout.strip().splitlines()[-1])["images_per_s"]
            results[v].append(value)
            print(f"round {r + 1} {v:<13} {value:7.1f} images/s", flush=True)
    base = statistics.median(results[chosen[0]])
    print(f"\n{args.image_size} px, batch {args.batch_size}, {args.steps} timed steps, "
          f"{args.rounds} interleaved rounds (median; ratio to {chosen[0]}):")
    for v in chosen:
        med = statistics.median(results[v])
        print(f"  {v:<13} {med:7.1f} images/s  x{med / base:.2f}  "
              f"(rounds: {', '.join(f'{x:.1f}' for x in results[v])})")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: v for k, v in vars(args).items()
                                                  if k not in ("variant", "json")},
                                         "results": results}, indent=1))


if __name__ == "__main__":
    main()
