"""Security properties of ``serving serve`` (issue 7), on one subprocess started without
``--host`` and with a Python audit hook that records every path the server opens or lists.

- The default bind is loopback only (checked on the process's listening sockets, and by
  connecting to the machine's non-loopback addresses when it has any).
- Request size limits: a chunked REST body over ``--max_request_bytes`` gets 413 with TF
  Serving's error body; a gRPC message over a configured ``grpc.max_receive_message_length``
  gets RESOURCE_EXHAUSTED, and a small message describing a tensor over that size (a shape
  and one value) INVALID_ARGUMENT before anything is allocated; the server keeps serving.
  (413 from Content-Length is covered by test_rest_api.py and test_rest_robustness.py.)
- Model names with path separators or ``..`` (REST URL, gRPC ``model_spec``, reload request,
  config file) give 404/400 or NOT_FOUND/INVALID_ARGUMENT, and no path naming the sentinel
  model next to the base path is ever opened or listed.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator

import grpc
import psutil
import pytest

from tests.serving.conftest import RestClient
from tests.serving.reliability_server import (
    grpc_stubs,
    make_templates,
    predict_request,
    publish,
    start_server,
    write_atomically,
)

pytestmark = pytest.mark.reliability

MAX_REQUEST_BYTES = 100_000
MAX_GRPC_BYTES = 200_000


def config_text(base, name: str = "hp") -> str:
    return f'model_config_list {{ config {{ name: "{name}" base_path: "{base}" }} }}\n'


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("security")
    templates = make_templates(root / "templates", (1, 9))
    base, sentinel = root / "models" / "hp", root / "models" / "sentinel"
    publish(templates[1], base, 1)
    publish(templates[9], sentinel, 1)  # a valid model: served only if a name reached the disk
    config = root / "models.config"
    config.write_text(config_text(base))
    server = start_server(
        [
            "--port=0", "--rest_api_port=auto", f"--model_config_file={config}",
            "--model_config_file_poll_wait_seconds=1", "--file_system_poll_wait_seconds=1",
            f"--max_request_bytes={MAX_REQUEST_BYTES}",
            f"--grpc_channel_arguments=grpc.max_receive_message_length={MAX_GRPC_BYTES}",
        ],
        root / "server",
        audit=True,
    )
    channel, predict, model = grpc_stubs(server.ports["grpc"])
    yield {"server": server, "base": base, "sentinel": sentinel, "config": config,
           "predict": predict, "model": model}
    channel.close()
    assert server.terminate() == 0
    server.kill()


def _serves(secured) -> bool:
    client = RestClient(secured["server"].ports["rest"])
    try:
        return client.post("/v1/models/hp:predict", '{"instances": [2.0]}').json() == {
            "predictions": [2.0]
        }
    finally:
        client.close()


def test_default_bind_is_loopback_only(secured):
    server = secured["server"]
    listening = [
        c for c in psutil.Process(server.process.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert {c.laddr.port for c in listening} == set(server.ports.values())
    for conn in listening:  # gRPC binds 127.0.0.1 as a dual-stack socket: ::ffff:127.0.0.1
        address = ipaddress.ip_address(conn.laddr.ip)
        address = getattr(address, "ipv4_mapped", None) or address
        assert address == ipaddress.ip_address("127.0.0.1"), conn
    others = [
        a.address for addrs in psutil.net_if_addrs().values() for a in addrs
        if a.family == socket.AF_INET and not a.address.startswith("127.")
    ]
    for address in others:  # reachable from the network only if bound beyond loopback
        for port in server.ports.values():
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((address, port), timeout=5).close()


def test_chunked_body_over_the_limit_gets_413_and_the_server_keeps_serving(secured):
    with socket.create_connection(("127.0.0.1", secured["server"].ports["rest"])) as sock:
        sock.sendall(b"POST /v1/models/hp:predict HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"1.0," * 5000
        reply = b""
        try:
            for _ in range(2 * MAX_REQUEST_BYTES // len(chunk)):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        sock.settimeout(10)
        while chunk:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert body == (b'{\n    "error": "Request body is larger than --max_request_bytes '
                    b'(%d bytes)"\n}' % MAX_REQUEST_BYTES)
    assert _serves(secured)


def test_grpc_message_over_the_configured_limit_is_resource_exhausted(secured):
    import numpy as np

    from serving.codecs.tensor_proto import from_numpy

    request = predict_request("hp")
    from_numpy(np.zeros(MAX_GRPC_BYTES // 4 + 10, np.float32), request.inputs["x"],
               tensor_content=True)
    with pytest.raises(grpc.RpcError) as info:
        secured["predict"].Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, info.value.details()
    response = secured["predict"].Predict(predict_request("hp"), timeout=30)
    assert response.model_spec.version.value == 1


def test_grpc_tensor_larger_than_the_limit_is_refused_before_it_is_built(secured):
    request = predict_request("hp")  # a 30-byte request describing a 1 GiB tensor
    request.inputs["x"].tensor_shape.dim[0].size = 2**28
    with pytest.raises(grpc.RpcError) as info:
        secured["predict"].Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == (
        f"tensor x: shape [{2**28}] needs {2**30} bytes; the limit is {MAX_GRPC_BYTES} "
        "(the largest accepted message)"
    )
    rss = psutil.Process(secured["server"].process.pid).memory_info().rss
    assert rss < 2**30, rss


PATH_NAMES = ["../sentinel", "../../sentinel", "..", "sentinel/..", "hp/../sentinel",
              "/sentinel", "..\\sentinel", "%2e%2e"]
REST_PATHS = [
    "/v1/models/..%2Fsentinel:predict", "/v1/models/%2E%2E%2Fsentinel/versions/1:predict",
    "/v1/models/..%2F..%2Fetc:predict", "/v1/models/../sentinel:predict",
    "/v1/models/..%5Csentinel:predict", "/v1/models/sentinel:predict",
]


def test_path_like_model_names_never_reach_the_file_system(secured):
    from tensorflow_serving.apis import get_model_status_pb2, model_management_pb2

    server = secured["server"]
    client = RestClient(server.ports["rest"])
    for path in REST_PATHS:
        for method, url in (("POST", path), ("GET", path.split(":")[0]),
                            ("GET", path.split(":")[0] + "/metadata")):
            body = b'{"instances": [2.0]}' if method == "POST" else None
            reply = client.request(method, url, body)
            assert reply.status in (400, 404), (method, url, reply.status, reply.body)
    client.close()
    for name in PATH_NAMES + ["sentinel"]:
        for call, request in (
            (secured["predict"].Predict, predict_request(name)),
            (secured["model"].GetModelStatus,
             get_model_status_pb2.GetModelStatusRequest(model_spec={"name": name})),
        ):
            with pytest.raises(grpc.RpcError) as info:
                call(request, timeout=30)
            assert info.value.code() in (grpc.StatusCode.NOT_FOUND,
                                         grpc.StatusCode.INVALID_ARGUMENT), (name, info.value)
        reload = model_management_pb2.ReloadConfigRequest()
        reload.config.model_config_list.config.add(name=name, base_path=str(secured["base"]))
        if any(part in name for part in ("/", "\\", "..")):
            with pytest.raises(grpc.RpcError) as info:
                secured["model"].HandleReloadConfigRequest(reload, timeout=30)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, info.value)

    write_atomically(secured["config"], config_text(secured["base"], "../sentinel"))
    deadline = time.monotonic() + 30
    while "not applied" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "invalid model name '../sentinel'" in server.log()
    write_atomically(secured["config"], config_text(secured["base"]))
    time.sleep(2.5)  # a few more polls of the base path and the config file
    assert _serves(secured)

    audited = server.audited_paths()
    assert any(str(secured["base"]) in line for line in audited), "the audit hook saw no scan"
    touched = [line for line in audited if "sentinel" in line]
    assert not touched, touched[:5]
