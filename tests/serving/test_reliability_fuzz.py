"""Fuzzing a live server (issue 7): 10,000 hypothesis REST bodies (the strategies of
``test_fuzz_rest``) and 1,000 malformed gRPC requests (``reliability_grpc_strategies``).

REST: never a 5xx, always a JSON reply. gRPC: every reply is OK or a proper status that is
not INTERNAL / UNKNOWN (these requests are client mistakes). The server serves after both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serving import reliability_grpc_strategies as gs
from tests.serving.conftest import RestClient
from tests.serving.reliability_server import predict_request
from tests.serving.test_fuzz_rest import bodies, make_bodies, paths

pytestmark = pytest.mark.reliability

REST_EXAMPLES = int(os.environ.get("RELIABILITY_REST_EXAMPLES", "10000"))
GRPC_EXAMPLES = int(os.environ.get("RELIABILITY_GRPC_EXAMPLES", "1000"))
MAX_GRPC_BYTES = 4_000_000
_SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
CLIENT_MISTAKE_CODES_NOT_ALLOWED = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


@pytest.fixture(scope="module")
def live(models_config, tmp_path_factory) -> Iterator[dict]:
    """A server of its own (hp v1 = 0.5x+2, v2 = 0.5x+3), so fuzzing cannot disturb others."""
    from serving.app import BackgroundServer
    from serving.server_options import parse_flags

    background = BackgroundServer(
        parse_flags(
            [
                "--port=0", "--rest_api_port=auto", f"--model_config_file={models_config}",
                "--file_system_poll_wait_seconds=0", "--max_request_bytes=1000000",
                "--drain_timeout_seconds=5", "--allow_version_labels_for_unavailable_models",
                # also the largest tensor a request may describe: fuzzed huge dims must be
                # refused before anything is allocated (they once got this process OOM-killed)
                f"--grpc_channel_arguments=grpc.max_receive_message_length={MAX_GRPC_BYTES}",
            ]
        )
    )
    ports = background.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{ports['grpc']}")
    rest = RestClient(ports["rest"])
    yield {**ports, "channel": channel, "rest_client": rest}
    rest.close()
    channel.close()
    background.stop()


def _still_serving(live: dict) -> None:
    reply = live["rest_client"].post("/v1/models/hp/versions/1:predict", '{"instances": [2.0]}')
    assert reply.json() == {"predictions": [3.0]}
    call = live["channel"].unary_unary(
        gs.PREDICTION + "Predict",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=None,
    )
    assert call(predict_request("hp", version=2), timeout=30)  # any non-empty response


# test_fuzz_rest's bodies, except that classify/regress get nesting up to 400 instead of
# 2000: their error message pretty-prints the whole body, O(depth^2) bytes (a 2 kB body at
# depth 990 answers 3.9 MB in ~0.5 s), which alone would take this file past 5 minutes.
# The deep case is kept once in test_deeply_nested_examples_body_is_a_400.
_EXAMPLE_BODIES = make_bodies(400)
requests_ = st.one_of(
    st.tuples(paths.filter(lambda p: p.endswith(":predict")), bodies),
    st.tuples(paths.filter(lambda p: not p.endswith(":predict")), _EXAMPLE_BODIES),
)


@settings(max_examples=REST_EXAMPLES, **_SETTINGS)
@given(request=requests_)
def test_rest_bodies_never_get_a_server_error(live, request):
    path, body = request
    reply = live["rest_client"].post(path, body)
    assert reply.status < 500, (path, body, reply.status, reply.body)
    assert reply.headers["content-type"] == "application/json"
    if reply.status != 200:
        assert set(json.loads(reply.body)) == {"error"}


def test_deeply_nested_examples_body_is_a_400(live):
    body = b'{"instances": ' + b"[" * 990 + b"1.0" + b"]" * 990 + b"}"
    reply = live["rest_client"].post("/v1/models/hp:classify", body)
    assert reply.status == 400 and set(reply.json()) == {"error"}


def _check_grpc(live: dict, method: str, request) -> None:
    """One unary call: OK, or a status that is not INTERNAL/UNKNOWN."""
    serialize = (lambda m: m) if isinstance(request, bytes) else (lambda m: m.SerializeToString())
    call = live["channel"].unary_unary(
        method, request_serializer=serialize, response_deserializer=None
    )
    try:
        call(request, timeout=60)
    except grpc.RpcError as err:
        assert err.code() not in CLIENT_MISTAKE_CODES_NOT_ALLOWED, (
            method, request, err.code(), err.details()
        )
        assert err.code() != grpc.StatusCode.DEADLINE_EXCEEDED, (method, request)


_PREDICT_SHARE = GRPC_EXAMPLES * 4 // 10
_OTHER_SHARE = GRPC_EXAMPLES // 10


@settings(max_examples=_PREDICT_SHARE, **_SETTINGS)
@given(request=gs.predict_requests())
def test_grpc_malformed_predict(live, request):
    _check_grpc(live, gs.PREDICTION + "Predict", request)


@settings(max_examples=2 * _OTHER_SHARE, **_SETTINGS)
@given(request=gs.classify_requests())
def test_grpc_malformed_classify(live, request):
    _check_grpc(live, gs.PREDICTION + "Classify", request)


@settings(max_examples=_OTHER_SHARE, **_SETTINGS)
@given(request=gs.metadata_requests())
def test_grpc_malformed_metadata(live, request):
    _check_grpc(live, gs.PREDICTION + "GetModelMetadata", request)


@settings(max_examples=_OTHER_SHARE, **_SETTINGS)
@given(request=gs.status_requests())
def test_grpc_malformed_status(live, request):
    _check_grpc(live, gs.MODEL + "GetModelStatus", request)


@settings(max_examples=GRPC_EXAMPLES - _PREDICT_SHARE - 4 * _OTHER_SHARE, **_SETTINGS)
@given(call=gs.raw_calls)
def test_grpc_garbage_bytes(live, call):
    method, payload = call
    _check_grpc(live, method, payload)


@pytest.mark.parametrize("index", range(len(gs.known_bad_tensors())))
def test_grpc_tensors_the_codec_cannot_build_are_invalid_argument(live, index):
    request = predict_request("hp", version=1)
    request.inputs["x"].CopyFrom(gs.known_bad_tensors()[index])
    call = live["channel"].unary_unary(
        gs.PREDICTION + "Predict", request_serializer=lambda m: m.SerializeToString()
    )
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()


def test_grpc_unparsable_bytes_are_invalid_argument(live):
    call = live["channel"].unary_unary(gs.PREDICTION + "Predict")
    with pytest.raises(grpc.RpcError) as info:
        call(b"\xff\xff\xff", timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "PredictRequest" in info.value.details()


def test_server_still_serves_after_fuzzing(live):
    _still_serving(live)
