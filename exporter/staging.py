"""Ownership of staging directories, so the next export can remove those of dead exports.

A staging directory (``models/NAME/.tmp-export-*``) is locked with ``flock`` by the export
that builds it for as long as that process works on it; the kernel drops the lock when the
process dies, even by SIGKILL. To have no moment where a staging directory exists unlocked,
it is created under ``CLAIM_PREFIX``, locked, and only then renamed to its staging name (the
lock belongs to the directory, not to its name).

:func:`sweep_stale` (run by every export before it stages) removes every staging directory
whose lock it can take: its owner died. A ``CLAIM_PREFIX`` directory without a lock is
either brand new (its owner is about to lock it) or was left by a kill in the instant
between creating and locking it (it is empty); it is removed once older than
``grace_seconds``. Without ``fcntl`` (not POSIX) nothing is locked and nothing is swept.

``--force`` moves the version it replaces into a locked ``REPLACED_PREFIX`` directory (as
``VERSION``) before renaming the new one in. If that export dies between the two renames, the
sweep puts the old version back (nothing else took its number); otherwise it deletes it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

CLAIM_PREFIX = ".tmp-claim-"
STAGING_PREFIX = ".tmp-export-"
REPLACED_PREFIX = ".tmp-replaced-"
DEFAULT_GRACE_SECONDS = 3600.0

_held: dict[str, int] = {}  # staging path -> open, flock-ed directory descriptor


def _fcntl() -> ModuleType | None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    return fcntl


def claim(fresh: Path, staging: Path) -> Path:
    """Lock the new, empty directory ``fresh`` for this process and rename it to
    ``staging``; returns ``staging``."""
    fcntl = _fcntl()
    if fcntl is None:
        os.rename(fresh, staging)
        return staging
    fd = os.open(fresh, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(fresh, staging)
    except OSError:
        os.close(fd)
        raise
    _held[str(staging)] = fd
    return staging


def new_locked_dir(base: Path, prefix: str) -> Path:
    """A new directory ``base/prefix*`` (mode 0755), locked by this process from the start."""
    fresh = Path(tempfile.mkdtemp(prefix=CLAIM_PREFIX, dir=base))
    fresh.chmod(0o755)  # mkdtemp makes 0700; a server running as another user must read
    return claim(fresh, base / (prefix + fresh.name[len(CLAIM_PREFIX):]))


def release(staging: Path) -> None:
    """Drop this process's lock on ``staging`` (after publishing or discarding it)."""
    fd = _held.pop(str(staging), None)
    if fd is not None:
        os.close(fd)


def _lock_if_free(path: Path, fcntl: ModuleType) -> int | None:
    """A descriptor of ``path`` holding its lock, or None if a live process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _restore_replaced(path: Path, base: Path) -> None:
    """Put back a version that a dead ``--force`` export moved away but never replaced."""
    for child in path.iterdir():
        if child.name.isdigit() and not (base / child.name).exists():
            os.rename(child, base / child.name)
            log.warning("restored %s: the export replacing it was interrupted", base / child.name)


def sweep_stale(base: Path, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> list[Path]:
    """Remove what dead exports left in ``base``: staging directories, replaced versions
    (put back first if still missing) and stale ``CLAIM_PREFIX`` directories. Returns the
    removed paths."""
    fcntl = _fcntl()
    if fcntl is None or not base.is_dir():
        return []
    removed: list[Path] = []
    for path in sorted(base.iterdir()):
        owned = path.name.startswith((STAGING_PREFIX, REPLACED_PREFIX))
        if not (owned or path.name.startswith(CLAIM_PREFIX)) or str(path) in _held:
            continue
        if not path.is_dir() or path.is_symlink():
            continue
        fd = _lock_if_free(path, fcntl)
        if fd is None:
            continue
        try:
            if owned or time.time() - path.stat().st_mtime > grace_seconds:
                if path.name.startswith(REPLACED_PREFIX):
                    _restore_replaced(path, base)
                shutil.rmtree(path)
                removed.append(path)
        except OSError as exc:
            log.warning("could not remove %s left by an interrupted export: %s", path, exc)
        finally:
            os.close(fd)
    for path in removed:
        log.info("removed %s, left by an interrupted export", path)
    return removed
