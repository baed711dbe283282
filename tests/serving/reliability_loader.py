"""A background load generator and a timeline of which versions may answer.

``Loader`` runs one thread per stream (REST or gRPC, each on its own keep-alive connection)
that predicts x = 2 until stopped, recording for every request its start and end time and
either the version that answered (read from the value: version v answers 1 + v; gRPC also
cross-checks ``model_spec.version``) or the error. ``Timeline`` records, per stream, which
versions are allowed from a given instant on; a reply is correct if its version was allowed
at some instant while the request was in flight.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass, field

from tests.serving.conftest import RestClient
from tests.serving.reliability_server import X, answer_version, grpc_stubs, predict_request


@dataclass
class Sample:
    """One request: which stream, when, and what came back."""

    stream: str
    started: float
    ended: float
    version: int | None
    error: str = ""


@dataclass
class Stream:
    """One loader thread's target: ``protocol`` "rest" or "grpc", an optional label."""

    name: str
    protocol: str
    model: str = "hp"
    label: str = ""


class Loader:
    """Threads that keep predicting on their streams until ``stop``."""

    def __init__(self, ports: dict[str, int], streams: list[Stream], pause: float = 0.002):
        self.ports, self.streams, self.pause = ports, streams, pause
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(s,)) for s in streams]

    def start(self) -> Loader:
        """Start every stream's thread."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop and join every thread."""
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _run(self, stream: Stream) -> None:
        call = self._rest_caller(stream) if stream.protocol == "rest" else self._grpc_caller(stream)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                version, error = call()
            except Exception as exc:  # every failure is recorded; the test asserts none
                version, error = None, f"{type(exc).__name__}: {exc}"
            self.samples.append(Sample(stream.name, started, time.monotonic(), version, error))
            time.sleep(self.pause)

    def _rest_caller(self, stream: Stream):
        client = RestClient(self.ports["rest"])
        path = f"/v1/models/{stream.model}"
        path += f"/labels/{stream.label}:predict" if stream.label else ":predict"
        body = f'{{"instances": [{X}]}}'

        def call() -> tuple[int | None, str]:
            reply = client.post(path, body)
            if reply.status != 200:
                return None, f"HTTP {reply.status}: {reply.body[:200]!r}"
            return answer_version(reply.json()["predictions"][0]), ""

        return call

    def _grpc_caller(self, stream: Stream):
        import grpc

        from serving.codecs.tensor_proto import to_numpy

        _, predict, _ = grpc_stubs(self.ports["grpc"])
        request = predict_request(stream.model, label=stream.label)

        def call() -> tuple[int | None, str]:
            try:
                response = predict.Predict(request, timeout=30)
            except grpc.RpcError as err:
                return None, f"gRPC {err.code().name}: {err.details()}"
            version = answer_version(float(to_numpy(response.outputs["y"])[0]))
            if version != response.model_spec.version.value:
                return None, f"value of v{version}, model_spec v{response.model_spec.version.value}"
            return version, ""

        return call


@dataclass
class Timeline:
    """Per stream: from which instant on which versions may answer."""

    initial: dict[str, set[int]]
    times: list[float] = field(default_factory=list)
    allowed: list[dict[str, set[int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.times.append(float("-inf"))
        self.allowed.append({k: set(v) for k, v in self.initial.items()})

    def current(self) -> dict[str, set[int]]:
        """The sets allowed right now."""
        return self.allowed[-1]

    def mark(self, sets: dict[str, set[int]]) -> None:
        """From now on, ``sets`` (streams not named keep their current set)."""
        self.times.append(time.monotonic())
        self.allowed.append({**self.current(), **{k: set(v) for k, v in sets.items()}})

    def allowed_during(self, stream: str, started: float, ended: float) -> set[int]:
        """Union of the versions allowed at any instant of ``[started, ended]``."""
        first = bisect.bisect_right(self.times, started) - 1
        last = bisect.bisect_right(self.times, ended) - 1
        out: set[int] = set()
        for phase in self.allowed[first : last + 1]:
            out |= phase.get(stream, set())
        return out

    def violations(self, samples: list[Sample]) -> list[str]:
        """Replies from a version not allowed while the request was in flight."""
        bad = []
        for s in samples:
            if s.version is None:
                continue
            allowed = self.allowed_during(s.stream, s.started, s.ended)
            if s.version not in allowed:
                bad.append(f"{s.stream} answered by v{s.version}, allowed {sorted(allowed)}")
        return bad
