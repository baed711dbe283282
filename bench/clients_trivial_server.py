"""Trivial endpoints for load-generator ceiling measurements.

``python bench/clients_trivial_server.py PORT_FILE`` serves HTTP/1.1 keep-alive (uvloop) and
answers every request with the same small TF-Serving-shaped JSON body;
``python bench/clients_trivial_server.py PORT_FILE --grpc`` serves
``tensorflow.serving.PredictionService/Predict`` and answers every call with the same
(empty) ``PredictResponse`` bytes. Neither does any other work, so what limits a benchmark
against them is the load generator (and the shared CPU).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

BODY = b'{"predictions": [[0.1, 0.9]]}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


class TrivialHttp(asyncio.Protocol):
    """Answers each complete request (headers + Content-Length body) with ``RESPONSE``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start with an empty buffer."""
        self.transport = transport
        self.buf = bytearray()

    def data_received(self, data: bytes) -> None:
        """Answer every complete request in the buffer."""
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            length = 0
            pos = head.find(b"content-length:")
            if pos >= 0:
                length = int(head[pos + 15:].split(b"\r\n", 1)[0])
            if len(self.buf) < end + 4 + length:
                return
            del self.buf[:end + 4 + length]
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]


async def serve(port_file: Path) -> None:
    """Listen on 127.0.0.1:0, write the port to ``port_file`` (atomically), serve forever."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(TrivialHttp, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(port))
    tmp.replace(port_file)
    async with server:
        await server.serve_forever()


def serve_grpc(port_file: Path) -> None:
    """A generic gRPC handler for Predict that returns empty ``PredictResponse`` bytes."""
    from concurrent import futures

    import grpc

    handler = grpc.method_handlers_generic_handler(
        "tensorflow.serving.PredictionService",
        {"Predict": grpc.unary_unary_rpc_method_handler(lambda request, context: b"")})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(port))
    tmp.replace(port_file)
    server.wait_for_termination()


def main() -> None:
    """Entry point."""
    if "--grpc" in sys.argv[2:]:
        serve_grpc(Path(sys.argv[1]))
        return
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
