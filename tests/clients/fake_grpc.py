"""A gRPC ``PredictionService`` + ``ModelService`` stub around ``FakeModel``.

Built on the tensorflow_serving protos (this imports TensorFlow: use it from a
session-scoped fixture). ``fail_next`` holds gRPC status code names to fail with first.
"""

from __future__ import annotations

from concurrent import futures

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.codecs.tensor_proto import from_numpy, to_numpy
from tests.clients.fake_model import FakeError, FakeModel


class FakeGrpcServer(prediction_service_pb2_grpc.PredictionServiceServicer,
                     model_service_pb2_grpc.ModelServiceServicer):
    """Context manager: ``with FakeGrpcServer() as srv: srv.target``."""

    def __init__(self, model: FakeModel | None = None, credentials=None) -> None:
        """``credentials`` (``grpc.ssl_server_credentials``) make the port TLS."""
        self.model = model or FakeModel()
        self.fail_next: list[str] = []
        self.calls: list[str] = []
        self.last_request: predict_pb2.PredictRequest | None = None
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(self, self._server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(self, self._server)
        port = (self._server.add_secure_port("127.0.0.1:0", credentials)
                if credentials is not None else self._server.add_insecure_port("127.0.0.1:0"))
        self.target = f"127.0.0.1:{port}"

    def _guard(self, name: str, context: grpc.ServicerContext) -> None:
        self.calls.append(name)
        if self.fail_next:
            code = self.fail_next.pop(0)
            context.abort(getattr(grpc.StatusCode, code), f"injected {code}")

    def _resolve(self, spec, context) -> int:
        version = spec.version.value if spec.HasField("version") else None
        label = spec.version_label or None
        return self.model.resolve(spec.name, version, label)

    def _abort(self, err: FakeError, context) -> None:
        context.abort(getattr(grpc.StatusCode, err.code), err.message)

    def Predict(self, request, context):  # noqa: N802 (gRPC method name)
        self._guard("Predict", context)
        self.last_request = request
        try:
            version = self._resolve(request.model_spec, context)
            inputs = {k: to_numpy(v) for k, v in request.inputs.items()}
            outputs = self.model.predict(version, request.model_spec.signature_name
                                         or "serving_default", inputs)
        except FakeError as err:
            self._abort(err, context)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version
        keep = set(request.output_filter) or set(outputs)
        for k, v in outputs.items():
            if k in keep:
                from_numpy(v, response.outputs[k])  # typed *_val fields, as TF Serving answers
        return response

    def GetModelMetadata(self, request, context):  # noqa: N802
        self._guard("GetModelMetadata", context)
        try:
            version = self._resolve(request.model_spec, context)
        except FakeError as err:
            self._abort(err, context)
        meta = self.model.metadata(version)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        json_format.ParseDict(meta["metadata"]["signature_def"], sig_map)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version
        response.metadata["signature_def"].Pack(sig_map)
        return response

    def GetModelStatus(self, request, context):  # noqa: N802
        self._guard("GetModelStatus", context)
        spec = request.model_spec
        try:
            status = self.model.status(spec.name, spec.version.value
                                       if spec.HasField("version") else None)
        except FakeError as err:
            self._abort(err, context)
        return json_format.ParseDict(status, get_model_status_pb2.GetModelStatusResponse())

    def __enter__(self) -> FakeGrpcServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(None)
