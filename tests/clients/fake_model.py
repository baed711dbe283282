"""A numpy stand-in for an exported classifier, shaped like docs/contracts.md.

Versions 1 and 2 (label ``stable`` -> 1, ``canary`` -> 2), image size S=8, C=4 classes,
K=3 top-k outputs, signatures ``serving_default`` / ``serve_raw`` / ``serve_bytes``. The
"model" scores the mean colour of the S x S image; version 2 reverses the class order, so
routing is visible in the answers. Errors use TF Serving's codes and messages.
"""

from __future__ import annotations

import io

import numpy as np

from serving.codecs.resize import resize_bilinear

S, C, K = 8, 4, 3
LABELS = ["red", "green", "blue", "grey"]
_W = np.array([[1.0, -0.5, -0.5, 0.0], [-0.5, 1.0, -0.5, 0.0], [-0.5, -0.5, 1.0, 0.0]],
              dtype=np.float32) / 32.0


class FakeError(Exception):
    """A TF Serving error: canonical code name and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _dim(sizes: list[int]) -> dict:
    return {"dim": [{"size": str(s), "name": ""} for s in sizes], "unknown_rank": False}


def _info(dtype: str, sizes: list[int]) -> dict:
    return {"dtype": dtype, "tensor_shape": _dim(sizes), "name": "x:0"}


_OUTPUTS = {"probabilities": _info("DT_FLOAT", [-1, C]),
            "top_k_scores": _info("DT_FLOAT", [-1, K]),
            "top_k_classes": _info("DT_STRING", [-1, K]),
            "top_k_ids": _info("DT_INT64", [-1, K])}
SIGNATURES = {
    "serving_default": {"inputs": {"image": _info("DT_FLOAT", [-1, S, S, 3])}},
    "serve_raw": {"inputs": {"image": _info("DT_UINT8", [-1, -1, -1, 3])}},
    "serve_bytes": {"inputs": {"image_bytes": _info("DT_STRING", [-1])}},
}


class FakeModel:
    """The served model: resolves versions/labels, answers metadata, status, predict."""

    versions = (1, 2)
    version_labels = {"stable": 1, "canary": 2}

    def __init__(self, name: str = "toy") -> None:
        self.name = name

    def resolve(self, model: str, version: int | None, label: str | None) -> int:
        if model != self.name:
            raise FakeError("NOT_FOUND", f"Servable not found for request: Latest({model})")
        if label is not None:
            if label not in self.version_labels:
                raise FakeError("INVALID_ARGUMENT",
                                f"Unrecognized servable version label: {label}")
            return self.version_labels[label]
        if version is None:
            return max(self.versions)
        if version not in self.versions:
            raise FakeError("NOT_FOUND",
                            f"Servable not found for request: Specific({model}, {version})")
        return version

    def metadata(self, version: int) -> dict:
        sigs = {k: {**v, "outputs": _OUTPUTS, "method_name": "tensorflow/serving/predict"}
                for k, v in SIGNATURES.items()}
        return {"model_spec": {"name": self.name, "signature_name": "", "version": str(version)},
                "metadata": {"signature_def": {"signature_def": sigs}}}

    def status(self, model: str, version: int | None) -> dict:
        if model != self.name:
            raise FakeError("NOT_FOUND", f"Could not find any versions of model {model}")
        rows = [{"version": str(v), "state": "AVAILABLE",
                 "status": {"error_code": "OK", "error_message": ""}}
                for v in sorted(self.versions, reverse=True) if version in (None, v)]
        if not rows:
            raise FakeError("NOT_FOUND", f"Could not find version {version} of model {model}")
        return {"model_version_status": rows}

    def predict(self, version: int, signature: str, inputs: dict[str, np.ndarray]) -> dict:
        if signature not in SIGNATURES:
            raise FakeError("INVALID_ARGUMENT",
                            f'Serving signature name: "{signature}" not found in signature def')
        want = next(iter(SIGNATURES[signature]["inputs"]))
        if set(inputs) != {want}:
            raise FakeError("INVALID_ARGUMENT",
                            f"JSON object: does not have named input: {sorted(inputs)[0]}")
        x = inputs[want]
        if signature == "serve_bytes":
            from PIL import Image

            x = np.stack([resize_bilinear(np.asarray(Image.open(io.BytesIO(b)).convert("RGB")), S)
                          for b in x])
        elif signature == "serve_raw":
            x = resize_bilinear(np.asarray(x, dtype=np.uint8), S)
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (S, S, 3):
            raise FakeError("INVALID_ARGUMENT", f"Expecting shape [-1,{S},{S},3], got {x.shape}")
        logits = x.mean(axis=(1, 2)) @ _W
        if version == 2:
            logits = logits[:, ::-1]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        ids = np.argsort(-probs, axis=1, kind="stable")[:, :K].astype(np.int64)
        return {"probabilities": probs,
                "top_k_scores": np.take_along_axis(probs, ids, axis=1),
                "top_k_classes": np.array([[LABELS[i].encode() for i in r] for r in ids],
                                          dtype=object),
                "top_k_ids": ids}
