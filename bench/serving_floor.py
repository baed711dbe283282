"""Where the latency `serving serve` adds at concurrency 1 goes: floors measured side by side.

Issue 5 asks for ≤ 1 ms added over the bare model call (``serve_raw``, gRPC and REST) and
≤ 5 ms for the client-resized REST body. This splits the added p50 into parts, each measured
in the same run, interleaved round by round (order alternating) so all see the same machine:

- **idle**: the bare call (the backend's in-process ``predict``, as in ``serving_bench``)
  back to back vs with a pause before each call, as the served model sees at c=1 (it idles
  while the answer travels and the client sends the next request);
- **transport**: the same request bytes sent by the same client to an echo server
  (``bench/echo_server.py``: ``grpc.aio`` and our ``HttpServer`` on uvloop, answering as many
  bytes as the real server without looking at the request);
- **server**: what is left, the server's own work (parsing, batching, thread hops, response).

Usage::

    python bench/serving_floor.py runs/bench/mobilenet_a025_128 \\
        [--platforms tflite,onnx,tensorflow] [--rounds 5] [--calls 300] [--gap-ms 1.5]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from serving_bare import load_backend  # noqa: E402
from serving_bench import add_source_args, serve_base, write_outputs  # noqa: E402
from serving_servers import BatchingConfig, ServerProcess, serving_command  # noqa: E402

from serving.codecs.json_codec import encode_predict_request  # noqa: E402
from serving.codecs.resize import resize_bilinear  # noqa: E402

log = logging.getLogger("serving_floor")
PREDICT = "/tensorflow.serving.PredictionService/Predict"
CASES = (("grpc", "serve_raw"), ("rest", "serve_raw"), ("rest", "serving_default"))
STEPS = ("bare", "bare_gap", "echo", "served")


def grpc_body(image: np.ndarray, signature: str) -> bytes:
    """A serialized ``PredictRequest`` for model ``m``."""
    from tensorflow_serving.apis import predict_pb2

    from serving.codecs.tensor_proto import from_numpy

    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "m", signature
    from_numpy(image, request.inputs["image"])
    return request.SerializeToString()


def grpc_p50(target: str, body: bytes, calls: int) -> tuple[float, int]:
    """(median ms, reply bytes) of ``calls`` sequential ``grpc.aio`` calls with raw bytes."""
    import grpc

    async def run() -> tuple[float, int]:
        async with grpc.aio.insecure_channel(target) as channel:
            call = channel.unary_unary(PREDICT)  # no serializers: bytes in, bytes out
            reply = await call(body)
            samples = []
            for _ in range(calls + 20):
                start = time.perf_counter()
                await call(body)
                samples.append(time.perf_counter() - start)
            return statistics.median(samples[20:]) * 1e3, len(reply)

    return asyncio.run(run())


def rest_p50(url: str, body: bytes, calls: int) -> tuple[float, int]:
    """(median ms, reply bytes) of ``calls`` keep-alive POSTs of ``body``."""
    host, port = url.rsplit("/", 1)[-1].split(":")
    conn = http.client.HTTPConnection(host, int(port))
    samples, size = [], 0
    try:
        for _ in range(calls + 20):
            start = time.perf_counter()
            conn.request("POST", "/v1/models/m:predict", body,
                         {"Content-Type": "application/json"})
            reply = conn.getresponse()
            data = reply.read()
            if reply.status != 200:
                raise RuntimeError(f"HTTP {reply.status}: {data[:200]!r}")
            samples.append(time.perf_counter() - start)
            size = len(data)
    finally:
        conn.close()
    return statistics.median(samples[20:]) * 1e3, size


def bare_p50(backend, signature: str, image: np.ndarray, calls: int, gap_s: float) -> float:
    """Median ms of the in-process call, back to back (``gap_s`` 0) or after a pause."""
    for _ in range(20):
        backend.predict(signature, {"image": image})
    samples = []
    for _ in range(calls):
        if gap_s:
            time.sleep(gap_s)
        start = time.perf_counter()
        backend.predict(signature, {"image": image})
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def measure_platform(platform: str, base: Path, version_dir: Path, workdir: Path,
                     images: dict[str, np.ndarray], args) -> dict:
    """Every case's parts for one backend, median over rounds."""
    bodies = {("grpc", "serve_raw"): grpc_body(images["serve_raw"], "serve_raw")}
    for sig in ("serve_raw", "serving_default"):
        bodies[("rest", sig)] = encode_predict_request(images[sig], signature_name=sig)
    backend = load_backend(platform, version_dir)
    cmd = serving_command(base, platform, workdir, BatchingConfig())
    rows: dict[tuple, dict[str, list[float]]] = {c: {} for c in CASES}
    with ServerProcess("serving", cmd, workdir / f"{platform}.log") as server:
        sizes = {("grpc", "serve_raw"): grpc_p50(server.grpc_target, bodies[CASES[0]], 5)[1]}
        for case in CASES[1:]:
            sizes[case] = rest_p50(server.rest_url, bodies[case], 5)[1]
        echo_args = [str(sizes[CASES[0]]), str(max(sizes[CASES[1]], sizes[CASES[2]]))]
        with ServerProcess("echo", echo_args, workdir / "echo.log") as echo:
            for r in range(args.rounds):
                order = CASES if r % 2 == 0 else tuple(reversed(CASES))
                for proto, sig in order:
                    case = (proto, sig)
                    names = STEPS if r % 2 == 0 else tuple(reversed(STEPS))
                    for name in names:
                        ms = _step(name, case, bodies[case], images[sig], backend,
                                   {"echo": echo, "served": server}, args)
                        rows[case].setdefault(name, []).append(ms)
                log.info("%s round %d/%d done", platform, r + 1, args.rounds)
    backend.unload()
    return {f"{p} {s}": {k: statistics.median(v) for k, v in rows[(p, s)].items()}
            | {"request_bytes": len(bodies[(p, s)])} for p, s in CASES}


