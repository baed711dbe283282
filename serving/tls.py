"""TLS on the gRPC port from TF Serving's ``--ssl_config_file`` (an ``SSLConfig`` text proto).

As in ``tensorflow_model_server`` (``BuildServerCredentialsFromSSLConfigFile``): the fields
hold PEM *text*, not file paths; ``server_key``/``server_cert`` are the key pair the port
presents; ``client_verify: true`` requires and verifies a client certificate
(``GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY``), ``false`` does not ask for
one; ``custom_ca`` is the root the client certificates are checked against. The same
credentials secure ``--grpc_socket_path``. REST stays plain HTTP, as in TF Serving.

Unlike TF Serving (which aborts with a ``CHECK`` failure, or starts a port on which every
handshake fails), problems are found at start-up, before any model loads, and reported in one
line: unreadable or malformed file, a field holding a path instead of PEM text, a key that is
not the certificate's, ``client_verify`` without ``custom_ca``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from serving.server_options import FlagError

__all__ = ["TlsConfig", "load_ssl_config", "server_credentials"]

log = logging.getLogger(__name__)
_PEM = b"-----BEGIN "


@dataclass(frozen=True)
class TlsConfig:
    """Validated PEM material of an ``SSLConfig`` (bytes, as gRPC takes them)."""

    server_key: bytes
    server_cert: bytes
    custom_ca: bytes | None
    client_verify: bool

    def describe(self) -> str:
        """``TLS`` or ``mutual TLS`` for the start-up log line."""
        return "mutual TLS (client certificates required)" if self.client_verify else "TLS"


def _field(config, name: str, path: str, what: str) -> bytes:
    """The field's PEM bytes; a clear error when it is empty, a path, or not PEM."""
    text: str = getattr(config, name)
    stripped = text.strip()
    if not stripped:
        raise FlagError(f"--ssl_config_file {path}: {name} is empty; it must hold the PEM text "
                        f"of the {what}")
    data = stripped.encode()
    if _PEM not in data:
        hint = ""
        if "\n" not in stripped and len(stripped) < 4096 and Path(stripped).exists():
            hint = (" (it names a file: SSLConfig fields hold the PEM text itself, as in "
                    "TF Serving; paste the file's contents)")
        raise FlagError(f"--ssl_config_file {path}: {name} is not PEM text (expected "
                        f"'-----BEGIN ...'){hint}")
    return data + b"\n"


def _check_key_pair(key_pem: bytes, cert_pem: bytes, path: str):
    """Load the key and the certificate chain; they must belong together."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise FlagError(f"--ssl_config_file {path}: server_key is encrypted; gRPC needs an "
                        "unencrypted PEM private key") from None
    except (ValueError, UnsupportedAlgorithm) as err:
        raise FlagError(f"--ssl_config_file {path}: server_key is not a readable PEM private "
                        f"key ({_short(err)})") from None
    chain = _certificates(cert_pem, "server_cert", path)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public) != chain[0].public_key().public_bytes(
            encoding, public):
        raise FlagError(f"--ssl_config_file {path}: server_key does not match server_cert "
                        f"(the certificate for {chain[0].subject.rfc4514_string()!r} holds "
                        "another public key)")
    return chain[0]


def _certificates(pem: bytes, name: str, path: str) -> list:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as err:
        raise FlagError(f"--ssl_config_file {path}: {name} is not a readable PEM certificate "
                        f"({_short(err)})") from None
    return certs


def _short(err: Exception) -> str:
    return " ".join(str(err).split())[:200]


def _warn_validity(cert, path: str) -> None:
    now = dt.datetime.now(dt.UTC)
    if now > cert.not_valid_after_utc:
        log.warning("--ssl_config_file %s: server_cert expired on %s; clients will refuse it",
                    path, cert.not_valid_after_utc.isoformat())
    elif now < cert.not_valid_before_utc:
        log.warning("--ssl_config_file %s: server_cert is not valid before %s", path,
                    cert.not_valid_before_utc.isoformat())


def load_ssl_config(path: str) -> TlsConfig:
    """Read and check an ``SSLConfig`` text proto (raises ``FlagError`` with one line)."""
    from google.protobuf import text_format

    from common import wire

    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or _short(err)
        raise FlagError(f"--ssl_config_file: cannot read {path}: {reason}") from None
    try:
        config = text_format.Parse(text, wire.SSLConfig())
    except text_format.ParseError as err:
        raise FlagError(f"Error parsing text-format tensorflow.serving.SSLConfig in {path}: "
                        f"{err}") from None
    key = _field(config, "server_key", path, "server's private key")
    cert = _field(config, "server_cert", path, "server's certificate (chain)")
    leaf = _check_key_pair(key, cert, path)
    _warn_validity(leaf, path)
    ca = None
    if config.custom_ca.strip():
        ca = _field(config, "custom_ca", path, "CA certificate(s)")
        _certificates(ca, "custom_ca", path)
    if config.client_verify and ca is None:
        raise FlagError(f"--ssl_config_file {path}: client_verify: true needs custom_ca (the "
                        "PEM of the CA that signs the client certificates)")
    if ca is not None and not config.client_verify:
        log.warning("--ssl_config_file %s: custom_ca has no effect without client_verify: "
                    "true (client certificates are not requested)", path)
    return TlsConfig(key, cert, ca, bool(config.client_verify))


def server_credentials(config: TlsConfig):
    """``grpc.ServerCredentials`` as TF Serving builds them from the same ``SSLConfig``."""
    import grpc

    return grpc.ssl_server_credentials(
        [(config.server_key, config.server_cert)],
        root_certificates=config.custom_ca if config.client_verify else None,
        require_client_auth=config.client_verify,
    )
