"""The page's static files, read once from the installed package into memory.

Only the names in ``ASSETS`` can ever be served: a request path is looked up in that table,
never joined to a directory, so no URL can reach another file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

__all__ = ["ASSETS", "Asset", "load_assets"]

# URL name (after /ui/) -> (file in static/, Content-Type)
ASSETS = {
    "": ("index.html", "text/html; charset=utf-8"),
    "index.html": ("index.html", "text/html; charset=utf-8"),
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "style.css": ("style.css", "text/css; charset=utf-8"),
}


@dataclass(frozen=True)
class Asset:
    """One file's bytes, its Content-Type and a strong ETag (hash of the bytes)."""

    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Read every file in ``ASSETS``; a missing one is a broken install (``RuntimeError``)."""
    folder = resources.files("serving.webui").joinpath("static")
    loaded: dict[str, Asset] = {}
    for url_name, (file_name, content_type) in ASSETS.items():
        try:
            body = folder.joinpath(file_name).read_bytes()
        except OSError as err:
            raise RuntimeError(
                f"web page file {file_name} is missing from the installed package "
                f"({err.__class__.__name__}); reinstall, or pass --rest_api_ui=false"
            ) from None
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        loaded[url_name] = Asset(body, content_type, etag)
    return loaded
