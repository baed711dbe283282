"""SavedModel backend (``model_platform: "tensorflow"``).

Metadata is the MetaGraphDef's ``signature_def`` map read straight from ``saved_model.pb``
(``__saved_model_init_op`` included), so it is byte-for-byte what TF Serving reports.
Predict calls each signature's concrete function through its flat (already traced) graph
function: no retracing, no per-call structured-argument matching. Because that path skips
TensorFlow's static shape check, shapes are validated here against the signature first
(TF Serving does not check shapes; a mismatch is an ``InvalidArgument`` with a clear message).
TensorFlow's thread pools are process-wide: ``configure_tensorflow_threads`` sizes them at the
first load (``--tensorflow_intra_op_parallelism`` / ``--tensorflow_inter_op_parallelism``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serving.backends.base import Backend
from serving.backends.signature_io import (
    SignatureSpec,
    check_request,
    select_outputs,
    spec_from_signature_def,
)
from serving.cpu_threads import RuntimeThreads, available_cpus
from serving.errors import Code, FailedPrecondition, InvalidArgument, NotFound, ServingError

__all__ = [
    "SavedModelBackend",
    "configure_tensorflow_threads",
    "op_message",
    "read_signature_defs",
]

log = logging.getLogger(__name__)
INIT_OP_SIGNATURE = "__saved_model_init_op"


def read_signature_defs(version_dir: Path, tags: Sequence[str] = ("serve",)) -> Any:
    """The ``SignatureDefMap`` of the MetaGraphDef tagged ``tags`` in a SavedModel dir."""
    from google.protobuf import text_format
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    from common import wire

    saved_model = saved_model_pb2.SavedModel()
    pb, pbtxt = version_dir / "saved_model.pb", version_dir / "saved_model.pbtxt"
    try:
        if pb.is_file():
            saved_model.ParseFromString(pb.read_bytes())
        elif pbtxt.is_file():
            text_format.Parse(pbtxt.read_text(encoding="utf-8"), saved_model)
        else:
            raise NotFound(
                "Could not find SavedModel .pb or .pbtxt at supplied export directory path: "
                f"{version_dir}"
            )
    except (OSError, UnicodeDecodeError, DecodeError, text_format.ParseError) as exc:
        raise ServingError(f"Can't parse saved_model.pb as proto: {exc}", Code.DATA_LOSS) from None
    for meta_graph in saved_model.meta_graphs:
        if set(tags) <= set(meta_graph.meta_info_def.tags):
            result = wire.SignatureDefMap()  # TensorFlow's SignatureDef, re-read in our schema
            for key, value in meta_graph.signature_def.items():
                result.signature_def[key].ParseFromString(value.SerializeToString())
            return result
    raise FailedPrecondition(
        f"Could not find meta graph def matching supplied tags: {{ {' '.join(tags)} }}"
    )


INTRA_OP_AUTO = 1  # intra-op threads per call when --tensorflow_intra_op_parallelism is 0


def configure_tensorflow_threads(threads: RuntimeThreads) -> tuple[int, int]:
    """Size TensorFlow's intra-op and inter-op pools; returns what TensorFlow now reports.

    0 (auto) means one intra-op thread per call (``INTRA_OP_AUTO``): the server runs calls
    side by side (batch threads, inference pool), and for the small models this serves a
    second intra-op thread per call cost more than it gave (BENCHMARKS.md section 6d: bare
    batch-1 p50 3.05 -> 1.32 ms, two calling threads at batch 16 2,020 -> 2,720 images/s);
    inter-op 0 means ``available_cpus()`` when a CPU quota or affinity leaves fewer cores than
    the machine has (TensorFlow would size by the machine), else TensorFlow's own default.
    The pools can only be sized before TensorFlow's first op; later a different request is
    logged and keeps the running sizes (a server process configures them once, at its first
    SavedModel load).
    """
    import tensorflow as tf

    cpus = available_cpus()
    auto = cpus if cpus < (os.cpu_count() or cpus) else 0
    setters = (
        ("intra", threads.intra_op or INTRA_OP_AUTO, bool(threads.intra_op),
         tf.config.threading.get_intra_op_parallelism_threads,
         tf.config.threading.set_intra_op_parallelism_threads),
        ("inter", threads.inter_op or auto, bool(threads.inter_op),
         tf.config.threading.get_inter_op_parallelism_threads,
         tf.config.threading.set_inter_op_parallelism_threads),
    )
    for kind, wanted, asked, get, set_ in setters:
        if wanted and get() != wanted:
            try:
                set_(wanted)
            except RuntimeError:
                (log.warning if asked else log.debug)(
                    "TensorFlow is already running: --tensorflow_%s_op_parallelism=%d applies "
                    "from the next start", kind, wanted
                )
    return (
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )


class _Signature:
    """One callable signature: flat input/output alias order and the graph function."""

    def __init__(self, concrete: Any) -> None:
        import tensorflow as tf

        _, kwargs = concrete.structured_input_signature
        self.input_aliases = list(tf.nest.flatten({k: k for k in kwargs}))
        self.output_aliases = list(tf.nest.flatten({k: k for k in concrete.structured_outputs}))
        self.concrete = concrete
        self.captures = list(concrete.captured_inputs)
        self.flat = getattr(concrete, "inference_fn", None)

    def __call__(self, tensors: list[Any]) -> list[Any]:
        if self.flat is not None:
            return list(self.flat.call_flat(*tensors, *self.captures))
        outputs = self.concrete(**dict(zip(self.input_aliases, tensors, strict=True)))
        return [outputs[alias] for alias in self.output_aliases]


class SavedModelBackend(Backend):
    """A TF SavedModel version, served through ``tf.saved_model.load``."""

    platform = "tensorflow"

    def __init__(self, tags: Sequence[str] = ("serve",)) -> None:
        self._tags = tuple(tags)
        self._signature_defs: Any = None
        self._specs: dict[str, SignatureSpec] = {}
        self._signatures: dict[str, _Signature] = {}
        self._loaded: Any = None

    def load(self, version_dir: Path) -> None:
        """Read the signature map, load the SavedModel and bind every signature function."""
        import tensorflow as tf

        version_dir = Path(version_dir)
        configure_tensorflow_threads(self.threads)
        self._signature_defs = read_signature_defs(version_dir, self._tags)
        try:
            loaded = tf.saved_model.load(str(version_dir), tags=list(self._tags))
        except Exception as exc:  # TF raises many types for corrupt/partial models
            raise FailedPrecondition(
                f"Failed to load SavedModel from {version_dir.name}: {_first_line(exc)}"
            ) from exc
        for name, concrete in loaded.signatures.items():
            if name in self._signature_defs.signature_def:
                self._specs[name] = spec_from_signature_def(
                    self._signature_defs.signature_def[name]
                )
                self._signatures[name] = _Signature(concrete)
        self._loaded = loaded

    def signature_defs(self) -> Any:
        """The MetaGraphDef's signature map, unchanged."""
        return self._signature_defs

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """Run one signature; errors carry TF Serving's codes and messages."""
        import tensorflow as tf

        signatures = self._signatures
        if self._loaded is None:
            raise FailedPrecondition("model version is unloaded")
        spec = check_request(self._specs, signature_name, inputs)
        wanted = select_outputs(spec, output_filter)
        signature = signatures[signature_name or "serving_default"]
        try:
            tensors = [tf.constant(inputs[alias]) for alias in signature.input_aliases]
            outputs = signature(tensors)
        except tf.errors.OpError as exc:
            raise ServingError(op_message(exc), Code(exc.error_code)) from None
        except (ValueError, TypeError) as exc:
            raise InvalidArgument(_first_line(exc)) from None
        by_alias = dict(zip(signature.output_aliases, outputs, strict=True))
        return {alias: by_alias[alias].numpy() for alias in wanted}

    def unload(self) -> None:
        """Drop the loaded model (memory is freed once in-flight calls release it)."""
        self._signatures = {}
        self._loaded = None


