"""Regenerate ``schema.binpb`` from the ``.proto`` files under ``proto/`` (developer tool).

    python -m common.wire.build

runs the ``protoc`` bundled with the pinned ``grpcio-tools`` (a dev dependency) and writes a
``FileDescriptorSet`` holding every file and its imports (``google/protobuf/*`` included).
``tests/serving/test_wire_schema.py`` fails when the committed file is not what this produces.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from common.atomic import write_bytes

__all__ = ["PROTO_ROOT", "SCHEMA_FILE", "proto_files", "build_descriptor_set"]

PROTO_ROOT = Path(__file__).with_name("proto")
SCHEMA_FILE = Path(__file__).with_name("schema.binpb")


def proto_files() -> list[str]:
    """The ``.proto`` files, relative to ``PROTO_ROOT``, in a stable order."""
    return sorted(p.relative_to(PROTO_ROOT).as_posix() for p in PROTO_ROOT.rglob("*.proto"))


def build_descriptor_set() -> bytes:
    """The serialized ``FileDescriptorSet`` protoc produces for ``proto_files()``."""
    import subprocess
    from importlib.resources import files

    well_known = str(files("grpc_tools") / "_proto")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "schema.binpb"
        # A child process: protoc's own C++ protobuf must not meet TensorFlow's in one process
        # (it crashed inside the test run once TensorFlow was loaded).
        args = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{well_known}",
                "--include_imports", f"--descriptor_set_out={out}", *proto_files()]
        done = subprocess.run(args, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"protoc failed on common/wire/proto: {done.stderr.strip()}")
        return out.read_bytes()


def main() -> int:
    """Write ``schema.binpb`` next to this module."""
    data = build_descriptor_set()
    write_bytes(SCHEMA_FILE, data)
    print(f"wrote {SCHEMA_FILE.name}: {len(data)} bytes, {len(proto_files())} proto files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
