"""PyTriton peer for ``bench/peers/run.py``: Triton's C++ HTTP/gRPC front end and dynamic
batcher, onnxruntime in the bound Python function.

Runs in the PyTriton venv (``.tools/peers/pytriton``). Serves ``m`` on 127.0.0.1 with V2 REST
and gRPC; the input is ``image`` FP32 ``[-1, 128, 128, 3]`` (batch dimension from
``max_batch_size``), the output ``scores``. PyTriton 0.7 restricts Triton's statistics,
model-repository, shared-memory, trace and logging APIs behind a generated
``triton-access-token`` header by default; ``perf_analyzer`` reads the statistics API, so this
loopback-only benchmark turns the restriction off (``restricted_endpoints=[]``) rather than
hand the token around. Inference itself was never restricted.

Usage: ``python pytriton_server.py MODEL.onnx REST_PORT GRPC_PORT METRICS_PORT [MAX_BATCH]``
"""

from __future__ import annotations

import os
import sys
import sysconfig

import numpy as np
from _peer_common import onnx_session
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig


def _use_this_libpython() -> None:
    """Triton's Python-backend stub links ``libpython3.X.so`` dynamically and runs this
    interpreter's standard library; when the system has another 3.X patch release (Debian's
    3.11.2 beside a 3.11.7 build), the stub would load the system's and fail on the newer
    standard library. Put this interpreter's own ``LIBDIR`` first for Triton's processes."""
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir and os.path.isdir(libdir):
        old = os.environ.get("LD_LIBRARY_PATH")
        os.environ["LD_LIBRARY_PATH"] = libdir + (f":{old}" if old else "")


def main() -> None:
    """Bind the model and serve until SIGTERM/SIGINT."""
    _use_this_libpython()
    model_path = sys.argv[1]
    rest, grpc, metrics = (int(v) for v in sys.argv[2:5])
    max_batch = int(sys.argv[5]) if len(sys.argv) > 5 else 16
    session, input_name = onnx_session(model_path)
    size = session.get_inputs()[0].shape[1:]

    @batch
    def infer(image: np.ndarray) -> dict[str, np.ndarray]:
        return {"scores": session.run(None, {input_name: image.astype(np.float32, copy=False)})[0]}

    config = TritonConfig(http_address="127.0.0.1", http_port=rest, grpc_address="127.0.0.1",
                          grpc_port=grpc, metrics_port=metrics, log_verbose=0)
    with Triton(config=config,
                security_config=TritonSecurityConfig(restricted_endpoints=[])) as triton:
        triton.bind(model_name="m", infer_func=infer,
                    inputs=[Tensor(name="image", dtype=np.float32, shape=tuple(size))],
                    outputs=[Tensor(name="scores", dtype=np.float32, shape=(-1,))],
                    config=ModelConfig(max_batch_size=max_batch,
                                       batcher=DynamicBatcher(max_queue_delay_microseconds=0)))
        triton.serve()


if __name__ == "__main__":
    main()
