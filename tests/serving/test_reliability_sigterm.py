"""SIGTERM during load (issue 7): requests in flight when the signal arrives complete with
200 / OK, new connections are refused cleanly (connection refused, gRPC UNAVAILABLE; never a
hang, never a 5xx) and the process exits 0.

Requests are held in flight by the batcher: a 3 s batch timeout and a batch size no load
here can fill. The background loader predicts on version 1 (label ``old``) and the probed
requests on version 2 (latest), so the probes open a batch queue of their own and are sure to
be waiting in it when the signal arrives.
"""

from __future__ import annotations

import socket
import threading
import time

import grpc
import pytest

from tests.serving.conftest import RestClient
from tests.serving.reliability_loader import Loader, Stream
from tests.serving.reliability_server import (
    grpc_stubs,
    make_templates,
    predict_request,
    publish,
    start_server,
)

pytestmark = pytest.mark.reliability

BATCH_TIMEOUT = 3.0
REFUSED = ("ConnectionRefusedError", "gRPC UNAVAILABLE")


@pytest.fixture
def batching_server(tmp_path):
    templates = make_templates(tmp_path / "templates", (1, 2))
    base = tmp_path / "models" / "hp"
    publish(templates[1], base, 1)
    publish(templates[2], base, 2)
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "hp" base_path: "{base}" '
        'model_version_policy { all {} } version_labels { key: "old" value: 1 } } }\n'
    )
    batching = tmp_path / "batching.config"
    batching.write_text(
        "max_batch_size { value: 256 } "
        f"batch_timeout_micros {{ value: {int(BATCH_TIMEOUT * 1e6)} }} "
        "num_batch_threads { value: 1 }\n"
    )
    server = start_server(
        ["--port=0", "--rest_api_port=auto", f"--model_config_file={config}",
         "--allow_version_labels_for_unavailable_models",
         "--enable_batching", f"--batching_parameters_file={batching}",
         "--drain_timeout_seconds=30"],
        tmp_path / "server",
    )
    yield server
    server.kill()


def _rest_in_flight(port: int, out: list, i: int) -> None:
    client = RestClient(port)
    started = time.monotonic()
    reply = client.post("/v1/models/hp:predict", f'{{"instances": [{i}.0]}}')
    out[i] = (started, time.monotonic(), reply.status, reply.json()["predictions"])
    client.close()


def _grpc_in_flight(port: int, out: list, i: int) -> None:
    from serving.codecs.tensor_proto import to_numpy

    channel, predict, _ = grpc_stubs(port)
    started = time.monotonic()
    response = predict.Predict(predict_request("hp", x=float(i)), timeout=60)
    out[i] = (started, time.monotonic(), "OK", to_numpy(response.outputs["y"]).tolist())
    channel.close()


def _new_rest_connection(port: int) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return "accepted"
    except ConnectionRefusedError:
        return "refused"


def _new_grpc_call(port: int) -> str:
    channel, predict, _ = grpc_stubs(port)
    try:
        predict.Predict(predict_request("hp"), timeout=5)
        return "OK"
    except grpc.RpcError as err:
        return err.code().name
    finally:
        channel.close()


def test_sigterm_drains_in_flight_and_refuses_new_connections(batching_server):
    server = batching_server
    rest_port, grpc_port = server.ports["rest"], server.ports["grpc"]
    streams = [Stream("rest", "rest", label="old"), Stream("grpc", "grpc", label="old")]
    loader = Loader(server.ports, streams).start()
    time.sleep(1.0)
    rest_out: list = [None] * 4
    grpc_out: list = [None] * 4
    threads = [threading.Thread(target=_rest_in_flight, args=(rest_port, rest_out, i))
               for i in range(4)]
    threads += [threading.Thread(target=_grpc_in_flight, args=(grpc_port, grpc_out, i))
                for i in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # all eight wait in the open batch of version 2 ...
    signalled = time.monotonic()
    exit_code: list[int] = []
    waiter = threading.Thread(target=lambda: exit_code.append(server.terminate(90)))
    waiter.start()  # ... when the server is told to stop

    time.sleep(0.3)
    new_rest, new_grpc = _new_rest_connection(rest_port), _new_grpc_call(grpc_port)
    refused_at = time.monotonic()
    for thread in threads:
        thread.join(60)
    waiter.join(90)
    loader.stop()

    assert (new_rest, new_grpc) == ("refused", "UNAVAILABLE")
    for i, (started, ended, code, values) in enumerate(rest_out + grpc_out):
        assert started < signalled < ended, "not in flight when the signal arrived"
        assert code in (200, "OK") and values == [0.5 * (i % 4) + 2.0]  # version 2
    assert refused_at < min(ended for _, ended, _, _ in rest_out + grpc_out), (
        "new connections must be refused while the in-flight requests are still draining"
    )
    assert exit_code == [0], server.log()[-2000:]
    assert "Traceback" not in server.log()

    before = [s for s in loader.samples if s.started < signalled]
    after = [s for s in loader.samples if s.started >= signalled]
    assert before and all(not s.error and s.version == 1 for s in before), before[:3]
    for s in after:  # answered (accepted before the listener closed) or refused: no 5xx
        assert (not s.error and s.version == 1) or s.error.startswith(REFUSED), s
    assert max(s.ended - s.started for s in loader.samples) < BATCH_TIMEOUT + 10
