"""``--ssl_config_file``: TF Serving's SSLConfig, TLS and mutual TLS on the gRPC port.

Certificates are made at test time (tests/tls_certs.py). Refused clients must fail in the
handshake: the request counter (bumped by every gRPC handler, errors included) stays put.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from serving.server_options import FlagError
from serving.tls import load_ssl_config
from tests.tls_certs import Pki, make_pki, ssl_config_text

PREDICT = "/tensorflow.serving.PredictionService/Predict"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _write(tmp_path: Path, text: str, name: str = "ssl.config") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---- parsing and start-up checks -------------------------------------------------------

def test_ssl_config_holds_pem_text_in_tf_serving_format(pki: Pki, tmp_path: Path) -> None:
    path = _write(tmp_path, ssl_config_text(pki.server_key, pki.server_cert, pki.ca, True))
    config = load_ssl_config(str(path))
    assert config.client_verify and config.describe().startswith("mutual TLS")
    assert config.server_key.strip() == pki.server_key.read_bytes().strip()
    assert config.server_cert.strip() == pki.server_cert.read_bytes().strip()
    assert config.custom_ca is not None
    assert config.custom_ca.strip() == pki.ca.read_bytes().strip()


def test_tls_without_client_verify(pki: Pki, tmp_path: Path) -> None:
    config = load_ssl_config(str(_write(tmp_path, ssl_config_text(pki.server_key,
                                                                  pki.server_cert))))
    assert not config.client_verify and config.custom_ca is None and config.describe() == "TLS"


def _bad_configs(pki: Pki, tmp_path: Path) -> list[tuple[str, str]]:
    key, cert = pki.server_key, pki.server_cert
    broken_key = _write(tmp_path, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                        "broken.key")
    return [
        (ssl_config_text(pki.client_key, cert), "server_key does not match server_cert"),
        (f'server_key: "{key}"\nserver_cert: "{cert}"\n',
         "server_key is not PEM text .* names a file"),
        ('server_cert: "x"\n', "server_key is empty"),
        ('server_key: "garbage"\nserver_cert: "garbage"\n', "server_key is not PEM text"),
        (ssl_config_text(broken_key, cert), "server_key is not a readable PEM private key"),
        (ssl_config_text(key, key), "server_cert is not a readable PEM certificate"),
        (ssl_config_text(key, cert, client_verify=True), "client_verify: true needs custom_ca"),
        (ssl_config_text(key, cert, key, True), "custom_ca is not a readable PEM certificate"),
        ('server_keys: "x"\n', "Error parsing text-format tensorflow.serving.SSLConfig"),
    ]


@pytest.mark.parametrize("case", range(9))
def test_bad_ssl_config_is_one_clear_line(pki: Pki, tmp_path: Path, case: int) -> None:
    text, message = _bad_configs(pki, tmp_path)[case]
    with pytest.raises(FlagError, match=message) as info:
        load_ssl_config(str(_write(tmp_path, text)))
    assert "\n" not in str(info.value)


def test_unreadable_ssl_config(tmp_path: Path) -> None:
    with pytest.raises(FlagError, match="cannot read .*missing.config"):
        load_ssl_config(str(tmp_path / "missing.config"))


def test_cli_mismatched_key_fails_before_loading_models(pki: Pki, tmp_path: Path) -> None:
    path = _write(tmp_path, ssl_config_text(pki.client_key, pki.server_cert))
    code = "import sys; from serving.cli import main; sys.argv[0] = 'serving'; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "serve", f"--ssl_config_file={path}",
         f"--model_base_path={tmp_path / 'no-models-here'}", "--port=0", "--rest_api_port=0"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("serving serve:")]
    assert ours == [
        f"serving serve: --ssl_config_file {path}: server_key does not match server_cert "
        "(the certificate for 'CN=localhost' holds another public key)"]


# ---- live servers ------------------------------------------------------------------------

class Running:
    def __init__(self, background, socket_path: str) -> None:
        self.background = background
        self.grpc = f"127.0.0.1:{background.ports['grpc']}"
        self.rest = background.ports["rest"]
        self.socket_path = socket_path

    def requests_seen(self) -> int:
        return self.background.app.core.metrics.request_count.total()


def _start(base: Path, config: Path, socket_path: str) -> Running:
    from serving.app import BackgroundServer
    from serving.server_options import parse_flags

    options = parse_flags([
        "--port=0", "--rest_api_port=auto", "--model_name=hp", f"--model_base_path={base}",
        "--file_system_poll_wait_seconds=0", "--drain_timeout_seconds=2",
        f"--ssl_config_file={config}", f"--grpc_socket_path={socket_path}"])
    background = BackgroundServer(options)
    background.start()
    return Running(background, socket_path)


@pytest.fixture(scope="module")
def tls_server(pki: Pki, half_plus_two_base: Path, tmp_path_factory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("tls")
    config = _write(tmp, ssl_config_text(pki.server_key, pki.server_cert))
    running = _start(half_plus_two_base, config, str(tmp / "grpc.sock"))
    yield running
    running.background.stop()


@pytest.fixture(scope="module")
def mtls_server(pki: Pki, half_plus_two_base: Path, tmp_path_factory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("mtls")
    config = _write(tmp, ssl_config_text(pki.server_key, pki.server_cert, pki.ca, True))
    running = _start(half_plus_two_base, config, str(tmp / "grpc.sock"))
    yield running
    running.background.stop()


def _credentials(ca: Path | None, key: Path | None = None, cert: Path | None = None):
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes() if ca else None,
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None)


def _predict(target: str, credentials=None, options=()) -> np.ndarray:
    """Predict [1, 2] on ``hp``; raises ``grpc.RpcError`` when refused."""
    from tensorflow_serving.apis import predict_pb2

    from serving.codecs.tensor_proto import from_numpy, to_numpy

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hp"
    from_numpy(np.array([1.0, 2.0], np.float32), request.inputs["x"])
    channel = (grpc.secure_channel(target, credentials, options=list(options))
               if credentials is not None else grpc.insecure_channel(target))
    with channel:
        call = channel.unary_unary(
            PREDICT, request_serializer=predict_pb2.PredictRequest.SerializeToString,
            response_deserializer=predict_pb2.PredictResponse.FromString)
        return to_numpy(call(request, timeout=20).outputs["y"])


def _refused(server: Running, credentials=None) -> None:
    before = server.requests_seen()
    with pytest.raises(grpc.RpcError) as info:
        _predict(server.grpc, credentials)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value.details()
    assert server.requests_seen() == before, "a refused client reached a handler"


def test_tls_serves_a_client_trusting_the_ca(tls_server: Running, pki: Pki) -> None:
    before = tls_server.requests_seen()
    np.testing.assert_allclose(_predict(tls_server.grpc, _credentials(pki.ca)), [3.5, 4.0])
    assert tls_server.requests_seen() == before + 1


def test_tls_refuses_plain_text_and_a_client_trusting_another_ca(tls_server: Running,
                                                                 pki: Pki) -> None:
    _refused(tls_server)
    _refused(tls_server, _credentials(pki.other_ca))


def test_rest_stays_plain_http_as_in_tf_serving(tls_server: Running) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", tls_server.rest, timeout=20)
    conn.request("GET", "/v1/models/hp")
    assert conn.getresponse().status == 200
    conn.close()


def test_mtls_admits_a_client_signed_by_custom_ca(mtls_server: Running, pki: Pki) -> None:
    credentials = _credentials(pki.ca, pki.client_key, pki.client_cert)
    np.testing.assert_allclose(_predict(mtls_server.grpc, credentials), [3.5, 4.0])


@pytest.mark.parametrize("client", ["plain-text", "no certificate", "self-signed",
                                    "other CA"])
def test_mtls_refuses_in_the_handshake(mtls_server: Running, pki: Pki, client: str) -> None:
    credentials = {
        "plain-text": None,
        "no certificate": _credentials(pki.ca),
        "self-signed": _credentials(pki.ca, pki.self_signed_key, pki.self_signed_cert),
        "other CA": _credentials(pki.ca, pki.other_client_key, pki.other_client_cert),
    }[client]
    _refused(mtls_server, credentials)


def test_mtls_secures_the_unix_socket_too(mtls_server: Running, pki: Pki) -> None:
    target = f"unix:{mtls_server.socket_path}"
    with pytest.raises(grpc.RpcError):
        _predict(target)
    credentials = _credentials(pki.ca, pki.client_key, pki.client_cert)
    answer = _predict(target, credentials, [("grpc.ssl_target_name_override", "localhost")])
    np.testing.assert_allclose(answer, [3.5, 4.0])


def test_make_ssl_config_script_output_is_accepted(pki: Pki, tmp_path: Path) -> None:
    out = tmp_path / "ssl.config"
    script = Path(__file__).resolve().parents[2] / "scripts" / "make_ssl_config.py"
    result = subprocess.run(
        [sys.executable, str(script), "--key", str(pki.server_key), "--cert",
         str(pki.server_cert), "--ca", str(pki.ca), "--client-verify", "--out", str(out)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_mode & 0o077 == 0
    config = load_ssl_config(str(out))
    assert config.client_verify and config.custom_ca is not None
    result = subprocess.run([sys.executable, str(script), "--key", str(pki.server_key),
                             "--cert", str(pki.server_cert), "--client-verify", "--out",
                             str(tmp_path / "x.config")], capture_output=True, text=True)
    assert result.returncode == 2 and "--client-verify needs --ca" in result.stderr
