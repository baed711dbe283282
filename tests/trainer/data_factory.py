"""Write tiny generated data sets in every format ``trainer.data.load_source`` accepts.

Images are smooth, class-coloured patterns (each class has its own mean colour) so small
models can learn them, and JPEG round-trips stay close. Every writer returns the arrays in
the order the loader yields them, so tests can compare loaded data with what was written.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np

__all__ = [
    "class_names",
    "make_arrays",
    "write_cifar10_pickles",
    "write_cifar100_pickles",
    "write_corrupt_files",
    "write_image_folder",
    "write_mixed_folder",
    "write_npz",
]

Arrays = tuple[np.ndarray, np.ndarray, list[str]]


def class_names(classes: int) -> list[str]:
    """Names that sort in index order (folder loaders sort class names)."""
    return [f"class{i:02d}" for i in range(classes)]


def make_arrays(n_per_class: int = 8, classes: int = 4, size: int = 32, seed: int = 0) -> Arrays:
    """``x`` uint8 ``(n_per_class*classes, size, size, 3)``, ``y`` int64 (classes interleaved:
    0, 1, .., C-1, 0, 1, ..) and the class names."""
    rng = np.random.default_rng(seed)
    count = n_per_class * classes
    y = np.tile(np.arange(classes, dtype=np.int64), n_per_class)
    hues = rng.uniform(40, 215, size=(classes, 3))
    grid = np.linspace(0.0, 2 * np.pi, size, dtype=np.float64)
    x = np.empty((count, size, size, 3), dtype=np.uint8)
    for i in range(count):
        fx, fy = rng.uniform(0.5, 2.0, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(fx * grid[None, :] + fy * grid[:, None] + phase)[..., None]
        image = hues[y[i]] + 35.0 * wave + rng.normal(0, 3.0, size=(size, size, 3))
        x[i] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return x, y, class_names(classes)


def write_npz(
    path: str | os.PathLike[str],
    n_per_class: int = 8,
    classes: int = 4,
    size: int = 32,
    seed: int = 0,
    *,
    with_labels: bool = True,
    y_dtype: str = "int64",
) -> Arrays:
    """Write ``x``, ``y`` (and ``labels`` unless ``with_labels=False``) to ``path``."""
    x, y, names = make_arrays(n_per_class, classes, size, seed)
    extra = {"labels": np.asarray(names)} if with_labels else {}
    np.savez(path, x=x, y=y.astype(y_dtype), **extra)
    return x, y, names


def write_image_folder(
    root: str | os.PathLike[str],
    n_per_class: int = 8,
    classes: int = 4,
    size: int = 32,
    seed: int = 0,
    *,
    fmt: str = "png",
) -> Arrays:
    """Write ``root/<class>/<index>.<fmt>`` ("png" or "jpg", JPEG quality 95). Returns the
    written arrays in loader order (by class, then file name)."""
    from PIL import Image

    x, y, names = make_arrays(n_per_class, classes, size, seed)
    order = np.argsort(y, kind="stable")
    for i in order:
        folder = Path(root) / names[y[i]]
        folder.mkdir(parents=True, exist_ok=True)
        options = {"quality": 95} if fmt == "jpg" else {}
        Image.fromarray(x[i]).save(folder / f"{i:05d}.{fmt}", **options)
    return x[order], y[order], names


def write_mixed_folder(
    root: str | os.PathLike[str], classes: int = 3, seed: int = 0
) -> list[tuple[str, int]]:
    """Images of different sizes and modes (RGB PNG, grey PNG, RGBA PNG, RGB JPEG) in
    ``classes`` class folders; returns (path, label) in loader order."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    written: list[tuple[str, int]] = []
    shapes = [(20, 28), (40, 40), (33, 17), (48, 64)]
    for label, name in enumerate(class_names(classes)):
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
        for k, (h, w) in enumerate(shapes):
            pixels = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
            if k == 0:
                image, file = Image.fromarray(pixels[..., :3]), f"{k}.png"
            elif k == 1:
                image, file = Image.fromarray(pixels[..., 0]), f"{k}.png"  # grey
            elif k == 2:
                image, file = Image.fromarray(pixels, mode="RGBA"), f"{k}.png"
            else:
                image, file = Image.fromarray(pixels[..., :3]), f"{k}.jpg"
            image.save(folder / file)
            written.append((str(folder / file), label))
    return written


