"""The independent load generators of the peer benchmark: ``wrk`` (REST) and Triton's
``perf_analyzer`` (gRPC, ``tfserving`` kind for TF Serving's API, ``triton`` kind for V2).

Both are C/C++ programs installed by ``scripts/install_tools.sh``; each point is one process
run, parsed into ``{"rps", "p50_ms", "p99_ms", "errors", "note"}``.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PERF_ANALYZER = REPO / ".tools" / "bin" / "perf_analyzer"


def check_tools() -> None:
    """Run ``scripts/install_tools.sh`` when wrk, h2load or the perf_analyzer wrapper is
    missing (it installs them; apt needs root); exit with a one-line error if that fails."""
    if all(shutil.which(t) for t in ("wrk", "h2load")) and PERF_ANALYZER.is_file():
        return
    done = subprocess.run(["bash", str(REPO / "scripts" / "install_tools.sh")])
    if done.returncode != 0:
        raise SystemExit("error: wrk, h2load or .tools/bin/perf_analyzer is missing and "
                         "`bash scripts/install_tools.sh` failed (apt-get needs root)")


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk_point(url: str, body: bytes, concurrency: int, seconds: float) -> dict[str, Any]:
    """``wrk -t1 -cC -dS --latency`` POSTing ``body`` as JSON to ``url``."""
    tmp = Path(tempfile.mkdtemp(prefix="peers-wrk-"))
    try:
        (tmp / "body.json").write_bytes(body)
        script = tmp / "post.lua"
        script.write_text('wrk.method = "POST"\n'
                          f'local f = io.open("{tmp / "body.json"}", "rb")\n'
                          'wrk.body = f:read("*a")\nf:close()\n'
                          'wrk.headers["Content-Type"] = "application/json"\n')
        cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency",
               "--timeout", "30s", "-s", str(script), url]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if done.returncode != 0:
        return {"rps": 0.0, "p50_ms": None, "p99_ms": None, "errors": None,
                "note": f"wrk failed: {(done.stderr or done.stdout).strip()[-200:]}"}
    return parse_wrk(done.stdout)


def parse_wrk(out: str) -> dict[str, Any]:
    """Throughput of good answers, p50/p99 and errors (non-2xx + socket errors) from
    ``wrk --latency`` output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        return {"rps": 0.0, "p50_ms": None, "p99_ms": None, "errors": None,
                "note": f"wrk output not understood: {out.strip()[-200:]}"}
    p50 = re.search(r"\s50%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out)
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(v) for v in sock.groups())
    good = float(rps.group(1))
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    if total and errors:  # wrk counts failed requests in Requests/sec: keep the good ones only
        span = float(total.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[total.group(3)]
        good = max(0, int(total.group(1)) - errors) / span
    return {"rps": good, "p50_ms": _ms(*p50.groups()) if p50 else None,
            "p99_ms": _ms(*p99.groups()) if p99 else None, "errors": errors, "note": ""}


def perf_analyzer_point(kind: str, target: str, model: str, concurrency: int,
                        seconds: float, shape: str, signature: str | None = None,
                        extra: list[str] | None = None) -> dict[str, Any]:
    """One ``perf_analyzer`` run at one concurrency over gRPC (synchronous requests).

    Three measurement windows of ``seconds / 3`` each; stability is not required to agree
    (``--stability-percentage 10000``), since the shared machine's noise would otherwise make
    it give up; the numbers merge the windows.
    """
    tmp = Path(tempfile.mkdtemp(prefix="peers-pa-"))
    csv_path = tmp / "out.csv"
    window_ms = max(500, int(seconds * 1000 / 3))
    cmd = [str(PERF_ANALYZER), f"--service-kind={kind}", "-i", "grpc", "-u", target,
           "-m", model, "--concurrency-range", f"{concurrency}:{concurrency}",
           "--measurement-interval", str(window_ms), "--stability-percentage", "10000",
           "--max-trials", "3", "--input-data", "random", "--shape", shape,
           "--percentile", "99", "-f", str(csv_path), *(extra or [])]
    if signature:
        cmd += ["--model-signature-name", signature]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 4 + 120)
        rows = list(csv.DictReader(csv_path.open())) if csv_path.is_file() else []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if done.returncode != 0 or not rows:
        text = (done.stdout + done.stderr).strip().splitlines()
        return {"rps": 0.0, "p50_ms": None, "p99_ms": None, "errors": None,
                "note": "perf_analyzer failed: " + " / ".join(text[-3:])[-300:]}
    row = rows[0]
    errors = sum(int(m) for m in re.findall(r"(\d+) failed", done.stdout))
    return {"rps": float(row["Inferences/Second"]),
            "p50_ms": float(row["p50 latency"]) / 1000.0,
            "p99_ms": float(row["p99 latency"]) / 1000.0, "errors": errors, "note": ""}


def command_text(kind: str, model: str, shape: str, signature: str | None) -> str:
    """The perf_analyzer command a reader would type (``PORT`` and ``C`` left symbolic)."""
    sig = f" --model-signature-name {signature}" if signature else ""
    return (f".tools/bin/perf_analyzer --service-kind={kind} -i grpc -u 127.0.0.1:PORT -m {model}"
            f"{sig} --concurrency-range C:C --measurement-interval MS --stability-percentage 10000"
            f" --max-trials 3 --input-data random --shape {shape} --percentile 99 -f out.csv")


# --- h2load: gRPC as raw HTTP/2 POSTs of one pre-encoded message -----------------------------

