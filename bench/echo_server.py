"""Echo servers for ``bench/serving_floor.py``: the transport of ``serving serve`` without a model.

One process, one uvloop event loop (as ``serving serve`` runs), two listeners on 127.0.0.1
free ports:

- gRPC (``grpc.aio``, same message-size options as ours): any unary method answers with fixed
  response bytes, without parsing the request;
- REST (our own ``serving.http_server.HttpServer``): any request is answered with a fixed
  JSON body.

The reply size is taken from the command line so the echo answers as many bytes as the real
server does. Usage: ``python bench/echo_server.py GRPC_REPLY_BYTES REST_REPLY_BYTES PORT_FILE``.
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


async def _serve(grpc_reply: bytes, rest_reply: bytes, port_file: Path) -> None:
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
    await server.stop(1.0)


def main() -> None:
    """Parse the three arguments and serve until SIGTERM."""
    grpc_bytes, rest_bytes, port_file = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    zeros = max(1, (rest_bytes - 18) // 2)
    rest_reply = b'{"predictions": [' + b"0," * (zeros - 1) + b"0]}"  # valid JSON
    try:
        import uvloop

        uvloop.run(_serve(b"\0" * grpc_bytes, rest_reply, port_file))
    except ImportError:
        asyncio.run(_serve(b"\0" * grpc_bytes, rest_reply, port_file))


if __name__ == "__main__":
    main()