def write_corrupt_files(folder: str | os.PathLike[str]) -> list[str]:
    """Three unreadable images in ``folder``: garbage ``.png``, truncated PNG, truncated JPEG."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    good = np.full((16, 16, 3), 128, dtype=np.uint8)
    (folder / "zz_garbage.png").write_bytes(b"this is not an image" * 10)
    Image.fromarray(good).save(folder / "zz_full.png")
    data = (folder / "zz_full.png").read_bytes()
    (folder / "zz_full.png").unlink()
    (folder / "zz_truncated.png").write_bytes(data[: len(data) // 2])
    Image.fromarray(good).save(folder / "zz_full.jpg", quality=90)
    data = (folder / "zz_full.jpg").read_bytes()
    (folder / "zz_full.jpg").unlink()
    (folder / "zz_truncated.jpg").write_bytes(data[: len(data) - 40])
    return sorted(str(p) for p in folder.glob("zz_*"))


def _planar(x: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> (N, 3072) rows: 1024 red, 1024 green, 1024 blue (CIFAR layout)."""
    return x.transpose(0, 3, 1, 2).reshape(len(x), -1).copy()


class _Python2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pickles ``bytes`` as Python 2 ``str`` opcodes (SHORT_BINSTRING/BINSTRING), as the
    original CIFAR files were written by Python 2 (they load with ``encoding="bytes"``)."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def _dump(path: Path, obj: dict[bytes, object]) -> None:
    """Protocol-2 pickle as Python 2 numpy wrote it (``numpy.core.multiarray`` globals)."""
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    data = buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    Path(path).write_bytes(data)


def write_cifar10_pickles(
    root: str | os.PathLike[str], n_per_class: int = 5, classes: int = 10, seed: int = 0
) -> tuple[Path, Arrays, Arrays]:
    """``root/cifar-10-batches-py`` laid out like the original (five ``data_batch_*``,
    ``test_batch``, ``batches.meta``; bytes keys, pickle protocol 2). Returns the directory,
    the train arrays (batches concatenated in order) and the test arrays."""
    x, y, names = make_arrays(n_per_class, classes, 32, seed)
    xt, yt, _ = make_arrays(2, classes, 32, seed + 1)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    parts = np.array_split(np.arange(len(x)), 5)
    for number, part in enumerate(parts, start=1):
        _dump(folder / f"data_batch_{number}", _cifar10_batch(x[part], y[part], number))
    _dump(folder / "test_batch", _cifar10_batch(xt, yt, 0))
    meta = {
        b"num_cases_per_batch": int(len(parts[0])),
        b"label_names": [n.encode() for n in names],
        b"num_vis": 3072,
    }
    _dump(folder / "batches.meta", meta)
    return folder, (x, y, names), (xt, yt, names)


def _cifar10_batch(x: np.ndarray, y: np.ndarray, number: int) -> dict[bytes, object]:
    label = f"training batch {number} of 5" if number else "testing batch 1 of 1"
    return {
        b"batch_label": label.encode(),
        b"labels": [int(v) for v in y],
        b"data": _planar(x),
        b"filenames": [f"image_{number}_{i}.png".encode() for i in range(len(x))],
    }


def write_cifar100_pickles(
    root: str | os.PathLike[str], n_per_class: int = 3, classes: int = 6, seed: int = 0
) -> tuple[Path, Arrays, Arrays, np.ndarray]:
    """``root/cifar-100-python`` laid out like the original (``train``, ``test``, ``meta``).
    Coarse label of fine class k is ``k // 2``. Returns the directory, train arrays (fine
    labels), test arrays (fine labels) and the train coarse labels."""
    x, y, names = make_arrays(n_per_class, classes, 32, seed)
    xt, yt, _ = make_arrays(1, classes, 32, seed + 1)
    coarse_names = [f"group{i:02d}" for i in range((classes + 1) // 2)]
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for split, xs, ys in (("train", x, y), ("test", xt, yt)):
        _dump(
            folder / split,
            {
                b"filenames": [f"{split}_{i}.png".encode() for i in range(len(xs))],
                b"batch_label": f"{split}ing batch 1 of 1".encode(),
                b"fine_labels": [int(v) for v in ys],
                b"coarse_labels": [int(v) // 2 for v in ys],
                b"data": _planar(xs),
            },
        )
    meta = {
        b"fine_label_names": [n.encode() for n in names],
        b"coarse_label_names": [n.encode() for n in coarse_names],
    }
    _dump(folder / "meta", meta)
    return folder, (x, y, names), (xt, yt, names), y // 2
