"""Atomic file writes: every file is written under a temporary name next to its target and
renamed into place, so a reader (or an interrupted run) never sees a half-written file."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["write_bytes", "write_text", "write_json", "write_with", "remove_stale_temps"]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; published files get the usual 0666 & ~umask instead, so a
# reader running as another user (an exporter job, a serving container) can open them.
# Read once at import, while the process is still single-threaded (os.umask is global).
_FILE_MODE = 0o666 & ~_current_umask()


# The names _temp_path gives: ".TARGET." + mkstemp's 8 random characters + ".tmp" + suffix.
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?")


def _temp_path(target: Path, suffix: str = "") -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}",
                                dir=target.parent)
    os.close(fd)
    return Path(name)


def write_with(target: str | os.PathLike[str], writer: Callable[[Path], None],
               suffix: str = "") -> Path:
    """Call ``writer(tmp_path)`` on a temporary path beside ``target``, then rename it to
    ``target``. ``suffix`` ends the temporary name (some writers insist on an extension)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(target, suffix)
    try:
        writer(tmp)
        if tmp.is_file():
            os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically."""
    return write_with(target, lambda p: p.write_bytes(data))


def write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically."""
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``target`` atomically."""
    return write_text(target, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def remove_stale_temps(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that writes into ``directory`` left when their process was
    killed (SIGKILL, power loss: no ``except`` ran). Only call this while no other process
    writes there (e.g. as ``--resume`` starts). Returns what was removed."""
    removed = []
    for path in Path(directory).iterdir():
        if _TEMP_NAME.fullmatch(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
