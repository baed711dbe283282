"""The one client interface (``PredictClient``) shared by the REST and gRPC clients.

Subclasses implement three transport calls (``_predict_call``, ``_metadata_call``,
``_status_call``); everything else (mode handling, resizing, grouping, top-k, retries with
backoff for transient failures only) lives here, so both transports behave identically.
"""

from __future__ import annotations

import abc
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from clients.errors import ClientError, MalformedResponse
from clients.prepare import Group, ImageLike, Mode, as_items, make_groups
from clients.signatures import ModelInfo, parse_model_info

__all__ = ["Prediction", "PredictClient", "PredictPlan", "Mode", "predictions_from_outputs"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Prediction:
    """Top-k result for one image (best first); ``probabilities`` only when asked for."""

    class_ids: list[int]
    labels: list[str]
    scores: list[float]
    probabilities: np.ndarray | None = None

    @property
    def pairs(self) -> list[tuple[str, float]]:
        """``(label, score)`` pairs, best first."""
        return list(zip(self.labels, self.scores, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        out: dict[str, Any] = {"class_ids": self.class_ids, "labels": self.labels,
                               "scores": self.scores}
        if self.probabilities is not None:
            out["probabilities"] = self.probabilities.tolist()
        return out


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def predictions_from_outputs(outputs: dict[str, np.ndarray], top_k: int,
                             return_probabilities: bool,
                             labels: Sequence[str] | None = None,
                             known_names: dict[int, str] | None = None) -> list[Prediction]:
    """Build per-image results from the contract outputs (``probabilities``, ``top_k_*``).

    The server's own top-k is used when it covers ``top_k``; otherwise the top-k is taken
    from ``probabilities`` (ties broken by lower class id, as ``tf.math.top_k`` does).
    ``known_names`` (id -> name) is updated with the names the server's answer reveals.
    """
    probs = outputs.get("probabilities")
    ids = outputs.get("top_k_ids")
    if probs is None and ids is None:
        raise MalformedResponse(
            f"answer has outputs {sorted(outputs)}; expected 'probabilities' or 'top_k_ids'")
    names: dict[int, str] = known_names if known_names is not None else {}
    names.update({i: n for i, n in enumerate(labels or []) if i not in names})
    if ids is not None and "top_k_classes" in outputs:
        for row_ids, row_names in zip(ids, outputs["top_k_classes"], strict=True):
            names.update({int(i): _text(n) for i, n in zip(row_ids, row_names, strict=True)})
    results = []
    use_server = ids is not None and ids.shape[1] >= top_k and "top_k_scores" in outputs
    n = len(ids) if use_server else len(probs)  # type: ignore[arg-type]
    for row in range(n):
        if use_server:
            cls = [int(c) for c in ids[row, :top_k]]
            scores = [float(s) for s in outputs["top_k_scores"][row, :top_k]]
        else:
            p = np.asarray(probs[row])  # type: ignore[index]
            cls = [int(c) for c in np.argsort(-p, kind="stable")[:top_k]]
            scores = [float(p[c]) for c in cls]
        results.append(Prediction(
            class_ids=cls, labels=[names.get(c, str(c)) for c in cls], scores=scores,
            probabilities=(np.asarray(probs[row]) if return_probabilities and probs is not None
                           else None)))
    return results


@dataclass
class PredictPlan:
    """Signature, input alias, output filter and request tensors for a batch of images."""

    signature: str
    input_alias: str
    output_filter: list[str] | None
    groups: list[Group]
    count: int


class PredictClient(abc.ABC):
    """Classify images through a TF-Serving-compatible server (REST or gRPC).

    ``version`` or ``label`` selects the served version (not both); ``labels`` optionally
    names class ids when the server's top-k outputs do not cover ``top_k``.
    """

    def __init__(self, model: str, *, version: int | None = None, label: str | None = None,
                 timeout: float = 30.0, retries: int = 3, backoff: float = 0.1,
                 labels: Sequence[str] | None = None) -> None:
        if version is not None and label is not None:
            raise ValueError("give version or label, not both")
        self.model = model
        self.version = version
        self.label = label
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.labels = list(labels) if labels else None
        self._info: ModelInfo | None = None
        self.class_names: dict[int, str] = {}  # id -> name, learnt from top_k_classes

    # -- transport ---------------------------------------------------------------------
    @abc.abstractmethod
    def _predict_call(self, signature: str, inputs: dict[str, np.ndarray],
                      output_filter: list[str] | None) -> dict[str, np.ndarray]:
        """One Predict request; returns outputs by alias."""

    @abc.abstractmethod
    def encode_predict(self, signature: str, inputs: dict[str, np.ndarray],
                       output_filter: list[str] | None) -> bytes:
        """The wire bytes of one Predict request (JSON body or serialized PredictRequest)."""

    @abc.abstractmethod
    def decode_predict(self, raw: bytes, signature: str) -> dict[str, np.ndarray]:
        """Outputs by alias from the wire bytes of a successful Predict answer."""

    @abc.abstractmethod
    def _metadata_call(self) -> dict[str, Any]:
        """Metadata in TF Serving's REST JSON layout."""

    @abc.abstractmethod
    def _status_call(self) -> dict[str, Any]:
        """Status in TF Serving's REST JSON layout."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> PredictClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API ----------------------------------------------------------------------
    def _retrying(self, call: Callable[[], T]) -> T:
        """Run ``call``; retry with exponential backoff only on transient errors."""
        for attempt in range(self.retries + 1):
            try:
                return call()
            except ClientError as exc:
                if not exc.transient or attempt == self.retries:
                    raise
                delay = self.backoff * (2 ** attempt) * (0.5 + random.random())
                log.info("transient error (%s); retry %d in %.2fs", exc, attempt + 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def predict_raw(self, signature: str, inputs: dict[str, np.ndarray],
                    output_filter: list[str] | None = None) -> dict[str, np.ndarray]:
        """One Predict call with ready tensors (retried on transient errors)."""
        return self._retrying(lambda: self._predict_call(signature, inputs, output_filter))

    def metadata(self, refresh: bool = False) -> ModelInfo:
        """The served version's signatures, cached after the first call (``refresh=True``
        re-reads them, e.g. after a new latest version was loaded)."""
        if self._info is None or refresh:
            self._info = parse_model_info(self._retrying(self._metadata_call))
        return self._info

    def status(self) -> dict[str, Any]:
        """``{"model_version_status": [...]}`` as TF Serving reports it."""
        return self._retrying(self._status_call)

    def plan(self, images: ImageLike | Iterable[ImageLike], mode: Mode | str, top_k: int = 3,
             return_probabilities: bool = False, batch_size: int | None = None) -> PredictPlan:
        """The requests ``predict`` would send (metadata is read on first use)."""
        mode = Mode(mode)
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        items = as_items(images)
        info = self.metadata()
        sig = info.signature(mode.signature)
        size = info.image_size() if mode is Mode.CLIENT_RESIZE else None
        server_k = info.top_k(mode.signature)
        out_filter = None
        if not return_probabilities and server_k is not None and server_k >= top_k:
            out_filter = [k for k in ("top_k_ids", "top_k_scores", "top_k_classes")
                          if k in sig.outputs]
        groups = make_groups(items, mode, size, batch_size) if items else []
        return PredictPlan(mode.signature, sig.single_input(), out_filter, groups, len(items))

    def predict(self, images: ImageLike | Iterable[ImageLike], top_k: int = 3,
                mode: Mode | str = Mode.CLIENT_RESIZE, return_probabilities: bool = False,
                batch_size: int | None = None) -> list[Prediction]:
        """Top-k predictions, one per image, in input order."""
        images = as_items(images)
        if not images:
            return []
        plan = self.plan(images, mode, top_k, return_probabilities, batch_size)
        results: list[Prediction | None] = [None] * plan.count
        for group in plan.groups:
            outputs = self._retrying(lambda g=group: self._predict_call(
                plan.signature, {plan.input_alias: g.tensor}, plan.output_filter))
            preds = predictions_from_outputs(outputs, top_k, return_probabilities, self.labels,
                                             self.class_names)
            if len(preds) != len(group.indices):
                raise MalformedResponse(
                    f"sent {len(group.indices)} images, got {len(preds)} results")
            for i, pred in zip(group.indices, preds, strict=True):
                results[i] = pred
        return results  # type: ignore[return-value]
