"""What TLS and mutual TLS cost on the gRPC port: plain vs TLS vs mTLS, side by side.

Starts three ``serving serve`` subprocesses on one tiny SavedModel (``y = sum(x)``): plain,
``--ssl_config_file`` (TLS) and ``--ssl_config_file`` with ``client_verify: true`` (mTLS),
with certificates made on the spot. Then, in interleaved rounds (order rotating), sends
``--calls`` Predict calls at concurrency 1 on one kept-alive channel to each, for a small and
a large request, and reports p50/p90 per server plus the handshake (new channel + first call)
time. Ratios against plain are what to read: the machine may be shared.

    python bench/tls_overhead.py [--rounds 5] [--calls 200] [--large-floats 150000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from tests.tls_certs import make_pki, ssl_config_text  # noqa: E402

PREDICT = "/tensorflow.serving.PredictionService/Predict"


def _model(base: Path) -> None:
    import tensorflow as tf

    class Sum(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="x")])
        def serve(self, x):
            return {"y": tf.reduce_sum(x, axis=1)}

    module = Sum()
    tf.saved_model.save(module, str(base / "1"), signatures={"serving_default": module.serve})


def _serve(base: Path, tmp: Path, name: str, ssl_config: Path | None) -> tuple:
    port_file = tmp / f"{name}.ports"
    args = [sys.executable, "-c", "from serving.cli import main; main()", "serve",
            "--model_name=m", f"--model_base_path={base}", "--port=0", "--rest_api_port=0",
            f"--port_file={port_file}", "--file_system_poll_wait_seconds=0"]
    if ssl_config is not None:
        args.append(f"--ssl_config_file={ssl_config}")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    deadline = time.time() + 180
    while not port_file.exists():
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"{name} server did not start")
        time.sleep(0.2)
    return proc, json.loads(port_file.read_text())["grpc"]


def _request(floats: int) -> bytes:
    from tensorflow_serving.apis import predict_pb2

    from serving.codecs.tensor_proto import from_numpy

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m"
    from_numpy(np.ones((1, floats), np.float32), request.inputs["x"], tensor_content=True)
    return request.SerializeToString()


def _channel(port: int, credentials):
    import grpc

    options = [("grpc.max_send_message_length", 2**30)]
    target = f"127.0.0.1:{port}"
    if credentials is None:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, credentials, options=options)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--large-floats", type=int, default=150_000)
    args = parser.parse_args()
    import grpc

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pki = make_pki(tmp / "pki")
        _model(tmp / "m")
        (tmp / "tls.config").write_text(ssl_config_text(pki.server_key, pki.server_cert))
        (tmp / "mtls.config").write_text(
            ssl_config_text(pki.server_key, pki.server_cert, pki.ca, client_verify=True))
        ca = pki.ca.read_bytes()
        kinds = {
            "plain": (None, None),
            "tls": (tmp / "tls.config", grpc.ssl_channel_credentials(ca)),
            "mtls": (tmp / "mtls.config", grpc.ssl_channel_credentials(
                ca, pki.client_key.read_bytes(), pki.client_cert.read_bytes())),
        }
        procs, ports = [], {}
        try:
            for name, (config, _) in kinds.items():
                proc, ports[name] = _serve(tmp / "m", tmp, name, config)
                procs.append(proc)
            bodies = {"small": _request(4), "large": _request(args.large_floats)}
            lat = {(k, s): [] for k in kinds for s in bodies}
            connect = {k: [] for k in kinds}
            order = list(kinds)
            for r in range(args.rounds):
                for name in order[r % 3:] + order[:r % 3]:
                    started = time.perf_counter()
                    channel = _channel(ports[name], kinds[name][1])
                    call = channel.unary_unary(PREDICT)
                    call(bodies["small"], timeout=30)
                    connect[name].append(time.perf_counter() - started)
                    for size, body in bodies.items():
                        for _ in range(args.calls):
                            t0 = time.perf_counter()
                            call(body, timeout=30)
                            lat[(name, size)].append(time.perf_counter() - t0)
                    channel.close()
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(60)
    sizes = {s: len(b) for s, b in bodies.items()}
    print(f"rounds {args.rounds} x {args.calls} calls, c=1; request bytes {sizes}")
    print("| server | connect+first call ms (median) | small p50 / p90 ms | large p50 / p90 ms |"
          " small p50 vs plain | large p50 vs plain |")
    print("| --- | --- | --- | --- | --- | --- |")
    base = {s: _percentile(lat[("plain", s)], 50) for s in bodies}
    for name in kinds:
        cells = [f"{statistics.median(connect[name]) * 1000:.2f}"]
        for s in bodies:
            cells.append(f"{_percentile(lat[(name, s)], 50):.3f} / "
                         f"{_percentile(lat[(name, s)], 90):.3f}")
        for s in bodies:
            cells.append(f"{_percentile(lat[(name, s)], 50) / base[s]:.2f}x")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