PREDICT_PATH = "/tensorflow.serving.PredictionService/Predict"
V2_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"


def grpc_frame(message: bytes) -> bytes:
    """gRPC's length-prefixed message framing (not compressed)."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def tfserving_predict_message(model: str, signature: str, input_name: str, array: Any) -> bytes:
    """A serialized ``tensorflow.serving.PredictRequest`` with one tensor (``tensor_content``)."""
    from common import wire

    req = wire.PredictRequest()
    req.model_spec.name = model
    req.model_spec.signature_name = signature
    tensor = req.inputs[input_name]
    tensor.dtype = {"float32": 1, "uint8": 4}[str(array.dtype)]
    for size in array.shape:
        tensor.tensor_shape.dim.add().size = int(size)
    tensor.tensor_content = array.tobytes()
    return req.SerializeToString()


def v2_infer_message(model: str, input_name: str, array: Any) -> bytes:
    """A serialized V2 ``inference.ModelInferRequest`` (``raw_input_contents``), built with
    tritonclient's generated protos in the tools venv (``.tools/venv``)."""
    code = ("import sys, numpy as np\n"
            "from tritonclient.grpc import service_pb2 as pb\n"
            "a = np.load(sys.argv[1])\n"
            "r = pb.ModelInferRequest(model_name=sys.argv[2])\n"
            "i = r.inputs.add(); i.name = sys.argv[3]; i.datatype = 'FP32'; "
            "i.shape.extend(a.shape)\n"
            "r.raw_input_contents.append(a.astype(np.float32).tobytes())\n"
            "sys.stdout.buffer.write(r.SerializeToString())\n")
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="peers-v2-") as tmp:
        path = Path(tmp) / "a.npy"
        np.save(path, array)
        done = subprocess.run([str(REPO / ".tools" / "venv" / "bin" / "python"), "-c", code,
                               str(path), model, input_name], capture_output=True, check=True)
    return done.stdout


def h2load_response_bytes(target: str, path: str, frame: bytes) -> int:
    """DATA bytes of one answer to ``frame`` (one ``h2load -n 1`` call); 0 when it failed."""
    with tempfile.TemporaryDirectory(prefix="peers-h2-") as tmp:
        (Path(tmp) / "req.bin").write_bytes(frame)
        done = subprocess.run(["h2load", "-n", "1", "-c", "1", "-d", str(Path(tmp) / "req.bin"),
                               "-H", "content-type: application/grpc", "-H", "te: trailers",
                               f"http://{target}{path}"], capture_output=True, text=True,
                              timeout=120)
    data = re.search(r"traffic: .*?\((\d+)\) data", done.stdout)
    return int(data.group(1)) if data else 0


def h2load_point(target: str, path: str, frame: bytes, concurrency: int, seconds: float,
                 min_response_bytes: int, warmup: float = 1.0) -> dict[str, Any]:
    """``h2load -c C -m 1 -D S`` POSTing one gRPC frame over ``C`` HTTP/2 connections (one
    stream each, so C requests in flight, like perf_analyzer's C synchronous workers).

    h2load sees HTTP status 200 for every gRPC answer (the gRPC status is in the trailers), so
    failed calls are counted from the DATA bytes instead: a failed unary call carries no
    message, so requests whose answers are missing from the received bytes are errors.
    """
    tmp = Path(tempfile.mkdtemp(prefix="peers-h2-"))
    try:
        (tmp / "req.bin").write_bytes(frame)
        log_file = tmp / "log.tsv"
        cmd = ["h2load", "-c", str(concurrency), "-m", "1", "-t", "1",
               "-D", str(max(1, round(seconds))),
               *(["--warm-up-time", f"{warmup:g}"] if warmup > 0 else []),
               "-d", str(tmp / "req.bin"), "-H", "content-type: application/grpc",
               "-H", "te: trailers", "--log-file", str(log_file),
               f"http://{target}{path}"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 90)
        lat = []
        if log_file.is_file():
            for line in log_file.read_text().splitlines():
                parts = line.split("\t")
                if len(parts) >= 3 and parts[1] == "200":
                    lat.append(int(parts[2]) / 1000.0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if done.returncode != 0:
        return {"rps": 0.0, "p50_ms": None, "p99_ms": None, "errors": None,
                "note": "h2load failed: " + (done.stderr or done.stdout).strip()[-200:]}
    return parse_h2load(done.stdout, lat, min_response_bytes)


def parse_h2load(out: str, lat: list[float], min_response_bytes: int) -> dict[str, Any]:
    """Good answers per second, p50/p99 of ``lat`` (ms, from the log file) and errors
    (failed + errored + requests whose message is missing from the DATA bytes)."""
    rps = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    status = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored", out)
    data = re.search(r"traffic: .*?\((\d+)\) data", out)
    if not rps or not status or not lat:
        return {"rps": 0.0, "p50_ms": None, "p99_ms": None, "errors": None,
                "note": "h2load output not understood: " + out.strip()[-200:]}
    done_n, failed, errored = int(status.group(2)), int(status.group(4)), int(status.group(5))
    answered = int(data.group(1)) // min_response_bytes if data else done_n
    errors = failed + errored + max(0, done_n - answered)
    lat = sorted(lat)

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    good = float(rps.group(1)) * (1 - errors / done_n) if done_n else 0.0
    return {"rps": good, "p50_ms": pct(0.50), "p99_ms": pct(0.99), "errors": errors,
            "requests": done_n - errors, "note": ""}
