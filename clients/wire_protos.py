"""TF Serving's gRPC messages without importing TensorFlow.

The ``tensorflow-serving-api`` modules import ``tensorflow`` (5-6 s cold on this machine) only
because their generated ``*_pb2.py`` files import TensorFlow's framework protos through the
``tensorflow`` package. The protos themselves are plain protobuf: every generated file embeds
its serialized ``FileDescriptorProto`` (the ``AddSerializedFile(b'...')`` literal). This module
reads those literals from the installed files *as text* (no import), adds them, dependencies
first, to a private ``DescriptorPool`` and builds the message classes from it. The
descriptors are the installed ones byte for byte, so the wire format is exactly TF
Serving's, and a later ``import tensorflow`` in the same process does not clash (different
pool). If the files are missing or laid out differently, ``load_messages`` raises
``ProtoLoadError`` and the gRPC client falls back to the official modules.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

__all__ = ["ProtoLoadError", "load_messages", "MESSAGES"]

_ROOT_MODULES = ("tensorflow_serving.apis.predict_pb2",
                 "tensorflow_serving.apis.get_model_metadata_pb2",
                 "tensorflow_serving.apis.get_model_status_pb2")
MESSAGES = {
    "PredictRequest": "tensorflow.serving.PredictRequest",
    "PredictResponse": "tensorflow.serving.PredictResponse",
    "GetModelMetadataRequest": "tensorflow.serving.GetModelMetadataRequest",
    "GetModelMetadataResponse": "tensorflow.serving.GetModelMetadataResponse",
    "SignatureDefMap": "tensorflow.serving.SignatureDefMap",
    "GetModelStatusRequest": "tensorflow.serving.GetModelStatusRequest",
    "GetModelStatusResponse": "tensorflow.serving.GetModelStatusResponse",
}


class ProtoLoadError(RuntimeError):
    """The installed generated files could not be read as expected."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # finds the package without executing it
    if spec is None or not spec.submodule_search_locations:
        raise ProtoLoadError(f"package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _read_generated(module: str) -> tuple[bytes, list[str]]:
    """The ``FileDescriptorProto`` bytes embedded in generated ``module`` and the modules it
    imports (found by reading the file, never by importing it)."""
    top, _, rest = module.partition(".")
    path = _package_dir(top) / (rest.replace(".", "/") + ".py")
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError) as exc:
        raise ProtoLoadError(f"cannot read {path}: {exc}") from exc
    data, imports = None, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imports += [f"{node.module}.{a.name}" for a in node.names if a.name.endswith("_pb2")]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "AddSerializedFile" and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, bytes)):
            data = node.args[0].value
    if data is None:
        raise ProtoLoadError(f"{path} has no AddSerializedFile(b'...') literal")
    return data, imports


def _module_for(dependency: str, imports: list[str]) -> str:
    """The imported module generated from proto file ``dependency``
    (``xla/tsl/protobuf/x.proto`` may live at ``tensorflow.compiler.xla.tsl.protobuf.x_pb2``)."""
    tail = dependency.removesuffix(".proto").replace("/", ".") + "_pb2"
    for module in imports:
        if module == tail or module.endswith("." + tail):
            return module
    raise ProtoLoadError(f"no generated module for {dependency} among {imports}")


@lru_cache(maxsize=1)
def load_messages() -> SimpleNamespace:
    """Message classes by short name (``PredictRequest``...), from a private pool."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(module: str) -> None:
        if module in added:
            return
        if module.startswith("google.protobuf."):
            data, imports = importlib.import_module(module).DESCRIPTOR.serialized_pb, []
        else:
            data, imports = _read_generated(module)
        proto = descriptor_pb2.FileDescriptorProto.FromString(data)
        for dep in proto.dependency:
            add(_module_for(dep, imports) if not dep.startswith("google/protobuf/")
                else "google.protobuf." + Path(dep).stem + "_pb2")
        pool.Add(proto)
        added.add(module)

    try:
        for root in _ROOT_MODULES:
            add(root)
        return SimpleNamespace(**{
            short: message_factory.GetMessageClass(pool.FindMessageTypeByName(full))
            for short, full in MESSAGES.items()})
    except (KeyError, TypeError, ValueError, ImportError) as exc:
        raise ProtoLoadError(f"building TF Serving messages failed: {exc}") from exc
