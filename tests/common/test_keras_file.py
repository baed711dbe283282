"""``common.keras_file``: what a ``.keras`` file would run, read without Keras."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from common.keras_file import scan_keras_file


def _keras_file(path: Path, config: object) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    return path


def test_finds_code_and_savedmodels_anywhere_in_the_config(tmp_path: Path) -> None:
    config = {"class_name": "Functional", "config": {"layers": [
        {"class_name": "InputLayer", "config": {}},
        {"class_name": "TFSMLayer", "config": {"filepath": str(tmp_path / "hub" / ".." / "hub")}},
        {"class_name": "Sequential", "config": {"layers": [
            {"class_name": "Lambda", "config": {"function": {"class_name": "__lambda__"}}},
        ]}},
    ]}}
    scan = scan_keras_file(_keras_file(tmp_path / "m.keras", config))
    assert scan.unsafe == ("Lambda", "__lambda__")
    assert scan.savedmodels == (str((tmp_path / "hub").resolve()),)


def test_a_plain_model_has_nothing_to_refuse(tmp_path: Path) -> None:
    config = {"class_name": "Functional", "config": {"layers": [{"class_name": "Dense"}]}}
    scan = scan_keras_file(_keras_file(tmp_path / "m.keras", config))
    assert scan.unsafe == () and scan.savedmodels == ()


@pytest.mark.parametrize("content", [b"not a zip", None])
def test_unreadable_files_are_one_line_errors(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "m.keras"
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("other.json", "{}")
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=r"cannot read .*m\.keras as a \.keras file") as err:
        scan_keras_file(path)
    assert "\n" not in str(err.value)
