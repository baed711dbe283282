"""The peer benchmark's parsers of wrk / h2load output, gRPC framing and profile buckets
(pure functions: no server, no load generator needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path[:0] = [str(BENCH / "peers"), str(BENCH)]

import loadgen  # noqa: E402
import serving_cpu  # noqa: E402

WRK = """Running 2s test @ http://127.0.0.1:8501/v1/models/m:predict
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.10ms    3.20ms  40.00ms   90.00%
    Req/Sec   320.00     20.00   350.00     80.00%
  Latency Distribution
     50%   11.54ms
     75%   13.00ms
     90%   15.00ms
     99%    1.20s
  640 requests in 2.00s, 1.00MB read
{extra}Requests/sec:    320.00
Transfer/sec:    500.00KB
"""

H2LOAD = """finished in 2.00s, 244.50 req/s, 1.2MB/s
requests: 489 total, 489 started, 489 done, 489 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 489 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 1.20MB (1258000) total, 10.00KB (10240) headers (space savings 90.00%), \
1.18MB ({data}) data
"""  # the backslash continues the traffic line


def test_wrk_clean_run() -> None:
    row = loadgen.parse_wrk(WRK.format(extra=""))
    assert row["rps"] == pytest.approx(320.0)
    assert row["p50_ms"] == pytest.approx(11.54)
    assert row["p99_ms"] == pytest.approx(1200.0)  # unit "s" converted
    assert row["errors"] == 0


def test_wrk_errors_are_not_throughput() -> None:
    extra = ("  Socket errors: connect 0, read 2, write 0, timeout 8\n"
             "  Non-2xx or 3xx responses: 30\n")
    row = loadgen.parse_wrk(WRK.format(extra=extra))
    assert row["errors"] == 40
    assert row["rps"] == pytest.approx((640 - 40) / 2.0)


def test_wrk_unreadable_output_is_a_failure_not_zero_errors() -> None:
    row = loadgen.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")
    assert row["rps"] == 0.0 and row["errors"] is None and "not understood" in row["note"]


def test_h2load_counts_answers_without_a_message_as_errors() -> None:
    lat = [float(v) for v in range(1, 101)]  # 1..100 ms
    ok = loadgen.parse_h2load(H2LOAD.format(data=489 * 2530), lat, 2530)
    assert ok["errors"] == 0 and ok["requests"] == 489
    assert ok["rps"] == pytest.approx(244.5)
    assert ok["p50_ms"] == 51.0 and ok["p99_ms"] == 100.0
    short = loadgen.parse_h2load(H2LOAD.format(data=400 * 2530), lat, 2530)
    assert short["errors"] == 89 and short["requests"] == 400
    assert short["rps"] == pytest.approx(244.5 * 400 / 489)


def test_h2load_without_latencies_is_a_failure() -> None:
    row = loadgen.parse_h2load(H2LOAD.format(data=100), [], 10)
    assert row["errors"] is None and row["rps"] == 0.0


def test_grpc_frame_is_length_prefixed() -> None:
    assert loadgen.grpc_frame(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert loadgen.grpc_frame(b"") == b"\x00" + b"\x00" * 4


def test_tfserving_predict_message_parses_back() -> None:
    import numpy as np

    from common import wire

    image = np.arange(2 * 32 * 32 * 3, dtype=np.uint8).reshape(2, 32, 32, 3)
    raw = loadgen.tfserving_predict_message("m", "serve_raw", "image", image)
    request = wire.PredictRequest.FromString(raw)
    assert request.model_spec.name == "m" and request.model_spec.signature_name == "serve_raw"
    tensor = request.inputs["image"]
    assert tensor.dtype == 4 and [d.size for d in tensor.tensor_shape.dim] == [2, 32, 32, 3]
    assert tensor.tensor_content == image.tobytes()


def test_profile_buckets(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "thread (0x7f01) MainThread;run (asyncio/base_events.py:600);"
        "Predict (serving/grpc_server.py:80);read_inputs (serving/grpc_convert.py:30) 7\n"
        "thread (0x7f02) pool_0;_worker (concurrent/futures/thread.py:80);"
        "predict (serving/backends/onnx.py:50) 3\n"
        "thread (0x7f01) MainThread;_run_once (uvloop/loop.pyx:1) 2\n")
    prof = serving_cpu.summarize_profile(raw)
    assert prof["samples"] == 12
    main = prof["threads"]["thread MainThread"]
    assert main == {"proto -> numpy (read_inputs)": 7, "asyncio / uvloop loop": 2}
    assert prof["threads"]["thread pool_0"] == {"model call (backend predict)": 3}
