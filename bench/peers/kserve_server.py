"""KServe peer for ``bench/peers/run.py``: onnxruntime in a ``kserve.Model``.

Runs in the KServe venv (``.tools/peers/kserve``), not the project's. Serves the model as
``m`` on 127.0.0.1: V1 REST ``/v1/models/m:predict`` (``{"instances": [...]}``, the same body
as TF Serving's and ours) and V2 gRPC (``inference.GRPCInferenceService``). KServe has no
request batcher of its own in a ``kserve.Model``: each request is one model call.

Usage: ``python kserve_server.py MODEL.onnx REST_PORT GRPC_PORT``
"""

from __future__ import annotations

import sys

import numpy as np
from _peer_common import onnx_session
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer


class OnnxModel(Model):
    """One onnxruntime session; V1 dict payloads and V2 ``InferRequest`` both accepted."""

    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.session = None
        self.input_name = ""

    def load(self) -> bool:
        """Open the session (called before serving)."""
        self.session, self.input_name = onnx_session(self.path)
        self.ready = True
        return True

    async def predict(self, payload, headers=None, response_headers=None):
        """V1: ``{"instances": [...]}`` -> ``{"predictions": [...]}``; V2: first input."""
        if isinstance(payload, InferRequest):
            x = payload.inputs[0].as_numpy().astype(np.float32, copy=False)
            y = self.session.run(None, {self.input_name: x})[0]
            out = InferOutput(name="scores", shape=list(y.shape), datatype="FP32")
            out.set_data_from_numpy(y, binary_data=False)
            return InferResponse(model_name=self.name, infer_outputs=[out],
                                 response_id=payload.id)
        x = np.asarray(payload["instances"], dtype=np.float32)
        y = self.session.run(None, {self.input_name: x})[0]
        return {"predictions": y.tolist()}


def main() -> None:
    """Load, pick ports, serve."""
    model_path, rest, grpc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    model = OnnxModel("m", model_path)
    model.load()
    ModelServer(http_port=rest, grpc_port=grpc, workers=1, enable_docs_url=False).start([model])


if __name__ == "__main__":
    main()
