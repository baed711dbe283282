"""Issue 13's batching load check with a third-party load generator (``wrk``, Debian package).

Starts ``serving serve --enable_batching=true --batching_parameters_file=...`` (max_batch_size
16, batch_timeout_micros 2000, num_batch_threads 2, max_enqueued_batches 100) on an exported
model's SavedModel or ONNX version, and runs ``wrk -t1 -cC -dS --latency`` with a Lua script
posting one client-resized 128 px CIFAR image (``serving_default``, row format, float32 as
JSON) to ``:predict``. Reports requests, non-2xx responses, timeouts, latency percentiles, and
what the server log holds (task exceptions, tracebacks, error lines).

Run from the repository root (``--code-root`` serves another checkout's ``serving`` package,
e.g. the revision before the fix, for a before/after pair)::

    python bench/batching_wrk.py MODEL_BASE_PATH --platform tensorflow --seconds 40
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serving_servers import BatchingConfig, ServerProcess, serving_command  # noqa: E402

from serving.codecs.json_client import encode_request  # noqa: E402
from serving.codecs.resize import resize_bilinear  # noqa: E402

CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10" / "train.npz"
LOG_PATTERNS = {
    "task exceptions": r"Task exception was never retrieved",
    "unhandled exceptions": r"Unhandled exception in",
    "tracebacks": r"Traceback \(most recent call last\)",
    "IndexError": r"IndexError",
}


def request_body(image_size: int = 128) -> bytes:
    """One CIFAR image resized by the client to ``image_size`` (float32, row format)."""
    if CIFAR.is_file():
        image = np.load(CIFAR)["x"][:1]
    else:  # the benchmark still runs without the shared data, on a random image
        image = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    resized = resize_bilinear(image, image_size).astype(np.float32)
    return encode_request({"image": resized})


def run_wrk(url: str, body: bytes, connections: int, seconds: int) -> tuple[str, str]:
    """``wrk`` output and the exact command line."""
    tmp = Path(tempfile.mkdtemp(prefix="batching-wrk-"))
    (tmp / "body.json").write_bytes(body)
    script = tmp / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'local f = io.open("{tmp / "body.json"}", "rb")\n'
        'wrk.body = f:read("*a")\nf:close()\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("non2xx_or_errors %d\\n", summary.errors.status))\n'
        "end\n"
    )
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s", "--latency",
           "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return out, " ".join(cmd)


def summarise(out: str) -> dict:
    """Requests, errors and latency percentiles from ``wrk --latency`` output."""
    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]

    result = {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out))
        else 0,
        "socket_errors": re.search(r"Socket errors:.*", out).group(0)
        if "Socket errors" in out else "none",
    }
    for pct in ("50", "90", "99"):
        result[f"p{pct}_ms"] = ms(re.search(rf"\s{pct}%\s+(\S+)", out).group(1))
    result["max_ms"] = ms(re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out).group(1))
    return result


def main() -> None:
    """Parse arguments, serve, load, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_path", type=Path, help="model base path (versions inside)")
    parser.add_argument("--platform", default="tensorflow", choices=["tensorflow", "onnx"])
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--code-root", type=Path, help="serve this checkout's serving package")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    base_path = args.base_path.resolve()
    if args.code_root:  # the server's ``python -c`` imports from its working directory first
        os.chdir(args.code_root.resolve())
    workdir = Path(tempfile.mkdtemp(prefix="batching-wrk-server-"))
    batching = BatchingConfig(max_batch_size=16, batch_timeout_micros=2000, num_batch_threads=2,
                              max_enqueued_batches=100)
    server_args = serving_command(base_path, args.platform, workdir, batching)
    log_path = workdir / "server.log"
    body = request_body()
    with ServerProcess("serving", server_args, log_path) as server:
        url = f"{server.rest_url}/v1/models/m:predict"
        out, command = run_wrk(url, body, args.connections, args.seconds)
    log = log_path.read_text(errors="replace")
    result = {
        "platform": args.platform,
        "code_root": str(args.code_root or "."),
        "body_bytes": len(body),
        "wrk": command,
        **summarise(out),
        "log": {name: len(re.findall(p, log)) for name, p in LOG_PATTERNS.items()},
    }
    print(out)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
