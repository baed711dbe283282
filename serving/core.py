"""The data plane: every request type in numpy and plain Python, shared by REST and gRPC.

The wire layers translate bytes to calls on ``ServingCore`` and results back; they hold no
serving logic. Inference runs off the event loop in a bounded thread pool sized to the cores,
optionally through the dynamic batcher. Protocol-specific rules live in one place each: the
REST-only signature check is ``rest_input_dtypes``; the predict checks shared by both
protocols are the backends' (``serving.backends.signature_io``).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from serving import core_examples as ex
from serving.backends.signature_io import empty_batch_outputs, spec_from_signature_def
from serving.batching import Batcher, BatchingOptions
from serving.cpu_threads import available_cpus
from serving.errors import InvalidArgument, Unimplemented
from serving.metrics import ServingMetrics
from serving.platforms import PLATFORMS
from serving.servables import ModelManagerAPI, ServedVersion, VersionStatus

__all__ = ["ServingCore", "InferenceTask"]

CLASSIFY, REGRESS = "tensorflow/serving/classify", "tensorflow/serving/regress"


@dataclass(frozen=True)
class InferenceTask:
    """One MultiInference task: a signature and its method (classify or regress)."""

    signature_name: str
    method_name: str


class ServingCore:
    """Resolves model specs through the manager and runs requests on backends."""

    def __init__(
        self,
        manager: ModelManagerAPI,
        *,
        batching: BatchingOptions | None = None,
        metrics: ServingMetrics | None = None,
        workers: int | None = None,
    ) -> None:
        self.manager = manager
        self.metrics = metrics or ServingMetrics()
        pool_size = workers or available_cpus()
        self.executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="inference")
        self.batcher = Batcher(batching, self._on_batch, pool_size) if batching else None
        self._signature_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._spec_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def close_batching(self) -> None:
        """On the event loop, before ``close``: requests still waiting for a batch get
        UNAVAILABLE, new ones too; batches already running finish."""
        if self.batcher is not None:
            self.batcher.close()

    def close(self) -> None:
        """Stop the inference pool after the running calls finish."""
        self.executor.shutdown(wait=True)

    # -- lookups ---------------------------------------------------------------------------

    def resolve(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> ServedVersion:
        """The loaded version a request targets (TF Serving's NotFound/InvalidArgument)."""
        return self.manager.resolve(name, version, label)

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """GetModelStatus: every version seen, newest first (labels are ignored)."""
        return self.manager.status(name, version)

    def signature_defs(self, served: ServedVersion):
        """The version's ``SignatureDefMap`` proto (GetModelMetadata's ``signature_def``)."""
        backend = served.backend
        defs = self._signature_cache.get(backend)
        if defs is None:
            defs = self._signature_cache[backend] = backend.signature_defs()
        return defs

    @staticmethod
    def served_file(served: ServedVersion) -> dict[str, str]:
        """Which file serves the version (ours, GetModelMetadata's ``served_file``):
        ``{"platform": "tflite:int8", "file": "model_int8.tflite"}``; a SavedModel is
        ``saved_model.pb``."""
        file = getattr(served.backend, "served_file", None) or "saved_model.pb"
        return {"platform": served.platform, "file": file}

    def signature_specs(self, served: ServedVersion) -> dict:
        """The version's signatures as ``SignatureSpec`` (cached like ``signature_defs``)."""
        backend = served.backend
        specs = self._spec_cache.get(backend)
        if specs is None:
            defs = self.signature_defs(served).signature_def
            specs = {name: spec_from_signature_def(d) for name, d in defs.items()}
            self._spec_cache[backend] = specs
        return specs

    def rest_input_dtypes(self, served: ServedVersion, signature_name: str) -> dict[str, int]:
        """REST predict: the signature's ``{alias: dtype}``, or REST's 400 for an unknown one."""
        name = signature_name or "serving_default"
        defs = self.signature_defs(served).signature_def
        if name not in defs:
            raise InvalidArgument(f'Serving signature name: "{name}" not found in signature def')
        return {alias: int(info.dtype) for alias, info in defs[name].inputs.items()}

    # -- inference -------------------------------------------------------------------------

    async def predict(
        self,
        served: ServedVersion,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """Run a signature; the backend validates inputs and the output filter."""
        filters = tuple(output_filter)
        return await self._run(served, signature_name, dict(inputs), filters, "Predict")

    async def classify(
        self,
        served: ServedVersion,
        signature_name: str,
        examples: Sequence[bytes],
        context: bytes | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Classify serialised Examples: per example, (label, score) pairs."""
        name, signature = ex.find_signature(self.signature_defs(served), signature_name)
        ex.check_classify_signature(signature)
        outputs = await self._examples_run(served, name, examples, context, "Classify")
        return ex.classification_results(outputs, len(examples))

    async def regress(
        self,
        served: ServedVersion,
        signature_name: str,
        examples: Sequence[bytes],
        context: bytes | None = None,
    ) -> list[float]:
        """Regress serialised Examples: one float per example."""
        name, signature = ex.find_signature(self.signature_defs(served), signature_name)
        ex.check_regress_signature(signature)
        outputs = await self._examples_run(served, name, examples, context, "Regress")
        return ex.regression_results(outputs, len(examples))

    async def multi_inference(
        self,
        served: ServedVersion,
        tasks: Sequence[InferenceTask],
        examples: Sequence[bytes],
        context: bytes | None = None,
    ) -> list[list[list[tuple[str, float]]] | list[float]]:
        """Several classify/regress signatures of one model on the same Examples."""
        if not tasks:
            raise InvalidArgument("Empty tasks in MultiInferenceRequest")
        seen: set[str] = set()
        for task in tasks:
            name = task.signature_name or "serving_default"
            if name in seen:
                raise InvalidArgument(f"Duplicate evaluation of signature: {name}")
            seen.add(name)
            if task.method_name not in (CLASSIFY, REGRESS):
                raise Unimplemented(f"Unsupported signature method_name: {task.method_name}")
        results = []
        for task in tasks:
            if task.method_name == CLASSIFY:
                results.append(await self.classify(served, task.signature_name, examples, context))
            else:
                results.append(await self.regress(served, task.signature_name, examples, context))
        return results

    async def _examples_run(self, served, name, examples, context, api) -> dict:
        tensor = ex.serialized_examples(examples, context)
        self.metrics.example_counts.observe(len(examples), served.name)
        self.metrics.example_count_total.inc(served.name, by=len(examples))
        return await self._run(served, name, {"inputs": tensor}, (), api)

    async def _run(self, served, signature_name, inputs, output_filter, api) -> dict:
        async def call(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return await self._call(served, signature_name, batch, output_filter, api)

        if inputs and all(a.ndim and a.shape[0] == 0 for a in inputs.values()):
            # An empty batch is answered here, the same for every backend and CPU.
            specs = self.signature_specs(served)
            empty = empty_batch_outputs(specs, signature_name, inputs, output_filter)
            if empty is not None:
                return empty
        if self.batcher is None:
            return await call(inputs)
        self.metrics.wrapped_run_count.inc()
        name = signature_name or "serving_default"
        key = (id(served.backend), served.name, name, output_filter)
        variable = None
        if self.batcher.options.pad_variable_length_inputs:
            spec = self.signature_specs(served).get(name)
            if spec is not None:
                variable = {
                    alias: None if t.shape is None else tuple(d < 0 for d in t.shape[1:])
                    for alias, t in spec.inputs.items()
                }
        return await self.batcher.submit(key, inputs, call, variable)

    async def _call(self, served, signature_name, inputs, output_filter, api) -> dict:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        outputs = await loop.run_in_executor(
            self.executor, served.backend.predict, signature_name, inputs, output_filter
        )
        micros = (time.perf_counter() - started) * 1e6
        runtime = PLATFORMS[served.platform.partition(":")[0]].runtime
        self.metrics.runtime_latency.observe(micros, served.name, api, runtime)
        return outputs

    def _on_batch(self, key: tuple, size: int, padded: int, enqueued, started: float) -> None:
        model, signature = key[1], key[2]
        self.metrics.batch_size.observe(padded, model, signature)
        self.metrics.padding_size.observe(padded - size, model, signature)
        pool = self.batcher.options.thread_pool_name
        for at in enqueued:
            self.metrics.queuing_latency.observe((started - at) * 1e6, pool)

    # -- control plane ---------------------------------------------------------------------

    async def reload(self, configs: list) -> None:
        """HandleReloadConfigRequest: replace the model list (blocking work off the loop)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.manager.reload_config, configs)

