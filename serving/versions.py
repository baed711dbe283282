"""Version directories on disk and which of them a version policy aspires.

A version directory is a child of the model's base path whose name parses as an int64
(``00000123`` is 123, as ``absl::SimpleAtoi`` reads it); other entries are ignored.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from serving.model_config import VersionPolicy

__all__ = ["parse_version", "scan_versions", "aspired_versions", "fingerprint"]

log = logging.getLogger(__name__)
_INT64_MAX = 2**63 - 1


def parse_version(name: str) -> int | None:
    """The version number a directory name stands for, or None if it is not an int64."""
    text = name[1:] if name[:1] == "+" else name
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= _INT64_MAX else None


def scan_versions(base_path: Path) -> dict[int, Path]:
    """Map version -> directory under ``base_path``; raises ``OSError`` if it is unreadable.

    When two names denote the same number (``1`` and ``001``) the lexically smallest wins,
    with a warning, so the choice is stable across polls.
    """
    found: dict[int, Path] = {}
    with os.scandir(base_path) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            version = parse_version(entry.name)
            if version is None or not entry.is_dir():
                continue
            if version in found:
                log.warning(
                    "version %d of %s appears twice (%s, %s); using %s",
                    version,
                    base_path,
                    found[version].name,
                    entry.name,
                    found[version].name,
                )
                continue
            found[version] = Path(entry.path)
    return found


def aspired_versions(on_disk: set[int] | list[int], policy: VersionPolicy) -> set[int]:
    """The versions ``policy`` wants served among those on disk."""
    versions = sorted(set(on_disk))
    if policy.kind == "all":
        return set(versions)
    if policy.kind == "specific":
        return set(policy.versions) & set(versions)
    return set(versions[-max(policy.num_versions, 1) :]) if versions else set()


def fingerprint(version_dir: Path) -> tuple:
    """A cheap signature of a directory tree (relative path, size, mtime of every entry).

    A failed version is retried only when its fingerprint changes (e.g. a copy finished).
    """
    items: list[tuple[str, int, int]] = []
    for root, dirs, files in os.walk(version_dir):
        dirs.sort()
        for name in sorted(files) + dirs:
            full = os.path.join(root, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            items.append((os.path.relpath(full, version_dir), st.st_size, st.st_mtime_ns))
    return tuple(items)
