"""Run directory validation and option parsing: one clear line per problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from exporter.config import FAMILIES, QUANTIZATIONS, parse_list
from exporter.errors import ExportError, RunDirError
from exporter.export import resolve_top_k
from exporter.formats import select_formats
from exporter.run_dir import load_run_info

META = {"image_size": 32, "num_classes": 2, "labels": ["a", "b"], "input_name": "image"}


def _run(tmp_path: Path, meta: dict | None = META, model: bool = True) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    if meta is not None:
        (run / "model.json").write_text(json.dumps(meta))
    if model:
        (run / "model.keras").write_bytes(b"not read by load_run_info")
    return run


def test_valid_run_dir(tmp_path: Path) -> None:
    info = load_run_info(_run(tmp_path))
    assert (
        info.image_size == 32
        and info.labels == ("a", "b")
        and info.model_path.name == "model.keras"
    )


@pytest.mark.parametrize(
    ("meta", "model", "message"),
    [
        (None, True, "model.json is missing"),
        (META, False, "no model file model.keras"),
        ({"image_size": 32}, True, "lacks num_classes, labels"),
        ({**META, "num_classes": 3}, True, "inconsistent"),
        ({**META, "image_size": "big"}, True, "must be integers"),
        ({**META, "input_name": "input_1"}, True, "needs 'image'"),
    ],
)
def test_bad_run_dirs(tmp_path: Path, meta, model, message) -> None:
    with pytest.raises(RunDirError, match=message) as info:
        load_run_info(_run(tmp_path, meta, model))
    assert "\n" not in str(info.value)


def test_missing_dir_and_label_mismatch(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="does not exist"):
        load_run_info(tmp_path / "nope")
    run = _run(tmp_path)
    (run / "labels.txt").write_text("a\nc\n")
    with pytest.raises(RunDirError, match="disagrees"):
        load_run_info(run)
    shutil.rmtree(run)


def test_format_and_quantize_options() -> None:
    assert parse_list("onnx, TFLite", FAMILIES, "format") == ("onnx", "tflite")
    assert parse_list("none", QUANTIZATIONS, "quantization") == ()
    assert parse_list(None, QUANTIZATIONS, "quantization") == QUANTIZATIONS
    with pytest.raises(ValueError, match="unknown format 'pt'; accepted: savedmodel, tflite, onnx"):
        parse_list("onnx,pt", FAMILIES, "format")
    names = [f.name for f in select_formats(("tflite", "onnx"), ("int8",))]
    assert names == ["tflite", "tflite_int8", "onnx"]
    with pytest.raises(ExportError, match="needs the tflite format"):
        select_formats(("onnx",), ("int8",))
    with pytest.raises(ExportError, match="no format"):
        select_formats((), ())


def test_top_k_default_and_bounds() -> None:
    assert resolve_top_k(None, 10) == 5 and resolve_top_k(None, 3) == 3
    assert resolve_top_k(2, 10) == 2
    with pytest.raises(ExportError, match="between 1 and 3"):
        resolve_top_k(4, 3)
