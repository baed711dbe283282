"""The REST API: TF Serving's routes, messages and status codes over ``ServingCore``.

A thin translation layer: URL -> (model, version, label, verb), body -> numpy via
``serving.codecs``, core call, result -> JSON bytes. Paths outside ``/v1/`` get libevent's HTML
404 (except the Prometheus page); every API reply is ``Content-Type: application/json``.
"""

from __future__ import annotations

import asyncio
import re
import time
import zlib
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

import httptools

from serving.codecs.json_codec import error_body, format_predict_response, parse_predict_request
from serving.codecs.json_examples import parse_examples_request
from serving.codecs.json_writer import classify_body, regress_body
from serving.core import ServingCore
from serving.errors import DeadlineExceeded, InvalidArgument, ServingError, http_status
from serving.http_server import HttpRequest, HttpResponse
from serving.rest_format import metadata_body, status_body
from serving.webui import WebUi

__all__ = ["RestOptions", "RestApi"]

_V1 = re.compile(r"/v1/.*", re.I | re.S)
_POST = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?:"
    r"(classify|regress|predict)",
    re.I,
)
_GET = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.I,
)
_CORS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "POST, GET"),
    ("Access-Control-Allow-Headers", "Content-Type"),
]
_JSON = [("Content-Type", "application/json")]
_MAX_UNCOMPRESSED = 100 * 1024 * 1024  # ZLib::kMaxUncompressedBytes
_ORIGIN = re.compile(r"https?://.*", re.S)


@dataclass(frozen=True)
class RestOptions:
    """REST flags: CORS headers, the per-request timeout and the Prometheus page path."""

    enable_cors: bool = False
    timeout_ms: int = 30000
    prometheus_path: str | None = None


def _not_found_page(status: int = 404, reason: str = "Not Found") -> bytes:
    """libevent's ``evhttp_send_error`` page."""
    return (
        f"<HTML><HEAD>\n<TITLE>{status} {reason}</TITLE>\n</HEAD><BODY>\n<H1>{reason}</H1>\n"
        "</BODY></HTML>\n"
    ).encode()


def _decode_arg(text: str) -> str:
    """``curl_easy_unescape``: percent-decoding only ('+' stays '+')."""
    return unquote_to_bytes(text).decode("utf-8", "surrogateescape")


def _gunzip(body: bytes) -> bytes:
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = inflater.decompress(body, _MAX_UNCOMPRESSED + 1)
    except zlib.error:
        raise InvalidArgument("Failed to decompress gzip request body") from None
    if len(data) > _MAX_UNCOMPRESSED:
        raise InvalidArgument("Uncompressed request body is larger than 100 MiB")
    return data


class RestApi:
    """The HTTP handler: ``await api(request) -> response``."""

    def __init__(self, core: ServingCore, options: RestOptions, ui: WebUi | None = None) -> None:
        self.core = core
        self.options = options
        self.ui = ui  # the /ui/ page (--rest_api_ui); None: /ui/ is a 404 as in TF Serving
        self._extra = _CORS if options.enable_cors else []

    def _reply(self, status: int, body: bytes) -> HttpResponse:
        return HttpResponse(status, body, _JSON + self._extra)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            path = httptools.parse_url(request.url).path.decode("latin-1")
        except httptools.HttpParserInvalidURLError:
            path = request.url.decode("latin-1")
        prometheus = self.options.prometheus_path
        if prometheus and path == prometheus and request.method == "GET":
            page = self.core.metrics.render().encode()
            return HttpResponse(200, page, [("Content-Type", "text/plain")])
        if self.ui is not None and self.ui.owns(path):
            return await self.ui(request, path)
        if not _V1.fullmatch(path):
            return HttpResponse(404, _not_found_page(), [("Content-Type", "text/html")])
        if request.method == "OPTIONS" and self.options.enable_cors:
            status = 200 if _ORIGIN.fullmatch(request.headers.get("origin", "")) else 400
            return HttpResponse(status, b"", _JSON + self._extra)
        try:
            timeout = self.options.timeout_ms / 1000 if self.options.timeout_ms > 0 else None
            status, body = await asyncio.wait_for(self._process(request, path), timeout)
        except TimeoutError:
            err = DeadlineExceeded("Deadline Exceeded")
            status, body = http_status(err.code), error_body(err.message)
        except ServingError as err:
            # Drop the traceback: its frames hold the resolved version, and the reference
            # cycle through the awaited task would keep that version from unloading promptly.
            err.__traceback__ = None
            status, body = http_status(err.code), error_body(err.message)
        return self._reply(status, body)

    async def _process(self, request: HttpRequest, path: str) -> tuple[int, bytes]:
        method = request.method
        match = None
        if method == "POST":
            match = _POST.fullmatch(path)
        elif method == "GET":
            match = _GET.fullmatch(path)
        raw_name, raw_version, raw_label, verb = match.groups() if match else (None,) * 4
        name = _decode_arg(raw_name) if raw_name else ""
        version = None
        if raw_version:
            version = int(raw_version)
            if version >= 2**63:
                raise InvalidArgument(f"Failed to convert version: {raw_version} to numeric.")
        label = _decode_arg(raw_label) if raw_label else None
        if match is None:
            raise InvalidArgument(f"Malformed request: {method} {path}")
        if not name:
            raise InvalidArgument("Missing model name in request.")
        if method == "GET":
            if verb and verb.lower() == "metadata":
                served = self.core.resolve(name, version, label)
                defs = self.core.signature_defs(served)
                file = self.core.served_file(served)
                return 200, metadata_body(name, served.version, defs, file)
            return 200, status_body(self.core.status(name, version))
        body = request.body
        if request.headers.get("content-encoding", "").lower() == "gzip":
            body = _gunzip(body)
        return await self._infer(verb.lower(), name, version, label, body)

    async def _infer(self, verb, name, version, label, body) -> tuple[int, bytes]:
        started = time.perf_counter()
        status = "OK"
        try:
            if verb == "predict":
                served = self.core.resolve(name, version, label)
                parsed = parse_predict_request(
                    body, lambda sig: self.core.rest_input_dtypes(served, sig)
                )
                outputs = await self.core.predict(served, parsed.signature_name, parsed.inputs)
                return 200, format_predict_response(outputs, parsed.row_format)
            request = parse_examples_request(body)
            served = self.core.resolve(name, version, label)
            run = self.core.classify if verb == "classify" else self.core.regress
            results = await run(served, request.signature_name, request.examples, request.context)
            return 200, classify_body(results) if verb == "classify" else regress_body(results)
        except ServingError as err:
            status = err.code.name
            raise
        except asyncio.CancelledError:
            status = "DEADLINE_EXCEEDED"
            raise
        finally:
            micros = (time.perf_counter() - started) * 1e6
            self.core.metrics.record_request(name, verb, "REST", status, micros)
