"""Version numbering and atomic publication (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.errors import PublishError
from exporter.publish import (
    STAGING_PREFIX,
    check_target,
    existing_versions,
    make_staging,
    next_version,
    publish,
)


def test_next_version_ignores_non_integer_dirs(tmp_path: Path) -> None:
    assert next_version(tmp_path / "missing") == 1
    for name in ("1", "3", "10", ".tmp-export-abc", "latest", "7a"):
        (tmp_path / name).mkdir()
    (tmp_path / "12").write_text("a file, not a version")
    assert existing_versions(tmp_path) == [1, 3, 10]
    assert next_version(tmp_path) == 11


def test_staging_name_is_ignored_by_version_pollers(tmp_path: Path) -> None:
    staging = make_staging(tmp_path / "models" / "m")
    assert staging.parent == tmp_path / "models" / "m"
    assert staging.name.startswith(STAGING_PREFIX) and not staging.name.isdigit()
    assert existing_versions(staging.parent) == []
    assert staging.stat().st_mode & 0o777 == 0o755


def test_publish_renames_staging_into_place(tmp_path: Path) -> None:
    staging = make_staging(tmp_path)
    (staging / "saved_model.pb").write_bytes(b"x")
    target = publish(staging, tmp_path, 4, force=False)
    assert target == tmp_path / "4" and (target / "saved_model.pb").read_bytes() == b"x"
    assert not staging.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["4"]


def test_existing_version_refused_without_force(tmp_path: Path) -> None:
    (tmp_path / "2").mkdir()
    with pytest.raises(PublishError, match="already exists; pass --force"):
        check_target(tmp_path, 2, force=False)
    staging = make_staging(tmp_path)
    with pytest.raises(PublishError, match="already exists"):
        publish(staging, tmp_path, 2, force=False)
    with pytest.raises(PublishError, match="positive integer"):
        check_target(tmp_path, 0, force=True)


def test_force_replaces_and_cleans_up(tmp_path: Path) -> None:
    old = tmp_path / "2"
    old.mkdir()
    (old / "old.txt").write_text("old")
    staging = make_staging(tmp_path)
    (staging / "new.txt").write_text("new")
    publish(staging, tmp_path, 2, force=True)
    assert sorted(p.name for p in (tmp_path / "2").iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2"]  # no .tmp-* leftovers


def test_unwritable_base_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "models"
    blocker.write_text("a file where the model directory should go")
    with pytest.raises(PublishError, match="models"):
        make_staging(blocker / "name")
