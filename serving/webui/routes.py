"""The ``/ui/`` routes: the page's static files and its two read-only JSON helpers.

``GET /ui/`` (and ``index.html``, ``app.js``, ``style.css``) serve the page; ``/ui`` redirects
to ``/ui/``. ``GET /ui/api/server`` lists the configured model names and the Prometheus page
path (TF Serving's REST API cannot list models); ``GET /ui/api/card/NAME/VERSION`` returns
that version's model card from ``export_report.json`` (404 without one). Nothing here writes.
Every other ``/ui/...`` path is a 404, and only GET is accepted (405 otherwise).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote

from serving.http_server import HttpRequest, HttpResponse
from serving.webui.assets import Asset, load_assets
from serving.webui.model_card import read_model_card

__all__ = ["UI_PREFIX", "CONTENT_SECURITY_POLICY", "ModelDirectory", "WebUi"]

UI_PREFIX = "/ui"
# Same-origin only, no inline script or style, no plugins/frames/forms; Trusted Types make
# any string assignment to innerHTML-like sinks throw, so model text can only be text.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
_SECURITY = [
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]
_NO_STORE = [("Cache-Control", "no-store")]
_CARD = re.compile(r"api/card/([^/]+)/([0-9]{1,18})")


class ModelDirectory(Protocol):
    """What the page needs from the model manager."""

    def model_names(self) -> list[str]:
        """Names of the configured models."""
        ...

    def version_dir(self, name: str, version: int) -> Path | None:
        """The directory of a version the manager has seen, else None."""
        ...


def _json(status: int, value: object) -> HttpResponse:
    body = json.dumps(value, allow_nan=False).encode()
    headers = [("Content-Type", "application/json"), *_NO_STORE, *_SECURITY]
    return HttpResponse(status, body, headers)


def _not_found() -> HttpResponse:
    page = b"<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n" \
           b"</BODY></HTML>\n"
    return HttpResponse(404, page, [("Content-Type", "text/html"), *_NO_STORE, *_SECURITY])


class WebUi:
    """Answers requests whose path is ``/ui`` or under ``/ui/`` (see ``owns``)."""

    def __init__(self, models: ModelDirectory, prometheus_path: str | None = None) -> None:
        self.models = models
        self.prometheus_path = prometheus_path
        self.assets: dict[str, Asset] = load_assets()

    @staticmethod
    def owns(path: str) -> bool:
        """True for the paths this handler answers (case-sensitive, like a file server)."""
        return path == UI_PREFIX or path.startswith(UI_PREFIX + "/")

    async def __call__(self, request: HttpRequest, path: str) -> HttpResponse:
        """Answer one request for a path ``owns`` accepted."""
        if request.method != "GET":
            return HttpResponse(405, b"", [("Allow", "GET"), *_NO_STORE, *_SECURITY])
        if path == UI_PREFIX:
            return HttpResponse(301, b"", [("Location", UI_PREFIX + "/"), *_SECURITY])
        name = path[len(UI_PREFIX) + 1:]
        asset = self.assets.get(name)
        if asset is not None:
            return self._asset(request, asset)
        if name == "api/server":
            return _json(200, {"models": self.models.model_names(),
                               "prometheus_path": self.prometheus_path})
        match = _CARD.fullmatch(name)
        if match:
            return await self._card(unquote(match.group(1)), int(match.group(2)))
        return _not_found()

    def _asset(self, request: HttpRequest, asset: Asset) -> HttpResponse:
        # no-cache: the browser may keep the file but revalidates it (ETag -> 304) each time,
        # so a server upgrade never leaves an old app.js running against a new page.
        headers = [("ETag", asset.etag), ("Cache-Control", "no-cache"), *_SECURITY]
        if asset.etag in request.headers.get("if-none-match", ""):
            return HttpResponse(304, b"", headers)
        return HttpResponse(200, asset.body, [("Content-Type", asset.content_type), *headers])

    async def _card(self, model: str, version: int) -> HttpResponse:
        if model not in self.models.model_names():
            return _json(404, {"error": f"no model named {model}"})
        version_dir = self.models.version_dir(model, version)
        card = None
        if version_dir is not None:
            card = await asyncio.to_thread(read_model_card, version_dir)
        if card is None:
            return _json(404, {"error": f"no export_report.json for {model} version {version}"})
        return _json(200, card)
