"""Client TLS settings: ``--tls-ca`` / ``--tls-cert`` / ``--tls-key`` for gRPC and https REST.

gRPC: TLS is on when any of the three is given (a server started with TF Serving's
``--ssl_config_file``); ``--tls-ca`` is the root the server certificate is checked against
(default: the system roots), ``--tls-cert``/``--tls-key`` the client pair mutual TLS asks
for. REST: the same files apply to an ``https://`` URL (a TLS-terminating proxy in front of
the plain-HTTP REST port). Files are read and checked when the client is built, so a wrong
path or a key that does not belong to the certificate is one clear line, not a failed
handshake later.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TlsFiles", "tls_files"]


def _read_pem(path: Path, flag: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{flag} {path}: cannot read: {exc.strerror}") from None
    if b"-----BEGIN " not in data:
        raise ValueError(f"{flag} {path}: not a PEM file (expected '-----BEGIN ...')")
    return data


@dataclass(frozen=True)
class TlsFiles:
    """PEM contents of the CA, client certificate and client key (each optional)."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None
    ca_path: Path | None = None
    cert_path: Path | None = None
    key_path: Path | None = None

    def grpc_credentials(self):
        """``grpc.ChannelCredentials`` for ``secure_channel`` / ``aio.secure_channel``."""
        import grpc

        return grpc.ssl_channel_credentials(root_certificates=self.ca, private_key=self.key,
                                            certificate_chain=self.cert)

    def ssl_context(self) -> ssl.SSLContext:
        """An ``ssl.SSLContext`` verifying the server (``ca`` or the system roots) and
        presenting the client pair when given."""
        context = ssl.create_default_context(cadata=self.ca.decode() if self.ca else None)
        if self.cert_path is not None and self.key_path is not None:
            _load_pair(context, self.cert_path, self.key_path)
        return context


def _load_pair(context: ssl.SSLContext, cert: Path, key: Path) -> None:
    try:
        context.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        raise ValueError(f"--tls-cert {cert} / --tls-key {key}: not a usable certificate and "
                         f"key pair ({reason})") from None


def tls_files(ca: Path | None = None, cert: Path | None = None,
              key: Path | None = None) -> TlsFiles | None:
    """``TlsFiles`` from the three flags (None when none is given); raises ``ValueError``
    with one line for a missing file, a non-PEM file, a lone cert or key, or a pair that
    does not match."""
    if ca is None and cert is None and key is None:
        return None
    if (cert is None) != (key is None):
        raise ValueError("--tls-cert and --tls-key go together (the client certificate and "
                         "its private key, for servers that require client certificates)")
    files = TlsFiles(
        ca=_read_pem(ca, "--tls-ca") if ca is not None else None,
        cert=_read_pem(cert, "--tls-cert") if cert is not None else None,
        key=_read_pem(key, "--tls-key") if key is not None else None,
        ca_path=ca, cert_path=cert, key_path=key)
    if ca is not None:
        try:
            ssl.create_default_context(cadata=files.ca.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as exc:
            raise ValueError(f"--tls-ca {ca}: no usable CA certificate in it "
                             f"({getattr(exc, 'reason', None) or exc})") from None
    if cert is not None and key is not None:
        _load_pair(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), cert, key)
    return files
