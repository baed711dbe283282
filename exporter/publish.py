"""Version numbering and atomic publication of a version directory.

Everything is built in a staging directory next to ``models/NAME/VERSION`` whose name a TF
Serving file-system poller ignores (``.tmp-export-*``: not all digits), then renamed into place
in one ``rename``. ``--force`` replaces an existing version by renaming it away first.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from pathlib import Path

from exporter.errors import PublishError
from exporter.staging import (
    REPLACED_PREFIX,
    STAGING_PREFIX,
    new_locked_dir,
    release,
    sweep_stale,
)

log = logging.getLogger(__name__)

__all__ = ["STAGING_PREFIX", "REPLACED_PREFIX", "existing_versions", "next_version",
           "describe_os_error", "make_staging", "check_target", "publish", "discard"]


def existing_versions(base: Path) -> list[int]:
    """Integer version directories under ``base`` (sorted)."""
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(base: Path) -> int:
    """One more than the highest existing integer version (1 for a new model)."""
    versions = existing_versions(base)
    return versions[-1] + 1 if versions else 1


def describe_os_error(exc: OSError, what: str) -> str:
    """One line for an OS error while doing ``what`` (disk full and permissions spelled out)."""
    if exc.errno == errno.ENOSPC:
        return f"disk full while {what}; free space and retry (nothing was published)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied while {what}: {exc.filename or ''}".rstrip(": ")
    return f"{what} failed: {exc.strerror or exc}"


def make_staging(base: Path) -> Path:
    """Create ``base`` if needed and a fresh staging directory inside it, owned (locked) by
    this process; first remove staging directories that dead exports left behind."""
    try:
        base.mkdir(parents=True, exist_ok=True)
        sweep_stale(base)
        return new_locked_dir(base, STAGING_PREFIX)
    except OSError as exc:
        raise PublishError(describe_os_error(exc, f"creating a directory in {base}")) from exc


def check_target(base: Path, version: int, force: bool) -> Path:
    """The target path; refuses an existing version unless ``force``."""
    if version < 1:
        raise PublishError(f"version must be a positive integer, got {version}")
    target = base / str(version)
    if target.exists() and not force:
        raise PublishError(f"{target} already exists; pass --force to replace it")
    return target


def publish(staging: Path, base: Path, version: int, force: bool) -> Path:
    """Rename ``staging`` to ``base/version`` atomically and return the new path.

    With ``force`` an existing version is renamed away, the new one renamed in, and the old
    one deleted; if the second rename fails the old version is put back.
    """
    target = check_target(base, version, force)
    _sync_tree(staging)
    replaced: Path | None = None
    try:
        if target.exists():
            replaced = new_locked_dir(base, REPLACED_PREFIX)
            os.replace(target, replaced / target.name)
        os.rename(staging, target)
    except OSError as exc:
        old = replaced / target.name if replaced is not None else None
        if old is not None and old.exists() and not target.exists():
            os.replace(old, target)
        raise PublishError(describe_os_error(exc, f"publishing {target}")) from exc
    finally:
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)
            release(replaced)
    release(staging)
    log.info("published %s", target)
    return target


def discard(staging: Path | None) -> None:
    """Remove a staging directory (after a failure); never raises."""
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)
        release(staging)


def _sync_tree(root: Path) -> None:
    """fsync every file so the renamed directory is complete on disk, not just in cache."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
