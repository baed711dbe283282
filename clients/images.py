"""Read the images a CLI user points at: PNG/JPEG files, directories, ``.npz`` arrays.

- a file: decoded with Pillow; its bytes are kept so ``encoded`` mode sends them unchanged;
- a directory: its image files (sorted); if it has class sub-directories instead, each
  image's true label is its sub-directory name;
- ``.npz``: ``x`` ``(N, H, W[, C])`` and optional ``y`` (class ids); class names come from
  a ``labels.txt`` next to the file when there is one.

Unreadable files are skipped and listed in ``ImageSet.skipped`` with the reason.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clients.prepare import ImageItem

__all__ = ["ImageSet", "load_images", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class ImageSet:
    """Images with display names and, when known, true class ids or names."""

    items: list[ImageItem] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    true_ids: list[int | None] = field(default_factory=list)
    true_names: list[str | None] = field(default_factory=list)
    class_names: list[str] | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, item: ImageItem, name: str, true_id: int | None = None,
            true_name: str | None = None) -> None:
        """Append one image."""
        self.items.append(item)
        self.names.append(name)
        self.true_ids.append(true_id)
        self.true_names.append(true_name)

    def __len__(self) -> int:
        return len(self.items)


def _read_file(path: Path) -> ImageItem:
    from PIL import Image, UnidentifiedImageError

    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as img:
            arr = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"not a readable PNG/JPEG image ({exc.__class__.__name__})") from exc
    return ImageItem(array=arr, encoded=data)


def _read_labels(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


def _load_npz(path: Path, out: ImageSet) -> None:
    with np.load(path, allow_pickle=False) as data:
        if "x" not in data:
            raise ValueError(f"has arrays {sorted(data.files)}; expected 'x' (and optional 'y')")
        x = data["x"]
        y = data.get("y", None)
    if x.ndim not in (3, 4):
        raise ValueError(f"'x' has shape {x.shape}; expected (N, H, W) or (N, H, W, C)")
    names = _read_labels(path.parent / "labels.txt")
    out.class_names = out.class_names or names
    for i in range(len(x)):
        true_id = int(y[i]) if y is not None else None
        true_name = names[true_id] if names and true_id is not None and \
            0 <= true_id < len(names) else None
        out.add(ImageItem(array=x[i]), f"{path.name}[{i}]", true_id, true_name)


def _add_file(path: Path, out: ImageSet, true_name: str | None = None) -> None:
    try:
        out.add(_read_file(path), str(path), None, true_name)
    except (ValueError, OSError) as exc:
        out.skipped.append((str(path), str(exc)))


def _load_dir(path: Path, out: ImageSet) -> None:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    subdirs = sorted(p for p in path.iterdir() if p.is_dir())
    for f in files:
        _add_file(f, out)
    for sub in subdirs:
        for f in sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            _add_file(f, out, true_name=sub.name)


def load_images(paths: list[str | Path]) -> ImageSet:
    """Load every path; missing, unreadable or unsupported ones go to ``skipped`` (with the
    reason) instead of raising, so one bad file does not stop a batch."""
    out = ImageSet()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            out.skipped.append((str(path), "no such file or directory"))
        elif path.is_dir():
            _load_dir(path, out)
        elif path.suffix.lower() == ".npz":
            try:
                _load_npz(path, out)
            except (ValueError, OSError) as exc:
                out.skipped.append((str(path), str(exc)))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            _add_file(path, out)
        else:
            out.skipped.append((str(path), f"unsupported file type; accepted: .npz, "
                                           f"{', '.join(IMAGE_SUFFIXES)} or a directory"))
    return out
