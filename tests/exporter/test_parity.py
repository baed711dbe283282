"""The parity report object: metrics, thresholds, serialisation and the test helper."""

from __future__ import annotations

import numpy as np
import pytest

from exporter.config import Thresholds, parse_thresholds
from exporter.parity import (
    FormatReport,
    ParityReport,
    accuracy,
    assert_parity,
    compare,
    median_latency_ms,
)


def _report(agreement: float, threshold: float = 0.999, name: str = "onnx") -> FormatReport:
    return FormatReport(
        format=name,
        file="model.onnx",
        precision="float32",
        size_bytes=10,
        n_samples=200,
        top1_agreement=agreement,
        max_abs_diff=0.1,
        mean_abs_diff=0.01,
        threshold=threshold,
        accuracy=0.5,
        latency_ms={"1": 1.0, "32": 5.0},
    )


def test_compare_counts_agreement_and_differences() -> None:
    ref = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], np.float32)
    other = np.array([[0.8, 0.2], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]], np.float32)
    agree, max_diff, mean_diff = compare(ref, other)
    assert agree == 0.75
    assert max_diff == pytest.approx(0.2)
    assert mean_diff == pytest.approx((0.1 * 2 + 0.2 * 2) / 8)
    with pytest.raises(ValueError, match="shape mismatch"):
        compare(ref, other[:2])


def test_accuracy_needs_labels() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert accuracy(probs, np.array([0, 0])) == 0.5
    assert accuracy(probs, None) is None


def test_shortfall_names_format_and_gap() -> None:
    item = _report(0.96, threshold=0.97, name="tflite_int8")
    assert not item.passed
    text = item.shortfall()
    assert "tflite_int8" in text and "96.00%" in text and "97.00%" in text and "1.00 points" in text
    assert _report(0.97, threshold=0.97).passed


def test_report_roundtrip_and_table() -> None:
    report = ParityReport(
        "keras", "samples.npz:x_val", 200, 0.5, [_report(1.0), _report(0.5, name="x")]
    )
    assert not report.passed
    assert [f.format for f in report.failures()] == ["x"]
    data = report.to_dict()
    assert data["passed"] is False and data["formats"][0]["passed"] is True
    assert data["formats"][0]["accuracy_drop"] == 0.0
    again = ParityReport.from_dict(data)
    assert again.to_dict() == data
    table = report.table()
    assert "onnx" in table and "FAIL" in table and "100.00%" in table
    with pytest.raises(AssertionError, match="x: top-1 agreement 50.00%"):
        assert_parity(report)
    assert_parity(report, formats=["onnx"])


def test_latency_is_median_of_repeats() -> None:
    calls = []

    def predict(batch: np.ndarray) -> None:
        calls.append(len(batch))

    ms = median_latency_ms(predict, np.zeros((5, 2, 2, 3)), batch=32, repeats=3)
    assert ms >= 0
    assert calls == [32, 32, 32, 32]  # one warm-up + three timed, batch tiled up to 32


def test_thresholds_parse_and_defaults() -> None:
    assert Thresholds().for_precision("float16") == 0.995
    custom = parse_thresholds("int8=0.9, float16=0.99")
    assert custom.int8 == 0.9 and custom.float16 == 0.99 and custom.float32 == 0.999
    for bad in ("int4=0.9", "int8", "int8=abc", "int8=1.5"):
        with pytest.raises(ValueError):
            parse_thresholds(bad)
