"""``--enable_grpc_healthcheck_service``: the standard ``grpc.health.v1.Health`` service.

The servicer is the maintained one from ``grpcio-health-checking``. It answers for the whole
server (service ``""``) and for ``tensorflow.serving.PredictionService`` /
``tensorflow.serving.ModelService``: SERVING while at least one configured model has an
AVAILABLE version, NOT_SERVING otherwise (re-checked every ``REFRESH_SECONDS``), and
NOT_SERVING for good once the server starts draining (``stop``), so ``Watch`` streams see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from serving.errors import ServingError
from serving.grpc_registry import MODEL_SERVICE, PREDICTION_SERVICE
from serving.task_errors import spawn

__all__ = ["HealthReporter", "REFRESH_SECONDS", "any_model_available"]

log = logging.getLogger(__name__)
REFRESH_SECONDS = 1.0
_SERVICES = ("", PREDICTION_SERVICE, MODEL_SERVICE)


def any_model_available(manager) -> bool:
    """Whether some configured model resolves to an AVAILABLE version."""
    for name in manager.model_names():
        try:
            manager.resolve(name)
        except ServingError:
            continue
        return True
    return False


class HealthReporter:
    """Registers the health servicer on ``server`` and keeps its status current."""

    def __init__(self, core, server) -> None:
        self.core = core
        self.servicer = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)
        self._task: asyncio.Task | None = None
        self.errors = 0  # refresh failures (each is logged)

    async def refresh(self) -> None:
        """Set every service's status from the models' availability now."""
        serving = any_model_available(self.core.manager)
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for service in _SERVICES:
            await self.servicer.set(service, status)

    async def start(self) -> None:
        """Publish the current status, then re-check it periodically."""
        await self.refresh()
        self._task = spawn(self._loop(), "grpc-health")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
            except Exception:  # keep reporting; the last status stays
                self.errors += 1
                log.exception("health status refresh failed")

    async def stop(self) -> None:
        """Draining: NOT_SERVING for every service from now on; stop refreshing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.servicer.enter_graceful_shutdown()