def _first_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return message.strip().splitlines()[0]


_OP_SUFFIX = re.compile(r"\s*\[Op:[^\]]*\](?: name:.*)?\s*$")
_NODE_ANNOTATION = re.compile(r"^\s*\[\[\{\{.*\}\}\]\]")


def op_message(exc: BaseException) -> str:
    """The op's own message of a TensorFlow error, as TF Serving returns it.

    TF 2.x wraps a function's op error as ``Graph execution error:`` + ``Detected at node
    ...`` + a stack trace (or ``<stack traces unavailable>``) + the op message + node
    annotations (``[[{{node ...}}]]``) + ``[Op:__inference_...]``; only the op message is
    kept. Messages without that wrapping lose only the ``[Op:...]`` suffix.
    """
    text = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).strip()
    lines = text.splitlines()
    detected = [i for i, line in enumerate(lines) if line.startswith("Detected at node")]
    if detected:
        rest = lines[detected[-1] + 1 :]
        while rest and (
            not rest[0].strip()
            or rest[0][:1].isspace()
            or rest[0].startswith(("<stack traces unavailable>", "Node: "))
        ):
            rest = rest[1:]
        lines = rest
    elif lines and lines[0].strip() == "Graph execution error:":
        lines = [line for line in lines[1:] if line.strip()]
    kept = []
    for line in lines:
        if _NODE_ANNOTATION.match(line):
            break
        kept.append(_OP_SUFFIX.sub("", line))
    message = "\n".join(kept).strip()
    return message or _first_line(exc)
