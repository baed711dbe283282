"""Echo servers for ``bench/serving_floor.py``: the transport of ``serving serve`` without a model.

One process, one uvloop event loop (as ``serving serve`` runs), two listeners on 127.0.0.1
free ports:

- gRPC (``grpc.aio``, same message-size options as ours): any unary method answers with fixed
  response bytes, without parsing the request;
- REST (our own ``serving.http_server.HttpServer``): any request is answered with a fixed
  JSON body.

The reply size is taken from the command line so the echo answers as many bytes as the real
server does. Usage: ``python bench/echo_server.py GRPC_REPLY_BYTES REST_REPLY_BYTES PORT_FILE
[--grpc-sync[=THREADS]] [--model=PLATFORM:VERSION_DIR]``.

``--model``: the **minimal server** instead of an echo: each gRPC request is parsed as a
``PredictRequest``, its inputs go to the backend's ``predict`` (signature from the
request) on a pool of one thread per core via ``run_in_executor``, the outputs are encoded back
into a ``PredictResponse``; no batching, checks, metrics or version resolution. The least any
server on this stack (``grpc.aio`` + uvloop, the model off the event loop) does per request.
``--model`` with ``--grpc-sync=N``: the same on grpcio's synchronous server, each of its N
handler threads calling the backend itself (the other design: no event loop, no hop).
With ``--grpc-sync`` the gRPC listener is grpcio's synchronous server on a thread pool
(default 8 threads) instead of ``grpc.aio`` (the floor of the other gRPC design,
``bench/serving_cpu.py``).
The ports are written to PORT_FILE as ``{"grpc": port, "rest": port}`` (temp file, then
rename); SIGTERM stops the process.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from serving.http_server import HttpRequest, HttpResponse, HttpServer  # noqa: E402

_OPTIONS = [("grpc.max_receive_message_length", 2**31 - 1),
            ("grpc.max_send_message_length", 2**31 - 1)]


class _AnyMethod(grpc.GenericRpcHandler):
    """Every unary method of every service: return the fixed reply."""

    def __init__(self, reply: bytes) -> None:
        async def answer(request: bytes, context) -> bytes:
            return reply

        self.handler = grpc.unary_unary_rpc_method_handler(answer)  # bytes in, bytes out

    def service(self, handler_call_details):
        """The one handler, whatever the method name."""
        return self.handler


class _AnyMethodSync(grpc.GenericRpcHandler):
    """The same, for grpcio's synchronous server (the handler runs on a pool thread)."""

    def __init__(self, reply: bytes) -> None:
        self.handler = grpc.unary_unary_rpc_method_handler(lambda request, context: reply)

    def service(self, handler_call_details):
        """The one handler, whatever the method name."""
        return self.handler


class _MinimalPredict(grpc.GenericRpcHandler):
    """``--model``: parse, one thread hop to the backend, encode; nothing else. ``sync``: for
    grpcio's synchronous server, the handler thread calls the backend itself (no hop)."""

    def __init__(self, spec: str, sync: bool = False) -> None:
        import os
        from concurrent.futures import ThreadPoolExecutor

        from common import wire
        from serving.backends import create_backend
        from serving.codecs.tensor_proto import from_numpy, to_numpy

        platform, _, version_dir = spec.partition(":")
        backend = create_backend(platform)
        backend.load(Path(version_dir))
        pool = None if sync else ThreadPoolExecutor(len(os.sched_getaffinity(0)))

        def decode(request: bytes) -> tuple[str, dict]:
            req = wire.PredictRequest.FromString(request)
            inputs = {k: to_numpy(v, copy=False) for k, v in req.inputs.items()}
            return req.model_spec.signature_name, inputs

        def encode(outputs: dict) -> bytes:
            response = wire.PredictResponse()
            for alias, arr in outputs.items():
                from_numpy(arr, response.outputs[alias])
            return response.SerializeToString()

        async def answer(request: bytes, context) -> bytes:
            signature, inputs = decode(request)
            outputs = await asyncio.get_running_loop().run_in_executor(
                pool, backend.predict, signature, inputs)
            return encode(outputs)

        def answer_sync(request: bytes, context) -> bytes:
            return encode(backend.predict(*decode(request)))

        self.handler = grpc.unary_unary_rpc_method_handler(answer_sync if sync else answer)

    def service(self, handler_call_details):
        """The one handler, whatever the method name."""
        return self.handler


async def _serve(grpc_reply: bytes, rest_reply: bytes, port_file: Path,
                 sync_threads: int = 0, model: str = "") -> None:
    if model and sync_threads:
        from concurrent.futures import ThreadPoolExecutor

        server = grpc.server(ThreadPoolExecutor(max_workers=sync_threads), options=_OPTIONS)
        server.add_generic_rpc_handlers((_MinimalPredict(model, sync=True),))
        grpc_port = server.add_insecure_port("127.0.0.1:0")
        server.start()
    elif model:
        server = grpc.aio.server(options=_OPTIONS)
        server.add_generic_rpc_handlers((_MinimalPredict(model),))
        grpc_port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
    elif sync_threads:
        from concurrent.futures import ThreadPoolExecutor

        server = grpc.server(ThreadPoolExecutor(max_workers=sync_threads), options=_OPTIONS)
        server.add_generic_rpc_handlers((_AnyMethodSync(grpc_reply),))
        grpc_port = server.add_insecure_port("127.0.0.1:0")
        server.start()
    else:
        server = grpc.aio.server(options=_OPTIONS)
        server.add_generic_rpc_handlers((_AnyMethod(grpc_reply),))
        grpc_port = server.add_insecure_port("127.0.0.1:0")
        await server.start()

    async def handle(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, rest_reply, [("Content-Type", "application/json")])

    http = HttpServer(handle, max_request_bytes=2**31 - 1)
    rest_port = await http.start("127.0.0.1", 0)
    tmp = port_file.with_name(port_file.name + ".tmp")
    tmp.write_text(json.dumps({"grpc": grpc_port, "rest": rest_port}))
    tmp.replace(port_file)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    http.stop_accepting()
    await http.drain(1.0)
    if sync_threads:
        server.stop(1.0).wait()
    else:
        await server.stop(1.0)


def main() -> None:
    """Parse the three arguments and serve until SIGTERM."""
    options = [a for a in sys.argv[1:] if a.startswith("--")]
    positional = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(positional) != 3:
        sys.exit("usage: echo_server.py GRPC_REPLY_BYTES REST_REPLY_BYTES PORT_FILE "
                 "[--grpc-sync[=THREADS]]")
    grpc_bytes, rest_bytes, port_file = int(positional[0]), int(positional[1]), \
        Path(positional[2])
    sync_threads, model = 0, ""
    for extra in options:
        if extra == "--grpc-sync" or extra.startswith("--grpc-sync="):
            sync_threads = int(extra.partition("=")[2] or 8)
        elif extra.startswith("--model="):
            model = extra.partition("=")[2]
        else:
            sys.exit(f"error: unknown option {extra!r}; accepted: --grpc-sync[=THREADS], "
                     "--model=PLATFORM:VERSION_DIR")
    zeros = max(1, (rest_bytes - 18) // 2)
    rest_reply = b'{"predictions": [' + b"0," * (zeros - 1) + b"0]}"  # valid JSON
    try:
        import uvloop

        uvloop.run(_serve(b"\0" * grpc_bytes, rest_reply, port_file, sync_threads, model))
    except ImportError:
        asyncio.run(_serve(b"\0" * grpc_bytes, rest_reply, port_file, sync_threads, model))


if __name__ == "__main__":
    main()
