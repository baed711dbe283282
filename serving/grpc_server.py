"""The gRPC API (``tensorflow.serving`` PredictionService + ModelService) over ``ServingCore``.

A thin translation layer: protos (``common.wire``, no TensorFlow) -> numpy via
``serving.codecs.tensor_proto``, core call, results -> protos. Status codes pass through from
``ServingError``; messages longer than 1024 characters are truncated with ``...TRUNCATED`` as
TF Serving does. Message size limits are
raised to INT32_MAX like TF Serving's server, unless ``--grpc_channel_arguments`` sets them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import grpc

from common import wire
from serving.codecs.tensor_proto import from_numpy
from serving.core import InferenceTask, ServingCore
from serving.errors import Code, InvalidArgument, ServingError, grpc_status_code
from serving.grpc_convert import (
    fill_classes,
    fill_regressions,
    model_spec,
    read_examples,
    read_inputs,
    truncate,
)
from serving.grpc_health import HealthReporter
from serving.grpc_registry import MODEL_SERVICE, PREDICTION_SERVICE, register_services
from serving.task_errors import report

__all__ = ["GrpcServer", "MAX_MESSAGE_BYTES"]

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 2**31 - 1


class _Service:
    def __init__(
        self,
        core: ServingCore,
        max_tensor_bytes: int = MAX_MESSAGE_BYTES,
        limit: asyncio.Semaphore | None = None,
    ) -> None:
        self.core = core
        self.max_tensor_bytes = max_tensor_bytes  # largest tensor a request may describe
        self.limit = limit or contextlib.nullcontext()  # --grpc_max_threads

    async def _guard(self, context, api: str, model: str, handler):
        """Run ``handler``; count the request; turn a ``ServingError`` into a gRPC status."""
        started = time.perf_counter()
        try:
            async with self.limit:
                response = await handler()
        except ServingError as err:
            # Keep only code and message: the traceback's frames hold the resolved version.
            code, message = err.code, err.message
        except Exception as exc:  # a handler bug: logged and counted, answered INTERNAL
            report("grpc-handler", exc)
            code, message = Code.INTERNAL, f"{type(exc).__name__}: {exc}"
        else:
            micros = (time.perf_counter() - started) * 1e6
            if api:
                self.core.metrics.record_request(model, api, "GRPC", "OK", micros)
            return response
        if api:
            self.core.metrics.record_request(model, api, "GRPC", code.name, 0.0)
        await context.abort(grpc_status_code(code), truncate(message))


class PredictionService(_Service):
    """Predict, Classify, Regress, MultiInference, GetModelMetadata."""

    async def Predict(self, request, context):  # noqa: N802 - gRPC method names
        """PredictRequest -> PredictResponse (typed ``*_val`` outputs)."""
        async def run():
            name, version, label, signature_name = model_spec(request)
            served = self.core.resolve(name, version, label)
            inputs = read_inputs(request.inputs, self.max_tensor_bytes)
            outputs = await self.core.predict(
                served, signature_name, inputs, list(request.output_filter)
            )
            response = wire.PredictResponse()
            response.model_spec.name = name
            response.model_spec.version.value = served.version
            response.model_spec.signature_name = signature_name or "serving_default"
            for alias, arr in outputs.items():
                from_numpy(arr, response.outputs[alias])
            return response

        return await self._guard(context, "Predict", request.model_spec.name, run)

    async def Classify(self, request, context):  # noqa: N802
        """ClassificationRequest -> ClassificationResponse."""
        async def run():
            name, version, label, signature_name = model_spec(request)
            served = self.core.resolve(name, version, label)
            examples, ctx = read_examples(request.input)
            rows = await self.core.classify(served, signature_name, examples, ctx)
            response = wire.ClassificationResponse()
            response.model_spec.name = name
            response.model_spec.version.value = served.version
            response.model_spec.signature_name = signature_name or "serving_default"
            fill_classes(response.result, rows)
            return response

        return await self._guard(context, "Classify", request.model_spec.name, run)

    async def Regress(self, request, context):  # noqa: N802
        """RegressionRequest -> RegressionResponse."""
        async def run():
            name, version, label, signature_name = model_spec(request)
            served = self.core.resolve(name, version, label)
            examples, ctx = read_examples(request.input)
            values = await self.core.regress(served, signature_name, examples, ctx)
            response = wire.RegressionResponse()
            response.model_spec.name = name
            response.model_spec.version.value = served.version
            response.model_spec.signature_name = signature_name or "serving_default"
            fill_regressions(response.result, values)
            return response

        return await self._guard(context, "Regress", request.model_spec.name, run)

    async def MultiInference(self, request, context):  # noqa: N802
        """Several classify/regress tasks of one model on the same input."""
        async def run():
            if not request.tasks:
                raise InvalidArgument("Expected at least one task")
            first = request.tasks[0]
            name, version, label, _ = model_spec(first)
            for task in request.tasks:
                if task.model_spec.name != name:
                    raise InvalidArgument(
                        "All ModelSpecs in a MultiInferenceRequest must access the same model "
                        "name"
                    )
            served = self.core.resolve(name, version, label)
            tasks = [
                InferenceTask(t.model_spec.signature_name, t.method_name) for t in request.tasks
            ]
            examples, ctx = read_examples(request.input)
            outcomes = await self.core.multi_inference(served, tasks, examples, ctx)
            response = wire.MultiInferenceResponse()
            for task, outcome in zip(tasks, outcomes, strict=True):
                result = response.results.add()
                result.model_spec.name = name
                result.model_spec.version.value = served.version
                result.model_spec.signature_name = task.signature_name or "serving_default"
                if task.method_name.endswith("classify"):
                    fill_classes(result.classification_result, outcome)
                else:
                    fill_regressions(result.regression_result, outcome)
            return response

        model = request.tasks[0].model_spec.name if request.tasks else ""
        return await self._guard(context, "MultiInference", model, run)

    async def GetModelMetadata(self, request, context):  # noqa: N802
        """The ``signature_def`` metadata of the resolved version."""
        async def run():
            name, version, label, _ = model_spec(request)
            fields = list(request.metadata_field)
            if not fields:
                raise InvalidArgument(
                    "GetModelMetadataRequest must specify at least one metadata_field"
                )
            for field in fields:
                if field not in ("signature_def", "served_file"):  # served_file: ours
                    raise InvalidArgument(f"Metadata field {field} is not supported")
            served = self.core.resolve(name, version, label)
            response = wire.GetModelMetadataResponse()
            response.model_spec.name = name
            response.model_spec.version.value = served.version
            if "signature_def" in fields:
                response.metadata["signature_def"].Pack(self.core.signature_defs(served))
            if "served_file" in fields:  # a google.protobuf.Struct {platform, file}
                from google.protobuf import struct_pb2

                info = struct_pb2.Struct()
                info.update(self.core.served_file(served))
                response.metadata["served_file"].Pack(info)
            return response

        return await self._guard(context, "", "", run)


class ModelService(_Service):
    """GetModelStatus and HandleReloadConfigRequest."""

    async def GetModelStatus(self, request, context):  # noqa: N802
        """Every version's state, newest first (labels ignored)."""
        async def run():
            name, version, _, _ = model_spec(request)
            response = wire.GetModelStatusResponse()
            for status in self.core.status(name, version):
                entry = response.model_version_status.add()
                entry.version = status.version
                entry.state = int(status.state)
                entry.status.error_code = int(status.error_code)
                entry.status.error_message = status.error_message
            return response

        return await self._guard(context, "", "", run)

    async def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        """Replace the served model list with the request's ``model_config_list``."""
        async def run():
            from serving.model_config import model_configs_from_proto

            if request.config.WhichOneof("config") != "model_config_list":
                raise InvalidArgument(
                    "ServerModelConfig type not supported by HandleReloadConfigRequest. Only "
                    "ModelConfigList is currently supported"
                )
            configs = model_configs_from_proto(request.config.model_config_list)
            names = list(request.metric_names)
            before = self.core.metrics.registry.counter_totals(names)
            await self.core.reload(configs)
            after = self.core.metrics.registry.counter_totals(names)
            response = wire.ReloadConfigResponse()
            for name, value in after.items():
                response.metric.add(name=name, int64_value_increase=value - before[name])
            return response

        return await self._guard(context, "", "", run)


