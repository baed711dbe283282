"""Where `serving serve`'s CPU per request goes for the fast backends (issue 18 part 2).

For each platform (ONNX, TFLite), in one run, interleaved round by round so a shared machine's
drift hits all alike:

- **served**: ``perf_analyzer --service-kind=tfserving`` on ``serve_raw`` (one raw 32×32 uint8
  CIFAR image per request, batching on: max batch 16, no timeout) at c=1 and c=16, and
  ``h2load`` sending the same pre-encoded ``PredictRequest``; the server's CPU seconds per
  request come from psutil around each point and the server's own request counter;
- **echo**: the same h2load load on ``bench/echo_server.py`` (``grpc.aio`` on uvloop, the
  same reply size, no parsing): the floor of this transport on this machine; **echo-sync**:
  the same on grpcio's synchronous server with 8 pool threads (the other gRPC design);
- **bare**: the backend's in-process ``predict`` on a batch of 16 and on one image: the best
  of 1 and 2 calling threads, each with 1 and with all cores as the runtime's intra-op threads
  (TensorFlow: its default), whatever the server uses: the model's own CPU per image;
- **served-old** (with ``--code-root DIR``): the same server command run from another
  checkout (e.g. ``git worktree add /tmp/old HEAD~1``), interleaved with the rest, for a
  before/after in one run;
- **minimal**: ``bench/echo_server.py --model``: parse, one thread hop to the same backend,
  encode, nothing else (h2load only: it answers every method with a ``PredictResponse``): the
  floor of any server on this stack that keeps the model off the event loop; **minimal-sync**:
  the same on grpcio's synchronous server with one handler thread per core calling the model
  itself (``--grpc-sync=CORES``).

Then, outside the timed rounds, ``py-spy`` samples the server under perf_analyzer at c=1 and
c=16 and the samples are split into buckets (model call, gRPC core, proto decode/encode,
batching, asyncio loop, executor hand-off...), per thread.

Usage (after ``bash scripts/install_tools.sh``)::

    python bench/serving_cpu.py runs/bench/mobilenet_a025_128 [--platforms onnx,tflite]
        [--rounds 2] [--seconds 6] [--profile-seconds 8]

Writes ``bench/results/serving_cpu.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import logging
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE), str(HERE / "peers")]

from loadgen import (  # noqa: E402
    PERF_ANALYZER,
    PREDICT_PATH,
    check_tools,
    grpc_frame,
    h2load_point,
    h2load_response_bytes,
    perf_analyzer_point,
    tfserving_predict_message,
)
from serving_bare import bare_latency, bare_throughput, load_backend  # noqa: E402
from serving_bench import serve_base, write_outputs  # noqa: E402
from serving_servers import (  # noqa: E402
    BatchingConfig,
    ServerProcess,
    metric_sum_count,
    scrape_metrics,
    serving_command,
)

log = logging.getLogger("serving_cpu")
PYSPY = HERE.parent / ".tools" / "venv" / "bin" / "py-spy"

# Buckets for py-spy stacks: the first rule that matches any frame of a stack (innermost
# first) names the stack's bucket.
BUCKETS: list[tuple[str, re.Pattern[str]]] = [
    ("model call (backend predict)", re.compile(r"serving/backends/|onnxruntime|tflite|litert")),
    ("batching (queue, split/merge)", re.compile(r"serving/batch(_queue|ing)\.py")),
    ("proto -> numpy (read_inputs)", re.compile(r"grpc_convert\.py|codecs/tensor_proto\.py.*"
                                                r"(to_numpy|make_ndarray|read)")),
    ("numpy -> proto (response)", re.compile(r"from_numpy|codecs/tensor_proto\.py")),
    ("metrics", re.compile(r"serving/metrics\.py")),
    ("core (resolve, validate)", re.compile(r"serving/core\.py|serving/servables\.py|"
                                            r"serving/model_state\.py|serving/manager\.py")),
    ("gRPC handler glue (grpc_server)", re.compile(r"serving/grpc_server\.py")),
    ("grpc.aio / cygrpc", re.compile(r"grpc/|cygrpc|_cython")),
    ("executor hand-off (threads, futures)", re.compile(r"concurrent/futures|threading\.py|"
                                                        r"queue\.py")),
    ("asyncio / uvloop loop", re.compile(r"asyncio/|uvloop")),
]


def classify_stack(frames: list[str]) -> str:
    """The bucket of one sampled stack (``frames`` outermost first)."""
    for name, pattern in BUCKETS:
        if any(pattern.search(f) for f in reversed(frames)):
            return name
    return "other"


NATIVE = [("gRPC (cygrpc + C core)", ("cygrpc", "libgrpc", "grpc")),
          ("uvloop", ("uvloop",)),
          ("protobuf (parse / serialize)", ("_message", "upb", "protobuf")),
          ("model runtime (onnxruntime / TFLite)", ("onnxruntime", "tflite", "litert",
                                                     "_pywrap")),
          ("libc (syscalls, locks, memcpy)", ("libc.so", "libpthread", "ld-linux"))]


def native_bucket(frames: list[str]) -> str:
    """Bucket of a ``--native`` stack by its innermost frame's library; time inside the
    interpreter or numpy goes to the innermost Python frame's bucket (``Python: ...``)."""
    inner = frames[-1] if frames else ""
    lib = inner[inner.rfind("(") + 1:] if "(" in inner else inner
    for name, keys in NATIVE:
        if any(k in lib for k in keys):
            return name
    py = [f for f in frames if ".py:" in f or ".py)" in f]
    return "Python: " + classify_stack(py) if py else "other native"


