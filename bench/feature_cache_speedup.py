"""Benchmark (not a test): per-epoch time of a head epoch on cached features vs a
frozen-backbone epoch through the full network (issue 3 claims >= 10x with the real
MobileNet alpha 0.25 weights at 128 px on the shared CIFAR-10 images).

Run from the repository root (paths are relative to it)::

    python bench/feature_cache_speedup.py                      # 10k images (several minutes)
    python bench/feature_cache_speedup.py --train-size 2000    # quicker, same ratio

Both sides train the same head (avg pooling -> Dense 10) with Adam, batch 64, on the same
images; each is timed over its second epoch (the first one includes tracing). Also reports
the one-off feature extraction time, and the hit time on a second call. Prints one markdown
table and the exact command.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA = "../shared/data/cifar10/train.npz"
WEIGHTS = "../shared/data/weights/mobilenet_2_5_224_tf_no_top.h5"


def _epoch_seconds(model: Any, dataset: Any, steps: int) -> float:
    """Seconds of the second of two epochs of ``model.fit``."""
    import keras

    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            times.append(time.perf_counter() - self.start)

    model.fit(dataset, epochs=2, steps_per_epoch=steps, callbacks=[Timer()], verbose=0,
              shuffle=False)
    return times[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--weights", default=WEIGHTS)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--train-size", type=int, default=0, help="balanced subset (0 = all)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    import keras

    from trainer.data import balanced_subset, data_fingerprint, load_source, make_dataset
    from trainer.feature_cache import FeatureKey, cached_features, model_digest, weights_id
    from trainer.feature_head import feature_dataset, split_classifier
    from trainer.freeze import apply_freeze
    from trainer.model import build_classifier
    from trainer.training import one_hot

    ds = load_source(args.data)
    if args.train_size:
        ds = balanced_subset(ds, args.train_size, seed=0)
    size, batch, classes = args.image_size, args.batch_size, ds.num_classes
    steps = math.ceil(len(ds) / batch)
    keras.utils.set_random_seed(0)
    model = build_classifier("mobilenet", classes, size, weights=args.weights, alpha=0.25)
    apply_freeze(model, "all", "frozen")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    images = one_hot(make_dataset(ds, image_size=size, batch_size=batch, training=True,
                                  repeat=True), classes)
    uncached = _epoch_seconds(model, images, steps)

    split = split_classifier(model)
    key = FeatureKey("mobilenet@0.25", weights_id(args.weights), size, split.pooling,
                     data_fingerprint(ds), model_digest(split.extractor))
    with tempfile.TemporaryDirectory() as cache:
        miss = cached_features(split.extractor, ds, key, cache, batch_size=batch)
        start = time.perf_counter()
        hit = cached_features(split.extractor, ds, key, cache, batch_size=batch)
        hit_s = time.perf_counter() - start
    assert hit.hit and not miss.hit
    split.head.compile(optimizer="adam", loss="categorical_crossentropy")
    feats = feature_dataset(hit.features, ds.y, classes, batch, training=True)
    cached = _epoch_seconds(split.head, feats, steps)

    print(f"command: python {shlex.join(sys.argv)}")
    print(f"{len(ds)} images at {size} px, batch {batch}, features {hit.features.shape}")
    print("| measure | seconds |\n|---|---|")
    print(f"| frozen-backbone epoch through the full network | {uncached:.2f} |")
    print(f"| head epoch on cached features | {cached:.3f} |")
    print(f"| one-off feature extraction (cache miss) | {miss.compute_seconds:.2f} |")
    print(f"| cache hit (read + verify) | {hit_s:.3f} |")
    print(f"| per-epoch speed-up | {uncached / cached:.1f}x |")


if __name__ == "__main__":
    main()
