"""Build a client from CLI-style options (one of a REST URL or a gRPC target)."""

from __future__ import annotations

from clients.base import PredictClient
from clients.tls import TlsFiles

__all__ = ["make_client"]


def make_client(model: str, *, server: str | None = None, grpc: str | None = None,
                version: int | None = None, label: str | None = None, timeout: float = 30.0,
                retries: int = 3, columnar: bool = False,
                tls: TlsFiles | None = None) -> PredictClient:
    """A ``RestClient`` for ``server`` or a ``GrpcClient`` for ``grpc`` (exactly one);
    ``tls`` (``clients.tls.tls_files``) secures the gRPC channel or an https:// URL."""
    if (server is None) == (grpc is None):
        raise ValueError("give exactly one of --server http://HOST:PORT (REST) or "
                         "--grpc HOST:PORT")
    if version is not None and label is not None:
        raise ValueError("give --version or --label, not both")
    if server is not None:
        from clients.rest import RestClient

        return RestClient(server, model, version=version, label=label, timeout=timeout,
                          retries=retries, columnar=columnar, tls=tls)
    from clients.grpc_client import GrpcClient

    return GrpcClient(grpc, model, version=version, label=label,  # type: ignore[arg-type]
                      timeout=timeout, retries=retries, tls=tls)
