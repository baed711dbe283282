"""Load a directory of class sub-folders holding PNG/JPEG images of any size.

Sorted sub-folder names are the labels. Every file is checked cheaply at load time with
PIL's ``verify`` (plus a JPEG end-of-image marker check, since ``verify`` does not notice a
truncated JPEG); unreadable files are skipped and counted in ``ImageSet.skipped``. When all
images share one size and fit in ``MEMORY_CAP_BYTES`` they are decoded into ``x`` (RGB,
uint8); otherwise the set keeps ``paths`` and the tf.data pipeline decodes them lazily.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from trainer.data.types import ImageSet
from trainer.errors import DataError

__all__ = ["IMAGE_EXTENSIONS", "MEMORY_CAP_BYTES", "load_image_folder"]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
MEMORY_CAP_BYTES = 512 * 1024 * 1024
_FORMATS = ("PNG", "JPEG")


def load_image_folder(root: str, *, in_memory: bool | None = None) -> ImageSet:
    """Read ``root/<class>/<image>`` (non-recursive inside each class folder).

    ``in_memory``: None decodes into ``x`` when all images share one size and fit the cap,
    True always tries (falls back to paths for mixed sizes), False always keeps ``paths``.
    """
    labels = sorted(
        entry.name for entry in os.scandir(root) if entry.is_dir() and entry.name[0] != "."
    )
    listed = {label: _image_files(os.path.join(root, label)) for label in labels}
    if not any(listed.values()):
        raise DataError(
            f"{root}: no images found; expected one sub-folder per class holding "
            f"{'/'.join(e[1:].upper() for e in IMAGE_EXTENSIONS)} files"
        )
    empty = [label for label, files in listed.items() if not files]
    if empty:
        raise DataError(
            f"{root}: class folder {empty[0]!r} has no PNG/JPEG images; remove it or add images"
        )
    paths: list[str] = []
    y: list[int] = []
    sizes: list[tuple[int, int]] = []
    bad: list[str] = []
    for index, label in enumerate(labels):
        kept = 0
        for path in listed[label]:
            size = _verified_size(path)
            if size is None:
                bad.append(path)
                continue
            paths.append(path)
            y.append(index)
            sizes.append(size)
            kept += 1
        if kept == 0:
            raise DataError(f"{root}: class folder {label!r} has no readable images")
    ds = ImageSet(labels=labels, y=np.asarray(y, dtype=np.int64), paths=paths, source=root)
    ds.skipped = len(bad)
    if bad:
        log.warning("skipped %d unreadable image(s), e.g. %s", len(bad), bad[0])
        ds.notes.append(f"skipped {len(bad)} unreadable image(s), e.g. {bad[0]}")
    if _want_memory(in_memory, sizes):
        ds = _decode_all(ds)
    return ds


def _image_files(folder: str) -> list[str]:
    return sorted(
        entry.path
        for entry in os.scandir(folder)
        if entry.is_file()
        and not entry.name.startswith(".")
        and entry.name.lower().endswith(IMAGE_EXTENSIONS)
    )


def _verified_size(path: str) -> tuple[int, int] | None:
    """(width, height) of a PNG/JPEG that passes PIL's verify, else None."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.format not in _FORMATS:
                return None
            size = image.size
            fmt = image.format
            image.verify()
        if fmt == "JPEG" and not _has_jpeg_end(path):
            return None
    except Exception:  # PIL raises many types (OSError, SyntaxError, ValueError...)
        return None
    return size


def _has_jpeg_end(path: str) -> bool:
    """True when the end-of-image marker FF D9 is within the last 1 KiB (truncation check)."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 1024))
        return b"\xff\xd9" in handle.read()


def _want_memory(in_memory: bool | None, sizes: list[tuple[int, int]]) -> bool:
    if in_memory is False or len(set(sizes)) != 1:
        return False
    width, height = sizes[0]
    return in_memory is True or len(sizes) * width * height * 3 <= MEMORY_CAP_BYTES


def _decode_all(ds: ImageSet) -> ImageSet:
    """Decode every file into one uint8 RGB array; files that fail to decode are skipped."""
    from PIL import Image

    assert ds.paths is not None
    images: list[np.ndarray] = []
    keep: list[int] = []
    for i, path in enumerate(ds.paths):
        try:
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
            keep.append(i)
        except Exception:  # a file that verified but does not decode
            log.warning("skipped undecodable image %s", path)
    lost = len(ds.paths) - len(keep)
    y = ds.y[np.asarray(keep, dtype=np.int64)]
    counts = np.bincount(y, minlength=len(ds.labels))
    if not counts.all():
        label = ds.labels[int(np.argmin(counts))]
        raise DataError(f"{ds.source}: class folder {label!r} has no readable images")
    return ImageSet(
        labels=ds.labels,
        y=y,
        x=np.stack(images),
        source=ds.source,
        skipped=ds.skipped + lost,
        notes=ds.notes,
    )