PROFILE_RATE = 250  # py-spy samples per second


def pyspy_profile(pid: int, seconds: float, out: Path, mode: str) -> subprocess.Popen:
    """Start ``py-spy record`` (raw collapsed stacks, per thread). ``mode``: ``python``;
    ``native`` adds C frames (py-spy then pauses the process at each sample, so it slows it a
    little); ``gil`` keeps only the samples of the thread holding the GIL."""
    extra = {"python": ["--nonblocking"], "native": ["--native"],
             "gil": ["--nonblocking", "--gil"]}[mode]
    return subprocess.Popen([str(PYSPY), "record", "--pid", str(pid), "--duration",
                             str(int(seconds)), "--rate", str(PROFILE_RATE), "--format", "raw",
                             "--threads", "--output", str(out), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize_profile(path: Path, native: bool = False) -> dict[str, Any]:
    """Sample counts per thread and bucket, and the top self-time frames."""
    per_thread: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    self_time: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        thread = re.sub(r"\s*\(?0x[0-9a-f]+\)?|\s*\(\d+\)", "", frames[0]).strip() or "thread"
        body = frames[1:]
        per_thread[thread][native_bucket(body) if native else classify_stack(body)] += n
        if body:
            self_time[re.sub(r" \(.*?:\d+\)", lambda m: m.group(0).rsplit(":", 1)[0] + ")",
                             body[-1])] += n
        total += n
    return {"samples": total,
            "threads": {t: dict(c.most_common()) for t, c in per_thread.items()},
            "top_self": self_time.most_common(15)}


def served_requests(server: ServerProcess) -> float:
    """The server's Predict request count so far (its Prometheus page)."""
    page = scrape_metrics(server.rest_url)
    total = 0.0
    for found in re.finditer(r':tensorflow:serving:request_count\{([^}]*)\} (\S+)', page):
        total += float(found.group(2))
    return total


def thread_cpu(pid: int) -> tuple[float, float]:
    """(CPU seconds of the main thread, which runs the event loop; of all other threads)."""
    main = other = 0.0
    for t in psutil.Process(pid).threads():
        if t.id == pid:
            main += t.user_time + t.system_time
        else:
            other += t.user_time + t.system_time
    return main, other


def with_cpu(server: ServerProcess, run) -> dict[str, Any]:
    """Run one load point; add the server's CPU per answered request, in total and split
    into the event-loop (main) thread and the other threads (inference pool, gRPC poller)."""
    pid = server.proc.pid
    cpu0, n0, (m0, o0) = server.cpu_seconds(), served_requests(server), thread_cpu(pid)
    row = run()
    cpu1, n1, (m1, o1) = server.cpu_seconds(), served_requests(server), thread_cpu(pid)
    n = n1 - n0
    row["server_cpu_ms_per_request"] = (cpu1 - cpu0) / n * 1000 if n > 0 else None
    row["loop_cpu_ms_per_request"] = (m1 - m0) / n * 1000 if n > 0 else None
    row["other_cpu_ms_per_request"] = (o1 - o0) / n * 1000 if n > 0 else None
    return row


def echo_cpu(proc: ServerProcess, run) -> dict[str, Any]:
    """Run one h2load point on the echo server; CPU ms per answered request."""
    cpu0 = proc.cpu_seconds()
    row = run()
    cpu1 = proc.cpu_seconds()
    answered = row.get("requests") or 0
    row["server_cpu_ms_per_request"] = (cpu1 - cpu0) / answered * 1000 if answered else None
    return row


def batch_sizes(server: ServerProcess) -> tuple[float, float]:
    """(sum, count) of the batch sizes the server ran so far."""
    return metric_sum_count(scrape_metrics(server.rest_url),
                            ":tensorflow:serving:batching:processed_batch_size")


def platform_phase(platform: str, version_dir: Path, base: Path, workdir: Path,
                   images: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    """Every measure of one backend."""
    batching = BatchingConfig(max_batch_size=16, batch_timeout_micros=0, num_batch_threads=2)
    cmd = serving_command(base, platform, workdir, batching)
    points: list[dict[str, Any]] = []
    profiles: dict[str, Any] = {}
    # The bare reference: the runtime's best on this machine, whatever the server's default.
    # TensorFlow's pools are per process (fixed at the first load), so it gets its default.
    cores = len(os.sched_getaffinity(0))
    intras = [0] if platform == "tensorflow" else sorted({1, cores})
    backends = [load_backend(platform, version_dir, intra) for intra in intras]
    batch16, one = images[:16], images[:1]
    old = contextlib.nullcontext()
    if args.code_root is not None:
        old = ServerProcess("serving", cmd, workdir / f"{platform}-old.log", cwd=args.code_root)
    with ServerProcess("serving", cmd, workdir / f"{platform}.log") as server, old as old_server:
        frame = grpc_frame(tfserving_predict_message("m", "serve_raw", "image", one))
        reply = h2load_response_bytes(server.grpc_target, PREDICT_PATH, frame)
        if reply <= 5:
            raise SystemExit(f"error: {platform} server did not answer the serve_raw probe")
        with ServerProcess("echo", [str(reply - 5), "64"], workdir / "echo.log") as echo, \
                ServerProcess("echo", [str(reply - 5), "64", "--grpc-sync=8"],
                              workdir / "echo-sync.log") as echo_sync, \
                ServerProcess("echo", [str(reply - 5), "64", f"--model={platform}:{version_dir}"],
                              workdir / "minimal.log") as minimal, \
                ServerProcess("echo", [str(reply - 5), "64", f"--model={platform}:{version_dir}",
                                       f"--grpc-sync={cores}"],
                              workdir / "minimal-sync.log") as minimal_sync:
            steps = [("served", "perf_analyzer"), ("served", "h2load"), ("echo", "h2load"),
                     ("echo-sync", "h2load"), ("minimal", "h2load"), ("minimal-sync", "h2load"),
                     ("bare", "batch16")]
            if old_server is not None:
                steps[2:2] = [("served-old", "perf_analyzer"), ("served-old", "h2load")]
            for rnd in range(-1, args.rounds):  # round -1: short warm-up, discarded
                seconds = args.seconds if rnd >= 0 else 2.0
                order = steps if rnd % 2 == 0 else steps[::-1]
                for c in (1, 16):
                    for what, tool in order:
                        if what == "bare" and c == 16:
                            continue
                        target = old_server if what == "served-old" else server
                        other = {"echo-sync": echo_sync, "minimal": minimal,
                                 "minimal-sync": minimal_sync}.get(what, echo)
                        row = _point(what, tool, c, seconds, target, other, frame, reply,
                                     backends, batch16, one)
                        row.update(platform=platform, what=what, tool=tool, concurrency=c,
                                   round=rnd)
                        if rnd >= 0:
                            points.append(row)
                        log.info("%s r%d %s/%s c=%d: %.0f /s p50 %s cpu %s", platform, rnd,
                                 what, tool, c, row.get("rps", 0.0), row.get("p50_ms"),
                                 row.get("server_cpu_ms_per_request"))
            b0 = batch_sizes(server)
            if PYSPY.is_file() and args.profile_seconds > 0:
                for c, mode in ((1, "python"), (16, "python"), (16, "native"), (16, "gil")):
                    out = workdir / f"pyspy-{platform}-{c}-{mode}.txt"
                    load = threading.Thread(target=perf_analyzer_point, args=(
                        "tfserving", server.grpc_target, "m", c, args.profile_seconds + 4,
                        "image:1,32,32,3", "serve_raw"))
                    load.start()  # the load outlasts the profile window on both sides
                    time.sleep(1.5)
                    n0 = served_requests(server)
                    spy = pyspy_profile(server.proc.pid, args.profile_seconds, out, mode)
                    spy.wait(args.profile_seconds + 60)
                    n1 = served_requests(server)
                    load.join()
                    if out.is_file():
                        prof = summarize_profile(out, mode == "native")
                        prof["requests"] = n1 - n0
                        key = f"{c}{'' if mode == 'python' else ' ' + mode}"
                        profiles[key] = prof
            b1 = batch_sizes(server)
    mean_batch = (b1[0] - b0[0]) / (b1[1] - b0[1]) if b1[1] > b0[1] else None
    return {"platform": platform, "points": points, "profiles": profiles,
            "profile_seconds": args.profile_seconds,
            "mean_batch_in_profile": mean_batch,
            "server": [str(part).replace(str(workdir), "WORKDIR") for part in cmd]}


def _point(what: str, tool: str, c: int, seconds: float, server: ServerProcess,
           echo: ServerProcess, frame: bytes, reply: int, backends: list[Any],
           batch16: np.ndarray, one: np.ndarray) -> dict[str, Any]:
    if what == "bare":  # the best of (1, 2 calling threads) x (each intra-op setting)
        share = seconds / (2 * len(backends))
        runs = [(b, bare_throughput(b, "serve_raw", "image", batch16, t, share))
                for b in backends for t in (1, 2)]
        backend, best = max(runs, key=lambda r: r[1]["images_per_s"])
        lats = [bare_latency(b, "serve_raw", "image", [one], share)["latency_ms"]["p50"]
                for b in backends]
        return {"rps": best["images_per_s"], "threads": best["threads"],
                "intra_op": backend.threads.intra_op,
                "cpu_ms_per_image": best["cpu_cores"] / best["images_per_s"] * 1000,
                "p50_ms": min(lats), "bare1_p50_ms": min(lats)}
    if what in ("echo", "echo-sync", "minimal", "minimal-sync"):
        return echo_cpu(echo, lambda: h2load_point(echo.grpc_target, PREDICT_PATH, frame, c,
                                                   seconds, reply, warmup=0))
    if tool == "h2load":
        return with_cpu(server, lambda: h2load_point(server.grpc_target, PREDICT_PATH, frame,
                                                     c, seconds, reply))
    return with_cpu(server, lambda: perf_analyzer_point(
        "tfserving", server.grpc_target, "m", c, seconds, "image:1,32,32,3", "serve_raw"))


def target_rows(res: dict[str, Any]) -> list[str]:
    """One row per served code (new, old) of the issue's two targets."""
    pts = res["points"]

    def med(what: str, tool: str, c: int, key: str) -> float | None:
        return _med([p.get(key) for p in pts
                     if (p["what"], p["tool"], p["concurrency"]) == (what, tool, c)])

    bare_rps, bare_p50 = med("bare", "batch16", 1, "rps"), med("bare", "batch16", 1, "p50_ms")
    names = {"served": "this code", "served-old": "old code",
             "minimal": "minimal grpc.aio server (the floor)",
             "minimal-sync": "minimal sync-grpcio server, call in the handler thread"}
    rows = []
    for what, tool in (("served", "perf_analyzer"), ("served-old", "perf_analyzer"),
                       ("served", "h2load"), ("served-old", "h2load"), ("minimal", "h2load"),
                       ("minimal-sync", "h2load")):
        rps, p50 = med(what, tool, 16, "rps"), med(what, tool, 1, "p50_ms")
        if rps is None:
            continue
        ratio = f"{rps / bare_rps:.2f}" if bare_rps else "–"
        added = _fmt(p50 - bare_p50, 2) if p50 is not None and bare_p50 is not None else "–"
        rows.append(f"| {res['platform']} | {names[what]}, {tool} | {rps:.0f} | "
                    f"{_fmt(bare_rps, 0)} | {ratio} | {_fmt(p50, 2)} | {_fmt(bare_p50, 2)} | "
                    f"{added} |")
    return rows


def render(argv: list[str], results: list[dict[str, Any]], load: tuple[float, float]) -> str:
    """Markdown: the throughput/latency/CPU table per platform, then the profile buckets."""
    lines = ["**Front-end CPU per request (serve_raw, one 32×32 uint8 image, batching on)**",
             "",
             f"Command: `{shlex.join(['python', *argv])}`", "",
             f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on a **shared** "
             f"machine ({len(os.sched_getaffinity(0))} usable CPUs; load average "
             f"{load[0]:.1f} before, {load[1]:.1f} after): compare ratios within a platform. "
             "Median over rounds.", "",
             "| platform | what | generator | c | req/s (img/s for bare) | p50 ms | server CPU "
             "ms/request (bare: CPU ms/image) | of which event-loop thread | other threads "
             "| bare CPU/image ÷ this CPU/request |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for res in results:
        pts = res["points"]
        bare = [p for p in pts if p["what"] == "bare"]
        bare_cpu = _med([p.get("cpu_ms_per_image") for p in bare])
        keys = dict.fromkeys((p["what"], p["tool"], p["concurrency"]) for p in pts)
        for what, tool, c in keys:
            mine = [p for p in pts if (p["what"], p["tool"], p["concurrency"]) == (what, tool, c)]
            rps = statistics.median(p["rps"] for p in mine)
            p50s = [p["p50_ms"] for p in mine if p.get("p50_ms") is not None]
            cpus = [p.get("server_cpu_ms_per_request") or p.get("cpu_ms_per_image")
                    for p in mine]
            cpus = [v for v in cpus if v is not None]
            loop = _med([p.get("loop_cpu_ms_per_request") for p in mine])
            other = _med([p.get("other_cpu_ms_per_request") for p in mine])
            cpu = _med(cpus)
            served = what.startswith("served")
            ratio = f"{bare_cpu / cpu:.2f}" if bare_cpu and cpu and served else ""
            lines.append(
                f"| {res['platform']} | {what} | {tool if what != 'bare' else 'in-process'} | "
                f"{c if what != 'bare' else '16 / 1'} | {rps:.0f} | "
                f"{_fmt(_med(p50s), 2)} | {_fmt(cpu, 3)} | {_fmt(loop, 3)} | "
                f"{_fmt(other, 3)} | {ratio} |")
    lines += ["", "Issue 18 part 2, in its own terms (medians over rounds): served "
              "img/s at c=16 ÷ the bare batch-16 img/s (target ≥ 0.5 for ONNX and TFLite, ≥ 0.9 "
              "for SavedModel), and the p50 at c=1 minus the bare batch-1 p50 (target ≤ 1 ms).",
              "", "| platform | server | c=16 img/s | bare batch-16 img/s | ratio | c=1 p50 ms "
              "| bare batch-1 p50 ms | added ms |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for res in results:
        lines += target_rows(res)
    for res in results:
        for c, prof in res["profiles"].items():
            if not prof.get("samples"):
                continue
            flag = f" --{c.split()[1]}" if " " in c else ""
            if flag == " --gil" and prof.get("requests"):
                held = prof["samples"] / PROFILE_RATE
                lines += ["", f"py-spy --gil, {res['platform']}, perf_analyzer c={c.split()[0]}: "
                          f"the GIL was held {held:.2f} s of {args_seconds(res)} s "
                          f"({prof['requests']:.0f} requests answered meanwhile, i.e. "
                          f"≈ {held / prof['requests'] * 1000:.3f} ms of GIL per request)."]
            lines += ["", f"py-spy{flag}, {res['platform']}, "
                      f"perf_analyzer c={c.split()[0]} "
                      f"({prof['samples']} samples at 250 Hz; mean batch in the profiled "
                      f"points {_fmt(res['mean_batch_in_profile'])}):", "",
                      "| thread | bucket | share of that thread's busy samples |",
                      "|---|---|---:|"]
            for thread, buckets in prof["threads"].items():
                total = sum(buckets.values())
                if total < prof["samples"] * 0.02:
                    continue
                for bucket, n in buckets.items():
                    if n >= total * 0.03:
                        lines.append(f"| {thread} ({total} samples) | {bucket} | "
                                     f"{n / total:.0%} |")
    return "\n".join(lines) + "\n"


def args_seconds(res: dict[str, Any]) -> str:
    """The profile window of one platform's result, as text."""
    return f"{res.get('profile_seconds', 0):g}"


def _fmt(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _med(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def main() -> None:
    """Parse arguments, measure each platform, write the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path, help="trainer run dir or exported version dir")
    p.add_argument("--data", type=Path,
                   default=Path("../shared/data/cifar10/lossless_train2000.npz"))
    p.add_argument("--platforms", default="onnx,tflite")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--profile-seconds", type=float, default=8.0)
    p.add_argument("--code-root", type=Path,
                   help="also serve this checkout's code (e.g. a git worktree of the previous "
                        "commit): rows 'served-old', interleaved with the others")
    p.add_argument("--out", type=Path, default=Path("bench/results/serving_cpu.md"))
    p.add_argument("--json", type=Path, default=Path("bench/results/serving_cpu.json"))
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    check_tools()
    if not PERF_ANALYZER.is_file():
        raise SystemExit("error: .tools/bin/perf_analyzer missing")
    load0 = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="serving-cpu-"))
    version_dir, base, _ = serve_base(args.source, workdir)
    with np.load(args.data) as npz:
        images = np.ascontiguousarray(npz["x"][:16])
    results = [platform_phase(pl.strip(), version_dir, base, workdir, images, args)
               for pl in args.platforms.split(",") if pl.strip()]
    text = render(sys.argv, results, (load0, os.getloadavg()[0]))
    write_outputs([(args.out, text), (args.json, json.dumps(results, indent=1, default=str))])
    print(text)


if __name__ == "__main__":
    main()
