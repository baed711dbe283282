"""Prometheus text rendering with TF Serving's metric names."""

from __future__ import annotations

import pytest

from serving.metrics import Counter, Histogram, Registry, ServingMetrics, exponential_buckets


def test_counter_and_histogram_text():
    registry = Registry()
    counter = registry.add(Counter(":a:count", ("model_name", "status")))
    histogram = registry.add(Histogram(":a:latency", ("model_name",), [10, 100]))
    counter.inc("m", "OK")
    counter.inc("m", "OK")
    counter.inc("m", "NOT_FOUND")
    for value in (5, 50, 500):
        histogram.observe(value, "m")
    assert registry.render() == (
        "# TYPE :a:count counter\n"
        ':a:count{model_name="m",status="NOT_FOUND"} 1\n'
        ':a:count{model_name="m",status="OK"} 2\n'
        "# TYPE :a:latency histogram\n"
        ':a:latency_bucket{model_name="m",le="10"} 1\n'
        ':a:latency_bucket{model_name="m",le="100"} 2\n'
        ':a:latency_bucket{model_name="m",le="+Inf"} 3\n'
        ':a:latency_sum{model_name="m"} 555\n'
        ':a:latency_count{model_name="m"} 3\n'
    )


def test_serving_metrics_names_and_success_only_latency():
    metrics = ServingMetrics()
    metrics.record_request("hp", "predict", "REST", "OK", 120.0)
    metrics.record_request("hp", "predict", "REST", "INVALID_ARGUMENT", 5.0)
    text = metrics.render()
    assert ':tensorflow:serving:request_count{model_name="hp",status="OK"} 1' in text
    assert ':tensorflow:serving:request_count{model_name="hp",status="INVALID_ARGUMENT"} 1' in text
    assert (
        ':tensorflow:serving:request_latency_count{model_name="hp",API="predict",'
        'entrypoint="REST"} 1' in text
    )
    for name in ("runtime_latency", "batching_session:queuing_latency",
                 "batching:processed_batch_size"):
        assert f"# TYPE :tensorflow:serving:{name} histogram" in text


def test_exponential_buckets_match_tf_monitoring():
    assert exponential_buckets(10, 1.8, 3) == pytest.approx([10, 18, 32.4])
