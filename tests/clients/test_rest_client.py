"""RestClient against the REST stub: modes, routing, formats, typed errors, retries."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from clients import base as client_base
from clients.errors import (
    BadRequest,
    MalformedResponse,
    ModelNotFound,
    RequestTimeout,
    ServerError,
    ServerUnavailable,
    SignatureError,
)
from clients.rest import RestClient
from tests.clients.fake_model import LABELS, FakeModel


def _ids(preds) -> list[list[int]]:
    return [p.class_ids for p in preds]


def test_three_modes_give_identical_answers(rest_server, images) -> None:
    client = RestClient(rest_server.url, "toy")
    answers = {m: client.predict(images, top_k=3, mode=m)
               for m in ("client-resize", "server-resize", "encoded")}
    ref = answers["client-resize"]
    assert len(ref) == len(images)
    for preds in answers.values():
        assert _ids(preds) == _ids(ref)
        assert np.allclose([p.scores for p in preds], [p.scores for p in ref], atol=1e-6)
    assert all(lab in LABELS for p in ref for lab in p.labels)
    signatures = [b["signature_name"] for b in rest_server.bodies]
    assert {"serving_default", "serve_raw", "serve_bytes"} <= set(signatures)


def test_expected_answer_from_model(rest_server, images) -> None:
    client = RestClient(rest_server.url, "toy", version=1)
    preds = client.predict(images[:3], top_k=4, return_probabilities=True)
    model = FakeModel()
    from clients.prepare import ImageItem, Mode, make_groups

    x = make_groups([ImageItem(array=i) for i in images[:3]], Mode.CLIENT_RESIZE, (8, 8))[0]
    expected = model.predict(1, "serving_default", {"image": x.tensor})["probabilities"]
    got = np.stack([p.probabilities for p in preds])
    assert np.allclose(got, expected, atol=1e-6)
    assert [p.class_ids[0] for p in preds] == list(expected.argmax(axis=1))
    # top_k (4) exceeds the server's K (3): computed from probabilities, names still known
    assert all(len(p.class_ids) == 4 for p in preds)


def test_version_and_label_routing(rest_server, images) -> None:
    v1 = RestClient(rest_server.url, "toy", version=1).predict(images, top_k=1)
    v2 = RestClient(rest_server.url, "toy", version=2).predict(images, top_k=1)
    latest = RestClient(rest_server.url, "toy").predict(images, top_k=1)
    stable = RestClient(rest_server.url, "toy", label="stable").predict(images, top_k=1)
    assert _ids(v1) != _ids(v2)
    assert _ids(latest) == _ids(v2)
    assert _ids(stable) == _ids(v1)
    paths = rest_server.requests
    assert any("/versions/1:predict" in p for p in paths)
    assert any("/labels/stable/metadata" in p for p in paths)


def test_row_and_columnar_formats(rest_server, images) -> None:
    rows = RestClient(rest_server.url, "toy").predict(images[:2])
    assert "instances" in rest_server.bodies[-1]
    cols = RestClient(rest_server.url, "toy", columnar=True).predict(images[:2])
    assert "inputs" in rest_server.bodies[-1]
    assert _ids(rows) == _ids(cols)


def test_metadata_and_status(rest_server) -> None:
    client = RestClient(rest_server.url, "toy", version=1)
    info = client.metadata()
    assert info.version == 1
    assert info.image_size() == (8, 8)
    assert set(info.signatures) == {"serving_default", "serve_raw", "serve_bytes"}
    status = client.status()
    assert [v["version"] for v in status["model_version_status"]] == ["1"]


def test_typed_errors_carry_server_message(rest_server, images) -> None:
    with pytest.raises(ModelNotFound, match=r"Servable not found for request: Latest\(nope\)"):
        RestClient(rest_server.url, "nope").predict(images[:1])
    with pytest.raises(ModelNotFound, match=r"Specific\(toy, 9\)"):
        RestClient(rest_server.url, "toy", version=9).predict(images[:1])
    with pytest.raises(BadRequest, match="Unrecognized servable version label: beta"):
        RestClient(rest_server.url, "toy", label="beta").predict(images[:1])
    client = RestClient(rest_server.url, "toy")
    with pytest.raises(SignatureError, match='Serving signature name: "nope" not found'):
        client.predict_raw("nope", {"image": np.zeros((1, 8, 8, 3), np.float32)})


def test_missing_signature_is_reported_before_sending(rest_server, images) -> None:
    client = RestClient(rest_server.url, "toy")
    info = client.metadata()
    del info.signatures["serve_raw"]
    before = len(rest_server.requests)
    with pytest.raises(SignatureError, match="has no signature 'serve_raw'"):
        client.predict(images[:1], mode="server-resize")
    assert len(rest_server.requests) == before


def test_transient_503_is_retried(rest_server, images, monkeypatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(client_base.time, "sleep", sleeps.append)
    client = RestClient(rest_server.url, "toy", retries=3)
    client.metadata()
    rest_server.fail_next[:] = [503, 503]
    before = len(rest_server.requests)
    assert len(client.predict(images[:1])) == 1
    assert len(rest_server.requests) - before == 3
    assert len(sleeps) == 2 and sleeps[1] > 0


def test_503_gives_up_after_retries(rest_server, images, monkeypatch) -> None:
    monkeypatch.setattr(client_base.time, "sleep", lambda s: None)
    client = RestClient(rest_server.url, "toy", retries=2)
    client.metadata()
    rest_server.fail_next[:] = [503] * 5
    with pytest.raises(ServerUnavailable, match="injected failure 503"):
        client.predict(images[:1])
    assert len(rest_server.fail_next) == 2  # 3 attempts used


@pytest.mark.parametrize(("status", "exc"), [(400, BadRequest), (404, ModelNotFound),
                                             (500, ServerError), (504, RequestTimeout)])
def test_caller_and_server_errors_are_not_retried(rest_server, images, status, exc) -> None:
    client = RestClient(rest_server.url, "toy", retries=3)
    client.metadata()
    rest_server.fail_next[:] = [status]
    before = len(rest_server.requests)
    with pytest.raises(exc, match=f"injected failure {status}"):
        client.predict(images[:1])
    assert len(rest_server.requests) - before == 1


def test_connection_refused_is_retried_then_typed(monkeypatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(client_base.time, "sleep", sleeps.append)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = RestClient(f"http://127.0.0.1:{port}", "toy", retries=2)
    with pytest.raises(ServerUnavailable, match="cannot connect"):
        client.status()
    assert len(sleeps) == 2


def test_timeout_is_typed_and_not_retried(rest_server) -> None:
    client = RestClient(rest_server.url, "toy", timeout=0.2, retries=3)
    rest_server.delay = 0.6
    with pytest.raises(RequestTimeout, match="within 0.2s"):
        client.status()
    rest_server.delay = 0.0
    assert len(rest_server.requests) == 1


def test_malformed_answers(rest_server, images) -> None:
    client = RestClient(rest_server.url, "toy")
    client.metadata()
    rest_server.fail_next[:] = [(200, b"<html>not json</html>")]
    with pytest.raises(MalformedResponse, match="not understood"):
        client.predict(images[:1])
    rest_server.fail_next[:] = [(200, b'{"something": 1}')]
    with pytest.raises(MalformedResponse):
        client.predict(images[:1])
    rest_server.fail_next[:] = [(404, b"<html>404</html>")]
    with pytest.raises(ModelNotFound, match="<html>404</html>"):
        client.predict(images[:1])


def test_empty_input_and_bad_top_k(rest_server, images) -> None:
    client = RestClient(rest_server.url, "toy")
    assert client.predict([]) == []
    assert rest_server.requests == []  # nothing sent, not even metadata
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        client.predict(images[:1], top_k=0)


def test_server_resize_mixed_sizes_keep_order(rest_server, images) -> None:
    client = RestClient(rest_server.url, "toy")
    ref = client.predict(images, top_k=2)
    before = len(rest_server.bodies)
    mixed = client.predict(images, top_k=2, mode="server-resize", batch_size=2)
    assert [p.class_ids for p in mixed] == [p.class_ids for p in ref]
    # 7 images of 32x32 and one 40x24, batches of <= 2 per size -> 4 + 1 requests
    assert len(rest_server.bodies) - before == 5
