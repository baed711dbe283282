"""gRPC client for TF Serving's ``PredictionService`` / ``ModelService``.

The messages come from the project's declared schema, ``common.wire`` (protobuf only,
no TensorFlow, no ``tensorflow-serving-api``); nothing is loaded until a ``GrpcClient`` is
created. Message sizes are raised to 256 MiB both ways (gRPC's default receive limit is
4 MiB). With ``tls`` (``clients.tls``) the channel is TLS, with a client certificate for
mutual TLS when given.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clients.base import PredictClient
from clients.errors import MalformedResponse, ServerUnavailable, from_grpc_code
from clients.tls import TlsFiles
from common import wire
from serving.codecs.tensor_proto import from_numpy, to_numpy

__all__ = ["GrpcClient", "MAX_MESSAGE_BYTES", "channel_options"]

MAX_MESSAGE_BYTES = 256 * 1024 * 1024


def channel_options(max_message_bytes: int = MAX_MESSAGE_BYTES) -> list[tuple[str, int]]:
    """Channel arguments: large messages both ways."""
    return [("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes)]


class GrpcClient(PredictClient):
    """TF Serving gRPC client: ``GrpcClient("127.0.0.1:8500", "cifar")``."""

    def __init__(self, target: str, model: str, *, version: int | None = None,
                 label: str | None = None, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.1, max_message_bytes: int = MAX_MESSAGE_BYTES,
                 labels: list[str] | None = None, tls: TlsFiles | None = None) -> None:
        super().__init__(model, version=version, label=label, timeout=timeout,
                         retries=retries, backoff=backoff, labels=labels)
        import grpc

        self._grpc = grpc
        self._msg = wire
        self.target = target.removeprefix("grpc://")
        self.credentials = tls.grpc_credentials() if tls is not None else None
        options = channel_options(max_message_bytes)
        self._channel = (grpc.secure_channel(self.target, self.credentials, options=options)
                         if self.credentials is not None
                         else grpc.insecure_channel(self.target, options=options))
        m = self._msg
        self._raw_predict = self._channel.unary_unary(self.predict_method)  # bytes in/out
        self._get_metadata = self._channel.unary_unary(
            "/tensorflow.serving.PredictionService/GetModelMetadata",
            request_serializer=m.GetModelMetadataRequest.SerializeToString,
            response_deserializer=m.GetModelMetadataResponse.FromString)
        self._get_status = self._channel.unary_unary(
            "/tensorflow.serving.ModelService/GetModelStatus",
            request_serializer=m.GetModelStatusRequest.SerializeToString,
            response_deserializer=m.GetModelStatusResponse.FromString)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def _spec(self, spec: Any, signature: str = "") -> None:
        spec.name = self.model
        if self.version is not None:
            spec.version.value = int(self.version)
        elif self.label is not None:
            spec.version_label = self.label
        if signature:
            spec.signature_name = signature

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout)
        except self._grpc.RpcError as exc:
            code = exc.code().name if exc.code() is not None else "UNKNOWN"
            details = exc.details() or ""
            if code == "UNAVAILABLE":
                raise ServerUnavailable(f"{self.target}: {details}", code=code) from exc
            raise from_grpc_code(code, details) from exc

    predict_method = "/tensorflow.serving.PredictionService/Predict"

    def encode_predict(self, signature: str, inputs: dict[str, np.ndarray],
                       output_filter: list[str] | None) -> bytes:
        """A serialized ``PredictRequest`` (inputs as ``tensor_content``)."""
        request = self._msg.PredictRequest()
        self._spec(request.model_spec, signature)
        for alias, arr in inputs.items():
            from_numpy(arr, request.inputs[alias], tensor_content=True)
        if output_filter:
            request.output_filter.extend(output_filter)
        return request.SerializeToString()

    def decode_predict(self, raw: bytes, signature: str) -> dict[str, np.ndarray]:
        """Outputs from a serialized ``PredictResponse``."""
        try:
            response = self._msg.PredictResponse.FromString(raw)
            return {k: to_numpy(v) for k, v in response.outputs.items()}
        except Exception as exc:  # protobuf DecodeError or a bad tensor
            raise MalformedResponse(f"predict answer not understood: {exc}") from exc

    def _predict_call(self, signature: str, inputs: dict[str, np.ndarray],
                      output_filter: list[str] | None) -> dict[str, np.ndarray]:
        raw = self._call(self._raw_predict, self.encode_predict(signature, inputs, output_filter))
        return self.decode_predict(raw, signature)

    def _metadata_call(self) -> dict[str, Any]:
        from google.protobuf.json_format import MessageToDict

        request = self._msg.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec)
        response = self._call(self._get_metadata, request)
        if "signature_def" not in response.metadata:
            raise MalformedResponse("metadata answer has no 'signature_def' entry")
        sig_map = self._msg.SignatureDefMap()
        if not response.metadata["signature_def"].Unpack(sig_map):
            raise MalformedResponse("metadata 'signature_def' is not a SignatureDefMap")
        version = response.model_spec.version.value if response.model_spec.HasField(
            "version") else None
        return {"model_spec": {"name": response.model_spec.name,
                               "version": "" if version is None else str(version)},
                "metadata": {"signature_def": MessageToDict(
                    sig_map, preserving_proto_field_name=True)}}

    def _status_call(self) -> dict[str, Any]:
        from google.protobuf.json_format import MessageToDict

        request = self._msg.GetModelStatusRequest()
        self._spec(request.model_spec)
        response = self._call(self._get_status, request)
        return MessageToDict(response, preserving_proto_field_name=True,
                             always_print_fields_with_no_presence=True)
