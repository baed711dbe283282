"""The tutorial way the RSS comparison of ``bench/train_mobilenet.py`` measures: resize the
whole training set to S px in float32, in memory, before training (what ``trainer fit`` never
does). Run as ``python bench/_materialize_rss.py DATA.npz SIZE COUNT``; prints the array's
size in MB. Peak RSS is read by the caller with ``os.wait4``."""

from __future__ import annotations

import sys

import numpy as np


def main() -> None:
    """Load COUNT images, resize them all at once, keep the float32 array alive."""
    path, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    import tensorflow as tf

    with np.load(path) as data:
        x = data["x"][:count]
    resized = tf.image.resize(x, (size, size)).numpy()  # float32, as the tutorials feed fit()
    print(f"{resized.nbytes / 2**20:.0f}")


if __name__ == "__main__":
    main()