class GrpcServer:
    """A ``grpc.aio`` server exposing both services."""

    def __init__(
        self,
        core: ServingCore,
        channel_args: list[tuple[str, object]] = (),
        *,
        max_concurrent_calls: int = 0,
        health: bool = False,
    ) -> None:
        """``max_concurrent_calls`` > 0 (``--grpc_max_threads``): calls beyond it wait for a
        running one to finish. ``health``: also serve ``grpc.health.v1.Health``."""
        # --grpc_channel_arguments override the defaults (with a key given twice, gRPC
        # keeps the first value, so a configured message size limit was silently ignored).
        options = {"grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
                   "grpc.max_send_message_length": MAX_MESSAGE_BYTES} | dict(channel_args)
        self.server = grpc.aio.server(options=list(options.items()))
        max_tensor_bytes = int(options["grpc.max_receive_message_length"])
        limit = asyncio.Semaphore(max_concurrent_calls) if max_concurrent_calls > 0 else None
        prediction = PredictionService(core, max_tensor_bytes, limit)
        register_services(
            self.server,
            {PREDICTION_SERVICE: prediction, MODEL_SERVICE: ModelService(core, limit=limit)},
        )
        self.health = HealthReporter(core, self.server) if health else None

    async def start(self, host: str, port: int, socket_path: str = "",
                    credentials: grpc.ServerCredentials | None = None) -> int:
        """Bind ``host:port`` (0 picks a free port) and optionally a UNIX socket, start
        serving; returns the bound TCP port. ``credentials`` (``serving.tls``) secure both,
        as TF Serving's ``--ssl_config_file`` does."""
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

        def bind(where: str) -> int:
            if credentials is None:
                return self.server.add_insecure_port(where)
            return self.server.add_secure_port(where, credentials)

        bound = bind(address)
        if bound == 0:
            raise OSError(f"could not bind gRPC port {address}")
        if socket_path and not bind(f"unix:{socket_path}"):
            raise OSError(f"could not bind gRPC socket {socket_path}")
        await self.server.start()
        if self.health is not None:
            await self.health.start()
        return bound

    async def stop(self, grace: float) -> None:
        """Stop accepting calls (health: NOT_SERVING); in-flight calls get ``grace`` seconds."""
        if self.health is not None:
            await self.health.stop()
        await self.server.stop(grace)
