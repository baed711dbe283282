"""Bench statistics and the load engine, incl. the coordinated-omission test."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from clients.bench_run import BenchConfig, measure
from clients.bench_stats import WindowStats, is_stable, percentile, summarize
from clients.bench_targets import RestTarget
from tests.clients.slow_server import StallServer


def test_percentile_is_nearest_rank() -> None:
    values = np.arange(1, 101, dtype=float)  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 99.9) == 100
    assert percentile(values[:1], 50) == 1
    assert np.isnan(percentile(np.empty(0), 50))


def _window(ok: int, lat: float, seconds: float = 1.0) -> WindowStats:
    return WindowStats(seconds=seconds, ok=ok, latencies=np.full(ok, lat))


def test_stability_rule() -> None:
    assert not is_stable([_window(100, 0.01), _window(100, 0.01)])
    assert is_stable([_window(50, 0.5), _window(100, 0.01), _window(105, 0.0105),
                      _window(96, 0.0098)])
    assert not is_stable([_window(100, 0.01), _window(100, 0.01), _window(130, 0.01)])
    assert not is_stable([_window(100, 0.01), _window(100, 0.01), _window(100, 0.02)])
    merged = summarize([_window(10, 0.1), _window(30, 0.2, 2.0)])
    assert merged.ok == 40 and merged.seconds == 3.0 and len(merged.latencies) == 40
    assert merged.percentiles()["max"] == 0.2


def _run(url: str, cfg: BenchConfig, stall: StallServer, **load) -> np.ndarray:
    target = RestTarget(url, "/v1/models/m:predict", [b'{"instances": [1.0]}'], timeout=10)
    # stall the server shortly after measurement starts (warmup is cfg.warmup seconds)
    timer = threading.Timer(cfg.warmup + 0.1, stall.stall, args=(0.5,))
    timer.start()
    windows, _, _ = asyncio.run(measure(target, load.get("concurrency"), load.get("rate"),
                                        cfg))
    timer.join()
    return summarize(windows).latencies


def test_open_loop_counts_queueing_delay_closed_loop_does_not() -> None:
    """A 0.5 s stall at 200 req/s delays ~100 scheduled requests. Measured from the scheduled
    send time (open loop) they all show it; a send-wait-send loop records one slow request."""
    cfg = BenchConfig(warmup=0.3, duration=1.5, window=0.5, stability=0.0)
    with StallServer() as srv:
        open_lat = _run(srv.url, cfg, srv, rate=200.0)
        closed_lat = _run(srv.url, cfg, srv, concurrency=1)
    slow_open = int((open_lat > 0.1).sum())
    slow_closed = int((closed_lat > 0.1).sum())
    assert slow_open >= 50, f"open loop saw only {slow_open} delayed requests"
    assert slow_closed <= 2
    assert open_lat.max() >= 0.4 and closed_lat.max() >= 0.4
    assert percentile(np.sort(open_lat), 90) > 0.2
    assert percentile(np.sort(closed_lat), 90) < 0.05


def test_hung_requests_count_as_timeouts() -> None:
    cfg = BenchConfig(warmup=0.0, duration=1.5, window=0.5, stability=0.0, timeout=0.2)
    with StallServer() as srv:
        srv.stall(0.6)
        target = RestTarget(srv.url, "/v1/models/m:predict", [b"{}"], timeout=cfg.timeout)
        windows, _, _ = asyncio.run(measure(target, 2, None, cfg))
    merged = summarize(windows)
    assert merged.errors.get("timeout", 0) >= 1
    assert merged.ok > 0  # after the stall, the workers reconnected and carried on


def test_open_loop_backlog_is_bounded() -> None:
    from clients.bench_loop import Recorder, open_loop

    async def run() -> Recorder:
        rec, stop = Recorder(), asyncio.Event()
        rec.start()
        with StallServer() as srv:
            srv.stall(1.0)
            target = RestTarget(srv.url, "/v1/models/m:predict", [b"{}"], timeout=5)
            asyncio.get_running_loop().call_later(0.5, stop.set)
            await open_loop(target, 400.0, rec, stop, max_connections=2, max_backlog=20,
                            drain_timeout=3.0)
            await target.close()
        return rec

    rec = asyncio.run(run())
    assert rec.errors["client_backlog"] >= 100  # ~200 scheduled in 0.5 s, 20 admitted
