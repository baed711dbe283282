"""Typed client exceptions, each carrying the server's own message.

One hierarchy for both protocols: REST maps HTTP statuses (TF Serving's
``http_server.cc::ToHTTPStatusCode`` table, read backwards) and gRPC maps status codes to
the same classes, so application code catches ``ModelNotFound`` whatever the transport.
"""

from __future__ import annotations

__all__ = [
    "ClientError",
    "ServerUnavailable",
    "ModelNotFound",
    "BadRequest",
    "SignatureError",
    "RequestTimeout",
    "MalformedResponse",
    "ServerError",
    "from_http_status",
    "from_grpc_code",
]


class ClientError(Exception):
    """Base class: ``message`` is the server's text (or ours when there was no answer),
    ``code`` the canonical status name (``NOT_FOUND``...) when known."""

    transient = False

    def __init__(self, message: str, *, code: str = "", http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status

    def __str__(self) -> str:
        prefix = f"{self.code}: " if self.code else ""
        return f"{prefix}{self.message}"


class ServerUnavailable(ClientError):
    """Connection refused/reset, or the server answered UNAVAILABLE (503). Retried."""

    transient = True


class ModelNotFound(ClientError):
    """Unknown model or version (NOT_FOUND / 404)."""


class BadRequest(ClientError):
    """The caller's request was rejected (INVALID_ARGUMENT, FAILED_PRECONDITION, 4xx)."""


class SignatureError(BadRequest):
    """The model lacks the signature, input or output a mode needs."""


class RequestTimeout(ClientError):
    """No answer within the timeout, or DEADLINE_EXCEEDED (504)."""


class MalformedResponse(ClientError):
    """The server answered something that is not a TF Serving response."""


class ServerError(ClientError):
    """Any other server-side failure (INTERNAL, UNKNOWN, UNIMPLEMENTED, 5xx)."""


_SIGNATURE_HINTS = ("signature", "named input", "Missing named input")


def _classify_bad_request(message: str) -> type[BadRequest]:
    return SignatureError if any(h in message for h in _SIGNATURE_HINTS) else BadRequest


def from_http_status(status: int, message: str) -> ClientError:
    """The exception for a non-200 REST answer whose ``{"error": ...}`` text is ``message``."""
    if status == 404:
        return ModelNotFound(message, code="NOT_FOUND", http_status=status)
    if status == 503:
        return ServerUnavailable(message, code="UNAVAILABLE", http_status=status)
    if status == 504:
        return RequestTimeout(message, code="DEADLINE_EXCEEDED", http_status=status)
    if 400 <= status < 500:
        code = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED"}.get(status, "")
        return _classify_bad_request(message)(message, code=code, http_status=status)
    code = {500: "INTERNAL", 501: "UNIMPLEMENTED"}.get(status, "")
    return ServerError(message, code=code, http_status=status)


def from_grpc_code(code_name: str, message: str) -> ClientError:
    """The exception for a gRPC status (``code_name`` as in ``grpc.StatusCode.X.name``)."""
    if code_name == "NOT_FOUND":
        return ModelNotFound(message, code=code_name)
    if code_name == "UNAVAILABLE":
        return ServerUnavailable(message, code=code_name)
    if code_name == "DEADLINE_EXCEEDED":
        return RequestTimeout(message, code=code_name)
    if code_name in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE",
                     "RESOURCE_EXHAUSTED"):
        return _classify_bad_request(message)(message, code=code_name)
    return ServerError(message, code=code_name)
