"""``exporter.staging``: the next export removes staging directories whose owner died (the lock
is gone), spares live ones and young unlocked claims, and puts back a version that a killed
``--force`` export had moved away. Owners are real processes killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporter.publish import STAGING_PREFIX
from exporter.staging import CLAIM_PREFIX, REPLACED_PREFIX, claim, release, sweep_stale

ROOT = Path(__file__).resolve().parents[2]

_HOLDER = """
import os, sys, time
from pathlib import Path
from exporter.publish import REPLACED_PREFIX, make_staging
from exporter.staging import new_locked_dir
base = Path(sys.argv[1])
if len(sys.argv) > 2:  # a --force publish stopped between its two renames
    held = new_locked_dir(base, REPLACED_PREFIX)
    os.replace(base / sys.argv[2], held / sys.argv[2])
else:
    held = make_staging(base)
    (held / "saved_model.pb").write_bytes(b"partial")
print(held, flush=True)
time.sleep(600)
"""


def _hold_staging(base: Path, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    """A process that creates and owns a staging directory in ``base`` (or, given a version,
    moves that version into a replaced-version directory it owns), then sleeps."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(base), *extra], cwd=ROOT,
                            text=True, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_sweep_keeps_live_staging_and_removes_dead_ones(tmp_path: Path) -> None:
    live, live_dir = _hold_staging(tmp_path)
    dead, dead_dir = _hold_staging(tmp_path)
    try:
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        assert sweep_stale(tmp_path) == [dead_dir]
        assert live_dir.is_dir() and not dead_dir.exists()
    finally:
        live.kill()
        live.wait()
    assert sweep_stale(tmp_path) == [live_dir]


def test_sweep_spares_young_claims_and_own_staging(tmp_path: Path) -> None:
    young = tmp_path / f"{CLAIM_PREFIX}young"
    young.mkdir()  # like a directory its owner has not locked yet
    old = tmp_path / f"{CLAIM_PREFIX}old"
    old.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    fresh = tmp_path / f"{CLAIM_PREFIX}mine"
    fresh.mkdir()
    mine = claim(fresh, tmp_path / f"{STAGING_PREFIX}mine")
    (mine / "variables").mkdir()
    try:
        assert sweep_stale(tmp_path) == [old]
        assert young.is_dir() and mine.is_dir() and not fresh.exists()
    finally:
        release(mine)
    assert sweep_stale(tmp_path) == [mine]  # unlocked now: an orphan


@pytest.mark.parametrize("published", [False, True])
def test_sweep_restores_a_version_a_killed_force_export_moved_away(tmp_path: Path,
                                                                   published: bool) -> None:
    (tmp_path / "3" / "variables").mkdir(parents=True)
    (tmp_path / "3" / "saved_model.pb").write_bytes(b"old version")
    holder, replaced = _hold_staging(tmp_path, "3")
    assert replaced.name.startswith(REPLACED_PREFIX) and not (tmp_path / "3").exists()
    assert sweep_stale(tmp_path) == []  # its owner is alive
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    if published:  # killed after the new version was renamed in: the old one is garbage
        (tmp_path / "3").mkdir()
        (tmp_path / "3" / "saved_model.pb").write_bytes(b"new version")
    assert sweep_stale(tmp_path) == [replaced]
    expected = b"new version" if published else b"old version"
    assert (tmp_path / "3" / "saved_model.pb").read_bytes() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3"]
