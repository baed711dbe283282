"""Fixtures: fake TF Serving servers (REST per test, gRPC per session: it imports TF)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest

from tests.clients.fake_rest import FakeRestServer

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def rest_server() -> Iterator[FakeRestServer]:
    """A fresh REST stub (tests may inject failures)."""
    with FakeRestServer() as server:
        yield server


@pytest.fixture(scope="session")
def grpc_server_session():
    """One gRPC stub for the session (building it imports TensorFlow once)."""
    from tests.clients.fake_grpc import FakeGrpcServer

    with FakeGrpcServer() as server:
        yield server


@pytest.fixture
def grpc_server(grpc_server_session):
    """The session gRPC stub with failure injection reset."""
    grpc_server_session.fail_next.clear()
    grpc_server_session.calls.clear()
    yield grpc_server_session
    grpc_server_session.fail_next.clear()


@pytest.fixture
def images() -> list[np.ndarray]:
    """Mixed images: CIFAR-size RGB, a bigger one, grey, RGBA, float."""
    rng = np.random.default_rng(7)
    out = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(4)]
    out.append(rng.integers(0, 256, (40, 24, 3), dtype=np.uint8))
    out.append(rng.integers(0, 256, (32, 32), dtype=np.uint8))
    out.append(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8))
    out.append(rng.integers(0, 256, (32, 32, 3)).astype(np.float32))
    return out
