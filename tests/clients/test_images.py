"""Loading images: files, directories, class sub-directories, .npz, unreadable files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from clients.images import load_images


def _png(path: Path, value: int, mode: str = "RGB") -> None:
    size = (6, 5)
    Image.new(mode, size, value if mode == "L" else (value, 0, 0)).save(path)


def test_files_directories_and_bad_files(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", 10)
    _png(tmp_path / "b.png", 20, mode="L")
    Image.new("RGB", (4, 4)).save(tmp_path / "c.jpg", quality=90)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored in directories")
    out = load_images([tmp_path, tmp_path / "notes.txt", tmp_path / "missing.png"])
    assert [Path(n).name for n in out.names] == ["a.png", "b.png", "c.jpg"]
    assert out.items[1].pixels().shape == (5, 6, 3)  # grey became RGB
    assert out.items[0].encoded == (tmp_path / "a.png").read_bytes()
    reasons = dict(out.skipped)
    assert "not a readable PNG/JPEG" in reasons[str(tmp_path / "broken.png")]
    assert "unsupported file type" in reasons[str(tmp_path / "notes.txt")]
    assert "no such file" in reasons[str(tmp_path / "missing.png")]


def test_class_subdirectories_give_true_names(tmp_path: Path) -> None:
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        _png(tmp_path / cls / "1.png", 5)
    out = load_images([tmp_path])
    assert out.true_names == ["cat", "dog"]
    assert out.true_ids == [None, None]


def test_npz_with_labels_file(tmp_path: Path) -> None:
    x = np.arange(3 * 4 * 4 * 3, dtype=np.uint8).reshape(3, 4, 4, 3)
    np.savez(tmp_path / "val.npz", x=x, y=np.array([1, 0, 1]))
    (tmp_path / "labels.txt").write_text("zero\none\n")
    out = load_images([tmp_path / "val.npz"])
    assert out.names == ["val.npz[0]", "val.npz[1]", "val.npz[2]"]
    assert out.true_ids == [1, 0, 1]
    assert out.true_names == ["one", "zero", "one"]
    assert out.class_names == ["zero", "one"]
    assert np.array_equal(out.items[2].pixels(), x[2])
    np.savez(tmp_path / "bad.npz", images=x)
    bad = load_images([tmp_path / "bad.npz"])
    assert len(bad) == 0 and "expected 'x'" in bad.skipped[0][1]
