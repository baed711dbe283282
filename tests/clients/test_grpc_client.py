"""GrpcClient against the gRPC stub: modes, routing, tensor_content, typed errors, retries."""

from __future__ import annotations

import numpy as np
import pytest

from clients import base as client_base
from clients.errors import BadRequest, ModelNotFound, ServerError, ServerUnavailable
from clients.grpc_client import GrpcClient
from clients.rest import RestClient


@pytest.fixture
def client(grpc_server) -> GrpcClient:
    c = GrpcClient(grpc_server.target, "toy", retries=3)
    yield c
    c.close()


def test_modes_agree_and_match_rest(client, grpc_server, rest_server, images) -> None:
    ref = RestClient(rest_server.url, "toy").predict(images, top_k=3)
    for mode in ("client-resize", "server-resize", "encoded"):
        preds = client.predict(images, top_k=3, mode=mode)
        assert [p.class_ids for p in preds] == [p.class_ids for p in ref]
        assert [p.labels for p in preds] == [p.labels for p in ref]
        assert np.allclose([p.scores for p in preds], [p.scores for p in ref], atol=1e-6)


def test_requests_use_tensor_content_and_output_filter(client, grpc_server, images) -> None:
    client.predict(images[:2], top_k=2)
    req = grpc_server.last_request
    tensor = req.inputs["image"]
    assert tensor.dtype == 1 and len(tensor.tensor_content) == 2 * 8 * 8 * 3 * 4
    assert len(tensor.float_val) == 0
    assert list(req.output_filter) == ["top_k_ids", "top_k_scores", "top_k_classes"]
    assert req.model_spec.signature_name == "serving_default"
    client.predict(images[:2], top_k=2, return_probabilities=True)
    assert list(grpc_server.last_request.output_filter) == []


def test_version_and_label_routing(grpc_server, images) -> None:
    v1 = GrpcClient(grpc_server.target, "toy", version=1).predict(images, top_k=1)
    v2 = GrpcClient(grpc_server.target, "toy", version=2).predict(images, top_k=1)
    canary = GrpcClient(grpc_server.target, "toy", label="canary")
    assert [p.class_ids for p in canary.predict(images, top_k=1)] == [p.class_ids for p in v2]
    assert [p.class_ids for p in v1] != [p.class_ids for p in v2]
    assert grpc_server.last_request.model_spec.version_label == "canary"
    assert canary.metadata().version == 2


def test_metadata_and_status(grpc_server) -> None:
    c = GrpcClient(grpc_server.target, "toy", version=1)
    assert c.metadata().image_size() == (8, 8)
    assert c.metadata().top_k() == 3
    rows = c.status()["model_version_status"]
    assert [(r["version"], r["state"]) for r in rows] == [("1", "AVAILABLE")]


def test_typed_errors(grpc_server, images) -> None:
    with pytest.raises(ModelNotFound, match=r"Latest\(nope\)"):
        GrpcClient(grpc_server.target, "nope").predict(images[:1])
    with pytest.raises(BadRequest, match="Unrecognized servable version label: x"):
        GrpcClient(grpc_server.target, "toy", label="x").metadata()


def test_unavailable_retried_invalid_argument_not(client, grpc_server, images,
                                                   monkeypatch) -> None:
    monkeypatch.setattr(client_base.time, "sleep", lambda s: None)
    client.metadata()
    grpc_server.fail_next[:] = ["UNAVAILABLE", "UNAVAILABLE"]
    assert len(client.predict(images[:1])) == 1
    assert grpc_server.calls.count("Predict") == 3
    grpc_server.fail_next[:] = ["INVALID_ARGUMENT"]
    with pytest.raises(BadRequest, match="injected INVALID_ARGUMENT"):
        client.predict(images[:1])
    assert grpc_server.calls.count("Predict") == 4
    grpc_server.fail_next[:] = ["INTERNAL"]
    with pytest.raises(ServerError, match="injected INTERNAL"):
        client.predict(images[:1])


def test_server_down(monkeypatch) -> None:
    monkeypatch.setattr(client_base.time, "sleep", lambda s: None)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = GrpcClient(f"127.0.0.1:{port}", "toy", retries=1, timeout=2.0)
    with pytest.raises(ServerUnavailable):
        c.status()