def _step(name: str, case: tuple[str, str], body: bytes, image: np.ndarray, backend,
          servers: dict[str, ServerProcess], args) -> float:
    """One measurement (median ms) of ``STEPS`` for one case."""
    proto, sig = case
    if name in ("bare", "bare_gap"):
        gap = args.gap_ms / 1e3 if name == "bare_gap" else 0.0
        return bare_p50(backend, sig, image, args.calls, gap)
    server = servers[name]
    if proto == "grpc":
        return grpc_p50(server.grpc_target, body, args.calls)[0]
    return rest_p50(server.rest_url, body, args.calls)[0]


def report(results: dict, argv: list[str], args) -> str:
    """The Markdown table of parts per backend and case."""
    lines = [f"Command: `python bench/serving_floor.py {' '.join(argv)}`", "",
             f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"{args.rounds} interleaved rounds of {args.calls} calls per measurement "
             f"(median of per-round medians); pause before each gapped bare call "
             f"{args.gap_ms} ms; server with batching on (as in the serving bench). "
             "Added = served − bare; idle = bare after a pause − bare back to back; "
             "transport = the echo server's round trip with the same bytes and client; "
             "server = added − idle − transport.", "",
             "| backend | case | request B | bare p50 | bare after pause | echo round trip "
             "| served p50 | added | = idle | + transport | + server | target |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for platform, cases in results.items():
        for case, m in cases.items():
            added = m["served"] - m["bare"]
            idle = m["bare_gap"] - m["bare"]
            server = added - idle - m["echo"]
            target = "≤ 5 ms" if case.endswith("serving_default") else "≤ 1 ms"
            lines.append(
                f"| {platform} | {case} | {m['request_bytes']:,} | {m['bare']:.2f} | "
                f"{m['bare_gap']:.2f} | {m['echo']:.2f} | {m['served']:.2f} | "
                f"**{added:+.2f}** | {idle:+.2f} | {m['echo']:+.2f} | {server:+.2f} | "
                f"{target} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse arguments, measure each backend, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_source_args(parser)
    parser.add_argument("--platforms", default="tflite,onnx,tensorflow")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, default=1.5)
    parser.add_argument("--report", type=Path,
                        default=HERE / "results" / "serving_floor.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with np.load(args.data) as npz:
        raw = npz["x"][:1]
    with tempfile.TemporaryDirectory(prefix="serving-floor-") as tmp:
        workdir = Path(tmp)
        version_dir, base, _ = serve_base(args.source, workdir)
        size = json.loads((version_dir / "export_report.json").read_text())
        size = size["contract"]["image_size"]
        images = {"serve_raw": raw, "serving_default": resize_bilinear(raw, size)}
        results = {p: measure_platform(p, base, version_dir, workdir, images, args)
                   for p in args.platforms.split(",")}
    write_outputs([(args.report, report(results, sys.argv[1:], args))])
    print(args.report)


if __name__ == "__main__":
    main()
