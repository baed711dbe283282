"""The /ui/ routes without a browser: content types, caching, CSP, 404s, path traversal, the
read-only JSON helpers, package data, and ``--rest_api_ui=false`` (TF Serving's 404)."""

from __future__ import annotations

import fnmatch
import json
import re
import socket
import tomllib
from pathlib import Path

import pytest

from serving.webui.assets import ASSETS, load_assets
from serving.webui.model_card import model_card
from serving.webui.routes import CONTENT_SECURITY_POLICY
from tests.serving.conftest import FakeBackend, FakeManager, LoopThread, RestClient
from tests.serving.ui_models import REPORT

ROOT = Path(__file__).resolve().parents[2]
LIBEVENT_404 = (b"<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n"
                b"</BODY></HTML>\n")


class Directory:
    """Model ``m`` version 1 (with an export report) and version 2 (without)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for version in (1, 2):
            (root / str(version)).mkdir(parents=True, exist_ok=True)
        (root / "1" / "export_report.json").write_text(json.dumps(REPORT))

    def model_names(self) -> list[str]:
        return ["m", "<b>odd name</b>"]

    def version_dir(self, name: str, version: int) -> Path | None:
        path = self.root / str(version)
        return path if name == "m" and path.is_dir() else None


def _serve(ui):
    from serving.core import ServingCore
    from serving.http_server import HttpServer
    from serving.rest import RestApi, RestOptions

    core = ServingCore(FakeManager(FakeBackend()), workers=1)
    loop = LoopThread()
    http = HttpServer(RestApi(core, RestOptions(prometheus_path="/metrics"), ui=ui), 10_000)
    port = loop.run(http.start("127.0.0.1", 0))
    return port, lambda: (loop.run(http.drain(2)), loop.close(), core.close())


@pytest.fixture(scope="module")
def ui_port(tmp_path_factory):
    from serving.webui import WebUi

    port, stop = _serve(WebUi(Directory(tmp_path_factory.mktemp("ui_models")), "/metrics"))
    yield port
    stop()


@pytest.fixture(scope="module")
def plain_port():
    port, stop = _serve(None)
    yield port
    stop()


@pytest.fixture
def http(ui_port):
    client = RestClient(ui_port)
    yield client
    client.close()


def raw_get(port: int, target: bytes) -> tuple[int, bytes]:
    """Send ``GET target`` byte for byte (no client-side normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize(("path", "content_type", "file_name"), [
    ("/ui/", "text/html; charset=utf-8", "index.html"),
    ("/ui/index.html", "text/html; charset=utf-8", "index.html"),
    ("/ui/app.js", "text/javascript; charset=utf-8", "app.js"),
    ("/ui/style.css", "text/css; charset=utf-8", "style.css"),
])
def test_static_files_types_caching_and_csp(http, path, content_type, file_name):
    reply = http.get(path)
    assert reply.status == 200
    assert reply.body == (ROOT / "serving/webui/static" / file_name).read_bytes()
    assert reply.headers["content-type"] == content_type
    assert reply.headers["cache-control"] == "no-cache"
    assert re.fullmatch(r'"[0-9a-f]{32}"', reply.headers["etag"])
    assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert reply.headers["x-content-type-options"] == "nosniff"
    again = http.request("GET", path, headers={"If-None-Match": reply.headers["etag"]})
    assert (again.status, again.body) == (304, b"")
    assert again.headers["etag"] == reply.headers["etag"]


def test_policy_is_same_origin_without_inline_code():
    policy = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert policy["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src", "img-src"):
        assert policy[directive] == "'self'"  # no 'unsafe-inline', no hosts, no data:
    assert policy["require-trusted-types-for"] == "'script'"
    html = (ROOT / "serving/webui/static/index.html").read_text()
    assert re.findall(r"<script[^>]*>", html) == ['<script src="app.js" defer>']
    assert "</script>" in html and "<script src=\"app.js\" defer></script>" in html
    assert " style=" not in html and "<style" not in html
    assert re.search(r"<[^>]*\son\w+\s*=", html) is None  # no inline event handlers
    for name in ("index.html", "app.js", "style.css"):  # no CDN, nothing off-origin
        assert "://" not in (ROOT / "serving/webui/static" / name).read_text()
    assert "innerHTML" not in (ROOT / "serving/webui/static/app.js").read_text()


@pytest.mark.parametrize("target", [
    b"/ui/../serving/rest.py", b"/ui/..%2fserving%2frest.py", b"/ui/%2e%2e/pyproject.toml",
    b"/ui/static/app.js", b"/ui//etc/passwd", b"/ui/./app.js", b"/ui/app.js/",
    b"/ui/APP.JS", b"/ui/app.js%00", b"/ui/..\\assets.py", b"/ui/assets.py",
    b"/ui/__init__.py", b"/ui/%2fetc%2fpasswd", b"/ui/api/card/m/../../1",
    b"/ui/api/card/..%2f..%2f/1", b"/ui/nope.js",
])
def test_nothing_outside_the_asset_table_is_served(ui_port, target):
    status, body = raw_get(ui_port, target)
    assert status == 404
    assert body == LIBEVENT_404 or json.loads(body)["error"].startswith("no ")


def test_redirect_and_methods(http):
    reply = http.get("/ui")
    assert (reply.status, reply.headers["location"]) == (301, "/ui/")
    for method in ("POST", "PUT", "DELETE"):
        reply = http.request(method, "/ui/", body=b"x")
        assert (reply.status, reply.headers["allow"]) == (405, "GET")


def test_server_info_lists_models_and_metrics_path(http):
    reply = http.get("/ui/api/server")
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
    assert reply.json() == {"models": ["m", "<b>odd name</b>"], "prometheus_path": "/metrics"}


def test_model_card_from_export_report(http):
    reply = http.get("/ui/api/card/m/1")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    card = reply.json()
    assert card["backbone"] == "tiny-test-net" and card["image_size"] == 16
    assert card["parity"] == {"reference": "keras", "n_samples": 32,
                              "reference_accuracy": 0.9375, "passed": True}
    assert card["formats"][0]["size_bytes"] == 111048
    assert card["formats"][0]["latency_ms"] == {"1": 0.86, "32": 1.34}
    assert "/secret/" not in reply.body.decode()  # machine paths stay on the server
    assert http.get("/ui/api/card/m/2").status == 404  # no report
    assert http.get("/ui/api/card/m/3").status == 404  # no such version
    missing = http.get("/ui/api/card/other/1")
    assert missing.status == 404 and missing.json() == {"error": "no model named other"}


def test_model_card_keeps_only_plain_finite_values():
    card = model_card({"parity": {"reference": {"nested": 1}, "n_samples": 3, "formats": [
        {"format": "onnx", "max_abs_diff": float("nan"), "latency_ms": {"1": "x", "8": 2.0}},
        "junk"]}, "source": {"run_dir": "/x"}})
    assert card["parity"] == {"n_samples": 3}
    assert card["formats"][0] == {"format": "onnx", "max_abs_diff": None, "latency_ms": {"8": 2.0}}
    assert "run_dir" not in json.dumps(card)
    assert model_card("not a dict") == {"parity": {}, "formats": []}


def test_api_routes_still_work_next_to_the_page(http):
    reply = http.post("/v1/models/m:predict", '{"instances": [1.0]}')
    assert reply.status == 200 and reply.json() == {"predictions": [2.5]}
    assert http.get("/metrics").status == 200


def test_ui_off_restores_tf_serving_404(plain_port, ui_port):
    plain = RestClient(plain_port)
    try:
        for path in ("/ui/", "/ui", "/ui/app.js", "/ui/api/server"):
            reply = plain.get(path)
            assert (reply.status, reply.body) == (404, LIBEVENT_404)
            assert reply.headers["content-type"] == "text/html"
            assert "content-security-policy" not in reply.headers
    finally:
        plain.close()
    assert raw_get(ui_port, b"/other")[0] == 404  # paths outside /ui/ unchanged with it on


def test_flag_parsing():
    from serving.server_options import parse_flags

    base = ["--model_base_path=/m"]
    assert parse_flags(base).rest_api_ui is True
    assert parse_flags([*base, "--rest_api_ui=false"]).rest_api_ui is False
    assert parse_flags([*base, "--norest_api_ui"]).rest_api_ui is False


def test_static_files_are_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["serving.webui"]
    for file_name, _ in ASSETS.values():
        assert any(fnmatch.fnmatch(f"static/{file_name}", p) for p in patterns), file_name
    assert set(load_assets()) == set(ASSETS)


def test_serving_app_flag_turns_the_page_off(half_plus_two_base):
    """A real ``ServingApp``: /ui/ by default, TF Serving's 404 with --rest_api_ui=false."""
    from serving.app import BackgroundServer
    from serving.server_options import parse_flags

    seen = {}
    for flag in ("--rest_api_ui=true", "--rest_api_ui=false"):
        options = parse_flags(["--port=0", "--rest_api_port=auto", "--model_name=hp",
                               f"--model_base_path={half_plus_two_base}",
                               "--file_system_poll_wait_seconds=0", flag])
        background = BackgroundServer(options)
        client = RestClient(background.start()["rest"])
        try:
            reply = client.get("/ui/")
            seen[flag] = (reply.status, reply.headers["content-type"], reply.body)
            assert client.get("/v1/models/hp").status == 200
        finally:
            client.close()
            background.stop()
    assert seen["--rest_api_ui=true"][:2] == (200, "text/html; charset=utf-8")
    assert seen["--rest_api_ui=false"] == (404, "text/html", LIBEVENT_404)
