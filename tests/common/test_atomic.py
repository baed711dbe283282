"""Atomic writes: the target appears whole or not at all; no temporary file survives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from common.atomic import write_json, write_text, write_with
from trainer.atomic import savez


def test_write_then_replace(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    write_text(target, "one")
    write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]


def test_failed_writer_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    write_json(target, {"v": 1})

    def broken(path: Path) -> None:
        path.write_text('{"v": 2')  # half written, then the writer dies
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_with(target, broken)
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_savez_round_trip_and_suffix(tmp_path: Path) -> None:
    savez(tmp_path / "s.npz", a=np.arange(3, dtype=np.uint8))
    assert np.load(tmp_path / "s.npz")["a"].tolist() == [0, 1, 2]
    seen: list[str] = []
    write_with(tmp_path / "m.keras", lambda p: (seen.append(p.name), p.write_bytes(b"x")),
               suffix=".keras")
    assert seen[0].endswith(".keras") and seen[0].startswith(".m.keras.")


def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    """Published files must be readable by another user (a serving container)."""
    import importlib
    import os
    import stat

    import common.atomic as atomic

    mask = os.umask(0o022)
    try:
        importlib.reload(atomic)  # the mode is computed from the umask at import
        target = atomic.write_text(tmp_path / "labels.txt", "a\nb\n")
    finally:
        os.umask(mask)
        importlib.reload(atomic)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
