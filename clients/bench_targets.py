"""Bench targets: pre-encoded Predict requests for REST and gRPC, and answer checking.

Requests are built once per point with the library client's own ``plan``/``encode_predict``
(the same bytes ``predict`` would send) and re-sent round-robin, so the generator spends no
CPU on encoding. A sample of answers is decoded after the run with ``decode_predict`` and
its top-1 compared with the answer the library client got for the same batch beforehand.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np

from clients.base import PredictClient, predictions_from_outputs
from clients.bench_http import HttpConnection, build_request, split_url
from clients.bench_loop import Outcome
from clients.errors import ClientError
from clients.prepare import ImageItem, Mode

__all__ = ["Payloads", "build_payloads", "RestTarget", "GrpcTarget", "check_samples",
           "generated_images"]


@dataclass
class Payloads:
    """Encoded requests (one per batch), each batch's reference top-1 ids, and the mode."""

    bodies: list[bytes]
    expected_top1: list[list[int]]
    signature: str
    batch_size: int
    input_alias: str
    tensors: list[np.ndarray]


def build_payloads(client: PredictClient, items: list[ImageItem], mode: Mode,
                   batch_size: int, max_batches: int = 8) -> Payloads:
    """Up to ``max_batches`` full batches of ``batch_size`` images, encoded for ``client``."""
    plan = client.plan(items, mode, top_k=1, batch_size=batch_size)
    groups = [g for g in plan.groups if len(g.indices) == batch_size][:max_batches]
    if not groups:
        raise ValueError(f"need at least {batch_size} images of one size for a batch of "
                         f"{batch_size}; got {len(items)}")
    bodies, expected = [], []
    for g in groups:
        inputs = {plan.input_alias: g.tensor}
        bodies.append(client.encode_predict(plan.signature, inputs, plan.output_filter))
        outputs = client.predict_raw(plan.signature, inputs, plan.output_filter)
        expected.append([p.class_ids[0] for p in predictions_from_outputs(outputs, 1, False)])
    return Payloads(bodies, expected, plan.signature, batch_size, plan.input_alias,
                    [g.tensor for g in groups])


class RestTarget:
    """POSTs pre-built HTTP requests over keep-alive asyncio connections."""

    def __init__(self, base_url: str, path: str, bodies: list[bytes],
                 timeout: float = 30.0, ssl_context: Any = None) -> None:
        self.host, self.port = split_url(base_url)
        self.ssl_context = ssl_context  # https://: an ssl.SSLContext
        self.requests = [build_request("POST", self.host, self.port, path, b) for b in bodies]
        self.timeout = timeout
        self._conns: list[HttpConnection] = []
        self._watchdog: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(0.25, self.timeout / 4))
            now = loop.time()
            for conn in self._conns:
                conn.expire(now, self.timeout)

    async def connect(self) -> HttpConnection:
        """A new keep-alive connection (connects on first send); starts the watchdog."""
        if self._watchdog is None:
            self._watchdog = asyncio.ensure_future(self._watch())
        conn = HttpConnection(self.host, self.port, self.ssl_context)
        self._conns.append(conn)
        return conn

    async def call(self, conn: HttpConnection, index: int) -> Outcome:
        """POST request ``index`` (round-robin over the batches) and read the answer."""
        request = self.requests[index % len(self.requests)]
        status, body, used = await conn.send(request)
        if status != 200:
            return Outcome(f"http_{status}", len(request), used)
        return Outcome("", len(request), used, body)

    async def close(self) -> None:
        """Stop the watchdog and close every connection."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        for conn in self._conns:
            conn.close()


class GrpcTarget:
    """Sends pre-serialized ``PredictRequest`` bytes on a few grpc.aio channels."""

    def __init__(self, target: str, method: str, bodies: list[bytes], timeout: float = 30.0,
                 channels: int = 4, credentials: Any = None) -> None:
        self.target, self.method, self.bodies = target, method, bodies
        self.credentials = credentials  # TLS: grpc.ChannelCredentials
        self.timeout = timeout
        self._max_channels = channels
        self._channels: list[Any] = []
        self._calls: list[Any] = []
        self._next = 0

    async def connect(self) -> Any:
        """A Predict callable on one of up to ``channels`` shared channels."""
        import grpc

        from clients.grpc_client import channel_options

        if len(self._channels) < self._max_channels:
            channel = (grpc.aio.secure_channel(self.target, self.credentials,
                                               options=channel_options())
                       if self.credentials is not None else
                       grpc.aio.insecure_channel(self.target, options=channel_options()))
            self._channels.append(channel)
            self._calls.append(channel.unary_unary(self.method))
        self._next += 1
        return self._calls[(self._next - 1) % len(self._calls)]

    async def call(self, conn: Any, index: int) -> Outcome:
        """Send request ``index`` as raw bytes; a gRPC error becomes ``grpc_<CODE>``."""
        import grpc

        body = self.bodies[index % len(self.bodies)]
        try:
            answer = await conn(body, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            return Outcome(f"grpc_{exc.code().name}", len(body), 0)
        return Outcome("", len(body), len(answer), answer)

    async def close(self) -> None:
        """Close the channels."""
        for channel in self._channels:
            await channel.close()


def check_samples(client: PredictClient, payloads: Payloads,
                  samples: list[tuple[int, bytes]]) -> tuple[int, int]:
    """(checked, mismatched): decode sampled answers and compare top-1 with the reference."""
    checked = bad = 0
    for index, body in samples:
        checked += 1
        try:
            outputs = client.decode_predict(body, payloads.signature)
            top1 = [p.class_ids[0] for p in predictions_from_outputs(outputs, 1, False)]
        except (ClientError, ValueError, KeyError):
            bad += 1
            continue
        if top1 != payloads.expected_top1[index % len(payloads.expected_top1)]:
            bad += 1
    return checked, bad


def generated_images(count: int, size: int = 32, seed: int = 0) -> list[ImageItem]:
    """CIFAR-like random uint8 images (used when ``--data`` is not given)."""
    rng = np.random.default_rng(seed)
    return [ImageItem(array=rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
            for _ in range(count)]
