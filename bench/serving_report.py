"""Markdown tables of the serving benchmark (``bench/results/serving.md``).

Every table states its target, the measured value and whether it is met; where a target is
missed the "limit" column gives the measured facts that explain it (CPU used by the server
and by the load generator out of the machine's cores, merged batch sizes, server-side time).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["render"]

CORES = os.cpu_count() or 1
LAT_TARGETS = (("grpc", "server-resize", "serve_raw", 1.0),
               ("rest", "server-resize", "serve_raw", 1.0),
               ("rest", "client-resize", "serving_default", 5.0))


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _sp(s: dict[str, float], digits: int = 1) -> str:
    return f"{s['median']:,.{digits}f} [{s['min']:,.{digits}f}–{s['max']:,.{digits}f}]"


def _met(ok: bool) -> str:
    return "**yes**" if ok else "**no**"


def _cpu(p: dict[str, Any]) -> str:
    return (f"server {p['server_cpu_cores']:.2f} + generator {p['generator_cpu_cores']:.2f} "
            f"+ others {p.get('others_cpu_cores', 0.0):.2f} of {CORES} cores")


def _throughput(results: list[dict[str, Any]]) -> list[str]:
    rows = ["## Served throughput vs bare batched throughput (gRPC, batching on)", "",
            "Target: served / bare ≥ 0.8 (median of repeats, [min–max]). Bare = the backend's "
            "in-process `predict` on batches of 16 (best of 1 thread and one per core).", "",
            "| backend | path | best load | served img/s | bare img/s | ratio | target | met "
            "| server mean batch | CPU while served (bare: others' CPU) |",
            "|---|---|---|---:|---:|---:|---|---|---:|---|"]
    for r in results:
        t, bare = r["throughput"], r["bare"]["throughput"]
        rep = t["repeats"][-1]
        load = f"batch {t['best']['batch_size']} × c={t['best']['concurrency']}"
        ok = t["ratio"]["median"] >= 0.8
        rows.append(f"| {r['platform']} | serve_raw (raw 32×32 uint8) | {load} | "
                    f"{_sp(t['served'])} | {_sp(t['bare'])} ({bare['serve_raw']['threads']} thr) "
                    f"| {_sp(t['ratio'], 2)} | ≥ 0.8 | {_met(ok)} | "
                    f"{_f(rep.get('server_mean_batch'))} | {_cpu(rep)} (bare: others "
                    f"{max(b['others_cpu_cores'] for b in t['bare_runs']):.2f}) |")
        cr = t["client_resize"]
        ok = t["client_resize_ratio"] >= 0.8
        rows.append(f"| {r['platform']} | serving_default (client-resized float) | batch 16 × "
                    f"c=4 | {_f(cr['images_per_s'])} | "
                    f"{_f(bare['serving_default']['images_per_s'])} | "
                    f"{t['client_resize_ratio']:.2f} | (≥ 0.8) | {_met(ok)} | "
                    f"{_f(cr.get('server_mean_batch'))} | {_cpu(cr)} |")
    rows += ["", "Sweep (one point each) the best load was chosen from:", "",
             "| backend | request batch | c | img/s | p50 ms | p99 ms | server mean batch | CPU |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        for p in r["throughput"]["sweep"]:
            rows.append(f"| {r['platform']} | {p['batch_size']} | {p['concurrency']} | "
                        f"{_f(p['images_per_s'])} | {_f(p['latency_ms']['p50'], 2)} | "
                        f"{_f(p['latency_ms']['p99'], 2)} | {_f(p.get('server_mean_batch'))} | "
                        f"{_cpu(p)} |")
    return rows


def _latency(results: list[dict[str, Any]]) -> list[str]:
    rows = ["## Latency added over the bare model call (concurrency 1, batch 1, batching on)",
            "", "Added = served − bare (p50 and p99 each). Server-side: mean request time and "
            "mean model run time from the server's own metrics.", "",
            "| backend | path | bare p50 / p99 ms | served p50 / p99 ms | added p50 | added p99 "
            "| target | met p50 | met p99 | server-side request / runtime ms |",
            "|---|---|---:|---:|---:|---:|---|---|---|---:|"]
    for r in results:
        for proto, mode, sig, target in LAT_TARGETS:
            p = next(x for x in r["latency"] if x["protocol"] == proto and x["mode"] == mode)
            b = r["bare"]["latency"][sig]["latency_ms"]
            s = p["latency_ms"]
            a50, a99 = s["p50"] - b["p50"], s["p99"] - b["p99"]
            rows.append(f"| {r['platform']} | {sig} over {proto.upper()} ({mode}, "
                        f"{p['request_bytes'] / 1000:,.0f} kB/request) | {b['p50']:.2f} / "
                        f"{b['p99']:.2f} | {s['p50']:.2f} / {s['p99']:.2f} | {a50:.2f} | "
                        f"{a99:.2f} | ≤ {target:g} ms | {_met(a50 <= target)} | "
                        f"{_met(a99 <= target)} | {_f(p.get('server_request_ms'), 2)} / "
                        f"{_f(p.get('server_runtime_ms'), 2)} |")
    return rows


def _batching(results: list[dict[str, Any]]) -> list[str]:
    rows = ["## Batching on vs off (gRPC, serve_raw)", "",
            "| backend | request batch × c | on img/s | off img/s | on / off | on p50 ms "
            "| off p50 ms | on: server mean batch |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        on_points = r["throughput"]["sweep"] + [
            x for x in r["latency"] if x["protocol"] == "grpc" and x["mode"] == "server-resize"]
        for off in r["batching_off"]:
            on = next((x for x in on_points if x["batch_size"] == off["batch_size"]
                       and x["concurrency"] == off["concurrency"]), None)
            if on is None:
                continue
            rows.append(f"| {r['platform']} | {off['batch_size']} × {off['concurrency']} | "
                        f"{_f(on['images_per_s'])} | {_f(off['images_per_s'])} | "
                        f"{on['images_per_s'] / off['images_per_s']:.2f} | "
                        f"{on['latency_ms']['p50']:.2f} | {off['latency_ms']['p50']:.2f} | "
                        f"{_f(on.get('server_mean_batch'))} |")
    return rows


def _modes(r: dict[str, Any]) -> list[str]:
    rows = [f"## REST vs gRPC, client-resize vs server-resize vs encoded ({r['platform']}, "
            "batch 1)", "", "| mode | signature | protocol | request bytes | c=1 p50 ms | "
            "c=1 p99 ms | c=8 req/s | c=8 p50 ms | CPU at c=8 |",
            "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for one in r["latency"]:
        eight = next(x for x in r["modes_c8"] if x["protocol"] == one["protocol"]
                     and x["mode"] == one["mode"])
        rows.append(f"| {one['mode']} | {one['signature']} | {one['protocol']} | "
                    f"{one['request_bytes']:,.0f} | {one['latency_ms']['p50']:.2f} | "
                    f"{one['latency_ms']['p99']:.2f} | {_f(eight['req_per_s'])} | "
                    f"{eight['latency_ms']['p50']:.2f} | {_cpu(eight)} |")
    return rows


def _naive(n: dict[str, Any]) -> list[str]:
    ours, naive = n["ours"][-1], n["naive"][-1]
    ok = n["ratio"]["median"] >= 3.0
    return ["## Ours vs a naive Flask + TF server (same client-resized REST requests)", "",
            "Target: ours ≥ 3× the naive server's throughput at concurrency 8.", "",
            "| server | c=1 p50 ms | c=8 req/s | c=8 p50 ms | c=8 p99 ms | CPU at c=8 |",
            "|---|---:|---:|---:|---:|---|",
            f"| naive Flask + TF | {n['naive_c1']['latency_ms']['p50']:.2f} | "
            f"{_sp(n['naive_req_per_s'])} | {naive['latency_ms']['p50']:.2f} | "
            f"{naive['latency_ms']['p99']:.2f} | {_cpu(naive)} |",
            f"| `serving serve` (tensorflow, batching on) | - | {_sp(n['ours_req_per_s'])} | "
            f"{ours['latency_ms']['p50']:.2f} | {ours['latency_ms']['p99']:.2f} | "
            f"{_cpu(ours)} |", "",
            f"Ratio ours / naive: **{_sp(n['ratio'], 2)}** (target ≥ 3): {_met(ok)}."]


def _wrk(rows_in: list[dict[str, Any]]) -> list[str]:
    rows = ["## Latency tester vs wrk (our REST endpoint, serve_raw batch 1, tensorflow)", "",
            "Target: throughput and p50 within 10% at the same concurrency.", "",
            "| c | first | clients bench req/s | wrk req/s | Δ | clients bench p50 ms "
            "| wrk p50 ms | Δ | met |", "|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows_in:
        e, w = r["engine"], r["wrk"]
        if w is None:
            rows.append(f"| {r['concurrency']} | {r['order']} | {e['requests_per_s']:,.0f} | "
                        "wrk not installed | | | | | |")
            continue
        d_rps = e["requests_per_s"] / w["requests_per_s"] - 1
        d_p50 = e["p50_ms"] / w["p50_ms"] - 1
        rows.append(f"| {r['concurrency']} | {r['order']} | {e['requests_per_s']:,.0f} | "
                    f"{w['requests_per_s']:,.0f} | {d_rps:+.0%} | {e['p50_ms']:.2f} | "
                    f"{w['p50_ms']:.2f} | {d_p50:+.0%} | "
                    f"{_met(abs(d_rps) <= 0.1 and abs(d_p50) <= 0.1)} |")
    return rows


def _ceiling(rows_in: list[dict[str, Any]]) -> list[str]:
    rows = ["## Latency tester ceiling (trivial endpoint, bench/clients_ceiling.py)", "",
            "Target: ≥ 5,000 req/s from `clients bench`.", "",
            "| tool | c | req/s | p50 ms | generator CPU | met |", "|---|---:|---:|---:|---|---|"]
    for r in rows_in:
        cpu = r.get("generator_cpu_share")
        met = _met(r["requests_per_s"] >= 5000) if r["tool"] == "clients bench" else ""
        rows.append(f"| {r['tool']} | {r['concurrency']} | {r['requests_per_s']:,.0f} | "
                    f"{r['p50_ms']:.3f} | {'-' if cpu is None else f'{cpu:.0%} of a core'} | "
                    f"{met} |")
    return rows


def _points(results: list[dict[str, Any]]) -> list[str]:
    rows = ["## Every served point", "",
            "| point | server | proto | mode | batch | c | stable | req/s | img/s | p50 | p99 "
            "| errors | checked (bad) | srv CPU | gen CPU | others CPU | mean batch | srv req ms "
            "| run ms |",
            "|---|---|---|---|---:|---:|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|"
            "---:|"]
    for r in results:
        every = (r["throughput"]["sweep"] + r["throughput"]["repeats"]
                 + [r["throughput"]["client_resize"]] + r["latency"] + r.get("modes_c8", [])
                 + r["batching_off"])
        if "naive" in r:
            every += [r["naive"]["naive_c1"], *r["naive"]["naive"], *r["naive"]["ours"]]
        seen: set[int] = set()
        for p in every:
            if id(p) in seen:
                continue
            seen.add(id(p))
            rows.append(
                f"| {p['label']} | {p['server']} | {p['protocol']} | {p['mode']} | "
                f"{p['batch_size']} | {p['concurrency']} | {'yes' if p['stable'] else 'no'} | "
                f"{p['req_per_s']:,.1f} | {p['images_per_s']:,.1f} | "
                f"{p['latency_ms']['p50']:.2f} | {p['latency_ms']['p99']:.2f} | "
                f"{p['errors'] or '-'} | {p['checked']} ({p['mismatched']}) | "
                f"{p['server_cpu_cores']:.2f} | {p['generator_cpu_cores']:.2f} | "
                f"{p.get('others_cpu_cores', 0.0):.2f} | {_f(p.get('server_mean_batch'))} | "
                f"{_f(p.get('server_request_ms'), 2)} | "
                f"{_f(p.get('server_runtime_ms'), 2)} |")
    return rows


def render(header: list[str], results: list[dict[str, Any]],
           ceiling: list[dict[str, Any]] | None) -> str:
    """The whole report."""
    out = list(header)
    for section in (_throughput(results), _latency(results), _batching(results)):
        out += ["", *section]
    for r in results:
        if "modes_c8" in r:
            out += ["", *_modes(r)]
        if "naive" in r:
            out += ["", *_naive(r["naive"])]
        if "wrk" in r:
            out += ["", *_wrk(r["wrk"])]
    if ceiling:
        out += ["", *_ceiling(ceiling)]
    out += ["", *_points(results)]
    return "\n".join(out) + "\n"
