"""``--tls-ca/--tls-cert/--tls-key``: predict, evaluate and bench over TLS gRPC and https REST.

The fake servers take server-side TLS settings; certificates are made at test time.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from typer.testing import CliRunner

from clients.cli import app
from clients.tls import tls_files
from tests.clients.fake_model import LABELS
from tests.clients.fake_rest import FakeRestServer
from tests.tls_certs import Pki, make_pki

runner = CliRunner()


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _grpc_credentials(pki: Pki, mutual: bool):
    pair = [(pki.server_key.read_bytes(), pki.server_cert.read_bytes())]
    if mutual:
        return grpc.ssl_server_credentials(pair, pki.ca.read_bytes(), require_client_auth=True)
    return grpc.ssl_server_credentials(pair)


@pytest.fixture(scope="module")
def grpc_tls(pki: Pki):
    from tests.clients.fake_grpc import FakeGrpcServer

    with FakeGrpcServer(credentials=_grpc_credentials(pki, mutual=False)) as server:
        yield server


@pytest.fixture(scope="module")
def grpc_mtls(pki: Pki):
    from tests.clients.fake_grpc import FakeGrpcServer

    with FakeGrpcServer(credentials=_grpc_credentials(pki, mutual=True)) as server:
        yield server


def _https_context(pki: Pki, mutual: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if mutual:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    return context


@pytest.fixture
def https_mtls(pki: Pki) -> Iterator[FakeRestServer]:
    with FakeRestServer(ssl_context=_https_context(pki, mutual=True)) as server:
        yield server


@pytest.fixture
def https_tls(pki: Pki) -> Iterator[FakeRestServer]:
    with FakeRestServer(ssl_context=_https_context(pki, mutual=False)) as server:
        yield server


@pytest.fixture
def npz(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "val.npz"
    np.savez(path, x=x, y=np.zeros(4, np.int64))
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    return path


def _mtls_args(pki: Pki) -> list[str]:
    return ["--tls-ca", str(pki.ca), "--tls-cert", str(pki.client_cert),
            "--tls-key", str(pki.client_key)]


def test_predict_over_tls_grpc(grpc_tls, pki: Pki, npz: Path) -> None:
    res = runner.invoke(app, ["predict", str(npz), "--grpc", grpc_tls.target, "--model", "toy",
                              "--json", "--tls-ca", str(pki.ca)])
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["predictions"]) == 4


@pytest.mark.parametrize("extra", [[], ["--tls-ca", "OTHER"]], ids=["plain", "wrong-ca"])
def test_tls_grpc_refusals_are_one_line(grpc_tls, pki: Pki, npz: Path, extra) -> None:
    extra = [str(pki.other_ca) if a == "OTHER" else a for a in extra]
    grpc_tls.calls.clear()
    res = runner.invoke(app, ["predict", str(npz), "--grpc", grpc_tls.target, "--model", "toy",
                              "--timeout", "5", *extra])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("error:")
    assert grpc_tls.calls == []


def test_predict_and_evaluate_over_mtls_grpc(grpc_mtls, pki: Pki, npz: Path) -> None:
    res = runner.invoke(app, ["predict", str(npz), "--grpc", grpc_mtls.target, "--model", "toy",
                              *_mtls_args(pki)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["evaluate", "--data", str(npz), "--grpc", grpc_mtls.target,
                              "--model", "toy", *_mtls_args(pki)])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("accuracy ")


def test_mtls_grpc_without_client_certificate_is_refused(grpc_mtls, pki: Pki,
                                                         npz: Path) -> None:
    grpc_mtls.calls.clear()
    res = runner.invoke(app, ["predict", str(npz), "--grpc", grpc_mtls.target, "--model", "toy",
                              "--timeout", "5", "--tls-ca", str(pki.ca)])
    assert res.exit_code == 1 and res.stderr.startswith("error:")
    assert grpc_mtls.calls == []


def test_predict_over_https_rest_with_a_ca_file(https_tls, pki: Pki, npz: Path) -> None:
    res = runner.invoke(app, ["predict", str(npz), "--server", https_tls.url, "--model", "toy",
                              "--tls-ca", str(pki.ca)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["predict", str(npz), "--server", https_tls.url, "--model", "toy",
                              "--tls-ca", str(pki.other_ca), "--timeout", "5"])
    assert res.exit_code == 1 and "certificate verify failed" in res.stderr.lower()


def test_bench_over_mtls_grpc_and_https_rest(grpc_mtls, https_mtls, pki: Pki,
                                             tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    res = runner.invoke(app, [
        "bench", "--server", https_mtls.url, "--grpc", grpc_mtls.target, "--model", "toy",
        "--protocol", "rest,grpc", "--concurrency", "2", "--warmup", "0.2",
        "--duration", "0.9", "--window", "0.3", "--json", str(out), *_mtls_args(pki)])
    assert res.exit_code == 0, res.output
    points = json.loads(out.read_text())["points"]
    assert [p["protocol"] for p in points] == ["rest", "grpc"]
    for p in points:
        assert p["requests_ok"] > 0 and p["errors"] == {} and p["mismatched"] == 0


def test_library_client_with_tls_files(grpc_mtls, pki: Pki) -> None:
    from clients.grpc_client import GrpcClient

    tls = tls_files(pki.ca, pki.client_cert, pki.client_key)
    with GrpcClient(grpc_mtls.target, "toy", tls=tls) as client:
        image = np.zeros((32, 32, 3), np.uint8)
        assert client.predict([image], top_k=1)[0].labels[0] in LABELS


@pytest.mark.parametrize(("which", "message"), [
    ("cert-only", "--tls-cert and --tls-key go together"),
    ("missing-ca", "--tls-ca .*missing.pem: cannot read"),
    ("not-pem", "--tls-ca .*: not a PEM file"),
    ("mismatched", "not a usable certificate and key pair"),
    ("http-url", "need an https:// URL for REST"),
])
def test_bad_tls_options_are_one_line(pki: Pki, npz: Path, tmp_path: Path, which: str,
                                      message: str) -> None:
    (tmp_path / "junk.pem").write_text("hello")
    args = {
        "cert-only": ["--grpc", "127.0.0.1:1", "--tls-cert", str(pki.client_cert)],
        "missing-ca": ["--grpc", "127.0.0.1:1", "--tls-ca", str(tmp_path / "missing.pem")],
        "not-pem": ["--grpc", "127.0.0.1:1", "--tls-ca", str(tmp_path / "junk.pem")],
        "mismatched": ["--grpc", "127.0.0.1:1", "--tls-cert", str(pki.client_cert),
                       "--tls-key", str(pki.server_key)],
        "http-url": ["--server", "http://127.0.0.1:1", "--tls-ca", str(pki.ca)],
    }[which]
    res = runner.invoke(app, ["predict", str(npz), "--model", "toy", *args])
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert re.search(message, lines[0]), lines[0]
