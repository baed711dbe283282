"""REST client for the TF Serving wire API over keep-alive HTTP/1.1 (urllib3, no TensorFlow).

Routes (``/v1/models/{m}[/versions/{v}|/labels/{l}][:predict|/metadata]``) and the error
body ``{"error": msg}`` follow TF Serving's ``http_rest_api_handler``. The predict body is
row format (``instances``) by default, columnar (``inputs``) on request. ``https://`` URLs
(a TLS-terminating proxy in front of the server) verify the server with ``tls.ca`` (default:
the system roots) and present ``tls``'s client pair when given.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import numpy as np
import urllib3
from urllib3.exceptions import (
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from clients.base import PredictClient
from clients.errors import (
    MalformedResponse,
    RequestTimeout,
    ServerUnavailable,
    from_http_status,
)
from clients.tls import TlsFiles
from serving.codecs.json_codec import decode_predict_response, encode_predict_request

__all__ = ["RestClient", "model_path"]


def model_path(model: str, version: int | None = None, label: str | None = None) -> str:
    """``/v1/models/{m}`` with the version or label segment, names URL-encoded."""
    path = f"/v1/models/{quote(model, safe='')}"
    if version is not None:
        path += f"/versions/{int(version)}"
    elif label is not None:
        path += f"/labels/{quote(label, safe='')}"
    return path


class RestClient(PredictClient):
    """TF Serving REST client: ``RestClient("http://127.0.0.1:8501", "cifar")``.

    ``columnar=True`` sends ``{"inputs": ...}`` instead of ``{"instances": [...]}``.
    Connections are pooled and kept alive (``pool_size`` per client, thread-safe).
    """

    def __init__(self, base_url: str, model: str, *, version: int | None = None,
                 label: str | None = None, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.1, columnar: bool = False, pool_size: int = 4,
                 labels: list[str] | None = None, tls: TlsFiles | None = None) -> None:
        super().__init__(model, version=version, label=label, timeout=timeout,
                         retries=retries, backoff=backoff, labels=labels)
        if not base_url.startswith(("http://", "https://")):
            base_url = "http://" + base_url
        self.base_url = base_url.rstrip("/")
        self.columnar = columnar
        https = self.base_url.startswith("https://")
        if tls is not None and not https:
            raise ValueError(f"--tls-ca/--tls-cert/--tls-key need an https:// URL for REST, got "
                             f"{self.base_url} (the server's REST port is plain HTTP, as in "
                             "TF Serving: use them with --grpc, or a TLS proxy's https:// URL)")
        self.ssl_context = (tls or TlsFiles()).ssl_context() if https else None
        extra = {"ssl_context": self.ssl_context} if https else {}
        self._pool = urllib3.connection_from_url(
            self.base_url, maxsize=pool_size, block=False, retries=False,
            timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
            headers={"Connection": "keep-alive"}, **extra)
        self._path = model_path(model, version, label)

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.close()

    @property
    def predict_path(self) -> str:
        """The URL path Predict requests go to."""
        return self._path + ":predict"

    def _request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        headers = {"Content-Type": "application/json"} if body is not None else None
        where = f"{self.base_url}{path}"
        try:
            resp = self._pool.urlopen(method, path, body=body, headers=headers,
                                      retries=False, redirect=False, preload_content=True)
        except NewConnectionError as exc:
            raise ServerUnavailable(f"cannot connect to {self.base_url}: {exc}") from exc
        except ReadTimeoutError as exc:
            raise RequestTimeout(f"no answer from {where} within {self.timeout}s") from exc
        except ProtocolError as exc:
            raise ServerUnavailable(f"connection to {self.base_url} dropped: {exc}") from exc
        except HTTPError as exc:  # connect timeout and other transport failures
            raise ServerUnavailable(f"{where}: {exc}") from exc
        if resp.status != 200:
            raise from_http_status(resp.status, _error_message(resp.data, resp.status))
        return resp.data

    def _json(self, method: str, path: str) -> dict[str, Any]:
        return _parse_object(self._request(method, path), f"{self.base_url}{path}")

    def encode_predict(self, signature: str, inputs: dict[str, np.ndarray],
                       output_filter: list[str] | None) -> bytes:
        """JSON body (REST has no output filter: every output comes back). A single input is
        sent unnamed (``"instances": [...]``), the compact form TF Serving accepts."""
        payload = next(iter(inputs.values())) if len(inputs) == 1 else inputs
        return encode_predict_request(payload, columnar=self.columnar, signature_name=signature)

    def decode_predict(self, raw: bytes, signature: str) -> dict[str, np.ndarray]:
        """Outputs from ``{"predictions": ...}`` / ``{"outputs": ...}`` bytes."""
        try:
            decoded = decode_predict_response(raw)
        except Exception as exc:  # ValueError, or the codec's ServingError (a serving type)
            raise MalformedResponse(f"predict answer not understood: {exc}") from exc
        if isinstance(decoded, dict):
            return decoded
        names = list(self._info.signatures[signature].outputs) if (
            self._info and signature in self._info.signatures) else []
        return {names[0] if len(names) == 1 else "": decoded}

    def _predict_call(self, signature: str, inputs: dict[str, np.ndarray],
                      output_filter: list[str] | None) -> dict[str, np.ndarray]:
        body = self.encode_predict(signature, inputs, output_filter)
        return self.decode_predict(self._request("POST", self.predict_path, body), signature)

    def _metadata_call(self) -> dict[str, Any]:
        return self._json("GET", self._path + "/metadata")

    def _status_call(self) -> dict[str, Any]:
        return self._json("GET", self._path)


def _parse_object(data: bytes, where: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise MalformedResponse(f"{where} answered non-JSON: {data[:200]!r}") from exc
    if not isinstance(parsed, dict):
        raise MalformedResponse(f"{where} answered JSON that is not an object")
    return parsed


def _error_message(data: bytes, status: int) -> str:
    """The ``{"error": ...}`` text of a TF Serving error body, or the raw body."""
    try:
        parsed = json.loads(data)
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            return parsed["error"]
    except ValueError:
        pass
    text = data.decode("utf-8", "replace").strip()
    return text[:300] if text else f"HTTP {status} with an empty body"
