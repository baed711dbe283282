"""Certificates made at test time (``cryptography``): two CAs, a server pair, client pairs.

``make_pki(directory)`` writes PEM files and returns their paths; ``ssl_config_text`` writes
an ``SSLConfig`` text proto the way TF Serving users do (PEM text split into adjacent quoted
strings, one per line). Keys are EC P-256 (fast to make); certificates live one day.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Pki", "make_pki", "ssl_config_text"]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: str, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)))


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _ca(common_name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(common_name, _name(common_name), key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _leaf(common_name: str, ca_key, ca_cert: x509.Certificate, server: bool):
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (_builder(common_name, ca_cert.subject, key.public_key())
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    """Paths of the PEM files ``make_pki`` wrote."""

    ca: Path  # signs the server and the good client
    server_key: Path
    server_cert: Path
    client_key: Path  # signed by ``ca``
    client_cert: Path
    other_ca: Path  # an unrelated CA
    other_client_key: Path  # signed by ``other_ca``
    other_client_cert: Path
    self_signed_key: Path  # a client certificate nobody signed
    self_signed_cert: Path


def make_pki(directory: Path) -> Pki:
    """Make both CAs and every pair; write them under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca("tfserve-kit test CA")
    other_key, other_cert = _ca("some other CA")
    server = _leaf("localhost", ca_key, ca_cert, server=True)
    client = _leaf("good client", ca_key, ca_cert, server=False)
    stranger = _leaf("other client", other_key, other_cert, server=False)
    lone_key, lone_cert = _ca("self-signed client")
    files = {
        "ca": _cert_pem(ca_cert), "server_key": _key_pem(server[0]),
        "server_cert": _cert_pem(server[1]), "client_key": _key_pem(client[0]),
        "client_cert": _cert_pem(client[1]), "other_ca": _cert_pem(other_cert),
        "other_client_key": _key_pem(stranger[0]),
        "other_client_cert": _cert_pem(stranger[1]),
        "self_signed_key": _key_pem(lone_key), "self_signed_cert": _cert_pem(lone_cert),
    }
    paths = {}
    for name, data in files.items():
        path = directory / (name + (".key" if name.endswith("_key") else ".pem"))
        path.write_bytes(data)
        paths[name] = path
    return Pki(**paths)


def _quoted_lines(pem: str) -> str:
    lines = pem.strip().splitlines()
    return "\n  ".join(f'"{line}\\n"' for line in lines)


def ssl_config_text(key: Path | str, cert: Path | str, ca: Path | str | None = None,
                    client_verify: bool = False) -> str:
    """An ``SSLConfig`` text proto holding the PEM *contents* of the given files."""
    text = (f"server_key: {_quoted_lines(Path(key).read_text())}\n"
            f"server_cert: {_quoted_lines(Path(cert).read_text())}\n")
    if ca is not None:
        text += f"custom_ca: {_quoted_lines(Path(ca).read_text())}\n"
    if client_verify:
        text += "client_verify: true\n"
    return text
