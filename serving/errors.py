"""The server's one error hierarchy.

Every error carries a canonical status code (absl/gRPC names). The code is mapped to an
HTTP status and to a gRPC status here and nowhere else, following TF Serving's
``http_server.cc::ToHTTPStatusCode`` and ``grpc_status_util.cc``.
"""

from __future__ import annotations

import enum

__all__ = [
    "Code",
    "ServingError",
    "InvalidArgument",
    "NotFound",
    "FailedPrecondition",
    "Unimplemented",
    "Unavailable",
    "DeadlineExceeded",
    "ResourceExhausted",
    "Internal",
    "Cancelled",
    "http_status",
    "grpc_status_code",
    "GRPC_MESSAGE_LIMIT",
]

GRPC_MESSAGE_LIMIT = 1024  # TF Serving truncates gRPC error messages to this many characters


class Code(enum.IntEnum):
    """Canonical status codes (values as in ``tensorflow.error.Code`` and gRPC)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


_HTTP = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


def http_status(code: Code) -> int:
    """HTTP status for a canonical code, as TF Serving's REST server maps it."""
    return _HTTP.get(code, 500)


def grpc_status_code(code: Code):  # -> grpc.StatusCode (grpc imported lazily)
    """gRPC status for a canonical code (codes pass through unchanged in TF Serving)."""
    import grpc

    for status in grpc.StatusCode:
        if status.value[0] == int(code):
            return status
    return grpc.StatusCode.UNKNOWN


class ServingError(Exception):
    """Base of all errors the server reports to a caller; ``message`` is sent verbatim."""

    code: Code = Code.UNKNOWN

    def __init__(self, message: str, code: Code | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidArgument(ServingError):
    code = Code.INVALID_ARGUMENT


class NotFound(ServingError):
    code = Code.NOT_FOUND


class FailedPrecondition(ServingError):
    code = Code.FAILED_PRECONDITION


class Unimplemented(ServingError):
    code = Code.UNIMPLEMENTED


class Unavailable(ServingError):
    code = Code.UNAVAILABLE


class DeadlineExceeded(ServingError):
    code = Code.DEADLINE_EXCEEDED


class ResourceExhausted(ServingError):
    code = Code.RESOURCE_EXHAUSTED


class Internal(ServingError):
    code = Code.INTERNAL


class Cancelled(ServingError):
    code = Code.CANCELLED
