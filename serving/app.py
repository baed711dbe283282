"""Wire the server together: manager, core, REST and gRPC; run until SIGTERM/SIGINT, then drain.

``ServingApp`` is the in-process API (``start`` returns the bound ports, ``stop`` drains);
``run`` is what ``serving serve`` calls; ``BackgroundServer`` runs an app on its own thread
and event loop (tests, benchmarks, notebooks).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
from pathlib import Path

from common.atomic import write_text
from serving.backends import BackendOptions
from serving.batching import BatchingOptions
from serving.core import ServingCore
from serving.cpu_threads import RuntimeThreads
from serving.grpc_server import GrpcServer
from serving.http_server import HttpServer
from serving.rest import RestApi, RestOptions
from serving.server_options import ServerOptions, saved_model_tags
from serving.server_setup import (
    ConfigFileWatcher,
    channel_arguments,
    load_batching_options,
    load_model_configs,
    load_prometheus_path,
)
from serving.task_errors import install_loop_handler
from serving.tls import load_ssl_config, server_credentials
from serving.webui import WebUi

__all__ = ["ServingApp", "BackgroundServer", "run"]

log = logging.getLogger(__name__)


class ServingApp:
    """One server instance: ``await start()`` -> ports, ``await stop()`` drains and exits."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.ports: dict[str, int] = {}
        self.core: ServingCore | None = None
        self._manager = None
        self._grpc: GrpcServer | None = None
        self._http: HttpServer | None = None
        self._watcher: ConfigFileWatcher | None = None

    async def start(self) -> dict[str, int]:
        """Load the models (blocking until first loads finish), then open both ports."""
        from serving.manager import ModelManager

        opts = self.options
        install_loop_handler(asyncio.get_running_loop())  # no task exception goes unseen
        if opts.warning():
            log.warning(opts.warning())
        tls = load_ssl_config(opts.ssl_config_file) if opts.ssl_config_file else None
        configs = load_model_configs(opts)
        batching: BatchingOptions | None = None
        if opts.enable_batching:
            batching = load_batching_options(opts.batching_parameters_file)
        prometheus = load_prometheus_path(opts.monitoring_config_file)
        self._manager = ModelManager(
            configs,
            file_system_poll_wait_seconds=float(opts.file_system_poll_wait_seconds),
            allow_version_labels_for_unavailable_models=(
                opts.allow_version_labels_for_unavailable_models
            ),
            enable_warmup=opts.enable_model_warmup,
            warmup_iterations=opts.num_request_iterations_for_warmup,
            backend_options=BackendOptions(
                threads=RuntimeThreads(
                    opts.tensorflow_intra_op_parallelism, opts.tensorflow_inter_op_parallelism
                ),
                saved_model_tags=saved_model_tags(opts),
                prefer_tflite=opts.prefer_tflite_model,
                use_tflite=opts.use_tflite_model,
            ),
            max_load_retries=opts.max_num_load_retries,
            load_retry_interval_seconds=opts.load_retry_interval_micros / 1e6,
        )
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._manager.start)
        self.core = ServingCore(self._manager, batching=batching)
        self._grpc = GrpcServer(
            self.core,
            channel_arguments(opts.grpc_channel_arguments),
            max_concurrent_calls=opts.grpc_max_threads,
            health=opts.enable_grpc_healthcheck_service,
        )
        self.ports["grpc"] = await self._grpc.start(
            opts.host, opts.port, opts.grpc_socket_path,
            server_credentials(tls) if tls is not None else None,
        )
        log.info("Running gRPC ModelServer at %s:%d%s ...", opts.host, self.ports["grpc"],
                 f" ({tls.describe()})" if tls is not None else "")
        if opts.rest_api_port != 0:
            rest = RestApi(
                self.core,
                RestOptions(
                    enable_cors=opts.rest_api_enable_cors_support,
                    timeout_ms=opts.rest_api_timeout_in_ms,
                    prometheus_path=prometheus,
                ),
                ui=WebUi(self._manager, prometheus) if opts.rest_api_ui else None,
            )
            self._http = HttpServer(
                rest,
                opts.max_request_bytes,
                header_timeout=opts.http_header_timeout_seconds,
                max_concurrent=opts.rest_api_num_threads,
            )
            port = max(opts.rest_api_port, 0)
            self.ports["rest"] = await self._http.start(opts.host, port)
            log.info("Exporting HTTP/REST API at:%s:%d ...", opts.host, self.ports["rest"])
            if opts.rest_api_ui:
                log.info("Web page at http://%s:%d/ui/", opts.host, self.ports["rest"])
        if opts.model_config_file and opts.model_config_file_poll_wait_seconds > 0:
            self._watcher = ConfigFileWatcher(
                opts.model_config_file, opts.model_config_file_poll_wait_seconds, self.core
            )
            self._watcher.start()
        if opts.port_file:
            write_text(Path(opts.port_file), json.dumps(self.ports))
        return dict(self.ports)

    async def stop(self) -> None:
        """Stop accepting, finish in-flight requests (up to the drain timeout), unload."""
        grace = self.options.drain_timeout_seconds
        if self._watcher is not None:
            self._watcher.stop()
        if self._http is not None:
            self._http.stop_accepting()
        waits = []
        if self._grpc is not None:
            waits.append(self._grpc.stop(grace))
        if self._http is not None:
            waits.append(self._http.drain(grace))
        await asyncio.gather(*waits)
        loop = asyncio.get_running_loop()
        if self.core is not None:
            self.core.close_batching()
            await loop.run_in_executor(None, self.core.close)
        if self._manager is not None:
            await loop.run_in_executor(None, self._manager.stop)
        log.info("Server stopped")


async def _serve(options: ServerOptions) -> None:
    app = ServingApp(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()
        await stop.wait()
        log.info("Signal received: draining in-flight requests")
    finally:
        await app.stop()


def run(options: ServerOptions) -> None:
    """Serve until SIGTERM/SIGINT, then drain and return (the CLI exits 0)."""
    try:
        import uvloop

        uvloop.run(_serve(options))
    except ImportError:
        asyncio.run(_serve(options))


class BackgroundServer:
    """A ``ServingApp`` on a daemon thread with its own event loop."""

    def __init__(self, options: ServerOptions) -> None:
        self.app = ServingApp(options)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.ports: dict[str, int] = {}

    def start(self, timeout: float = 300.0) -> dict[str, int]:
        """Start the app; returns ``{"grpc": port, "rest": port}`` once both listen."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self.app.start(), self.loop)
        self.ports = future.result(timeout)
        return self.ports

    def stop(self, timeout: float = 60.0) -> None:
        """Drain and stop the app, then the loop and its thread."""
        future = asyncio.run_coroutine_threadsafe(self.app.stop(), self.loop)
        try:
            future.result(timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
