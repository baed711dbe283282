"""Build a client from CLI-style options (one of a REST URL or a gRPC target)."""

from __future__ import annotations

from clients.base import PredictClient

__all__ = ["make_client"]


def make_client(model: str, *, server: str | None = None, grpc: str | None = None,
                version: int | None = None, label: str | None = None, timeout: float = 30.0,
                retries: int = 3, columnar: bool = False) -> PredictClient:
    """A ``RestClient`` for ``server`` or a ``GrpcClient`` for ``grpc`` (exactly one)."""
    if (server is None) == (grpc is None):
        raise ValueError("give exactly one of --server http://HOST:PORT (REST) or "
                         "--grpc HOST:PORT")
    if version is not None and label is not None:
        raise ValueError("give --version or --label, not both")
    if server is not None:
        from clients.rest import RestClient

        return RestClient(server, model, version=version, label=label, timeout=timeout,
                          retries=retries, columnar=columnar)
    from clients.grpc_client import GrpcClient

    return GrpcClient(grpc, model, version=version, label=label,  # type: ignore[arg-type]
                      timeout=timeout, retries=retries)
