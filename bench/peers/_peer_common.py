"""Helpers shared by the peer server scripts (which run in the peers' own venvs, so this file
imports only the standard library, numpy and onnxruntime)."""

from __future__ import annotations

import os


def onnx_session(path: str):
    """(onnxruntime session, its first input's name), intra-op threads as onnxruntime's default
    unless ``PEER_ORT_THREADS`` is set."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    threads = int(os.environ.get("PEER_ORT_THREADS", "0"))
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session, session.get_inputs()[0].name
