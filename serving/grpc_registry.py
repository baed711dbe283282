"""Register the gRPC services with request parsing that answers INVALID_ARGUMENT.

The generated ``add_*Servicer_to_server`` functions parse requests with ``FromString``; bytes
that are not a valid message then raise inside gRPC and the caller gets UNKNOWN ("Unexpected
DecodeError") plus a logged traceback. Here a request that does not parse reaches the method
as ``Malformed`` and is answered INVALID_ARGUMENT with a one-line message, without calling
the servicer. (TF Serving's C++ server answers such bytes with INTERNAL; a client mistake is
not an internal error, so we deviate on purpose.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc

from common import wire

__all__ = ["Malformed", "register_services", "PREDICTION_SERVICE", "MODEL_SERVICE"]

PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"



@dataclass(frozen=True)
class Malformed:
    """A request body that is not a valid serialized ``type_name``."""

    type_name: str

    @property
    def message(self) -> str:
        """The INVALID_ARGUMENT message sent to the caller."""
        return f"Could not parse the request: not a valid serialized {self.type_name}"


def _tolerant(message_class) -> Callable[[bytes], object]:
    type_name = message_class.DESCRIPTOR.full_name

    def deserialize(data: bytes):
        try:
            return message_class.FromString(data)
        except Exception:  # DecodeError (and RuntimeError from the upb parser on deep nesting)
            return Malformed(type_name)

    return deserialize


def _checked(method):
    async def behavior(request, context):
        if isinstance(request, Malformed):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        return await method(request, context)

    return behavior


def register_services(server, servicers: dict[str, object]) -> None:
    """Add ``{service name: servicer}`` to a ``grpc.aio`` server with tolerant parsing."""
    for service, servicer in servicers.items():
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                _checked(getattr(servicer, name)),
                request_deserializer=_tolerant(request),
                response_serializer=response.SerializeToString,
            )
            for name, (request, response) in wire.services()[service].items()
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
