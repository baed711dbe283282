"""TFLite Metadata for the exporter's ``.tflite`` files, written and read with MediaPipe's code.

What goes in (the ``TFLITE_METADATA`` buffer, schema ``metadata_schema.fbs``, identifier
``M001``): the model's name, description, version, author and licence; the input ``image`` as
an RGB image with NormalizationOptions mean 0, std 1 (our models take pixels 0..255 and
normalize inside, so the runtime must feed the pixel values unchanged) and its value range;
the output ``probabilities`` as a classification tensor with ``labels.txt`` attached as
``TENSOR_AXIS_LABELS`` (packed into the file as a zip archive appended to the flatbuffer, the
TFLite Metadata convention). MediaPipe Tasks' ``ImageClassifier`` and the TFLite Task Library
read exactly these fields.

Why this code path (docs/exporter.md, "TFLite Metadata"): mediapipe 1.2.3's
``metadata_writers.metadata_writer`` and ``metadata.MetadataPopulator`` do not import
(``No module named 'mediapipe.tasks.cc'``), older mediapipe and ``tflite-support`` need
protobuf < 5 (our pin is 7). The tensor-level objects come from mediapipe's
``metadata_writers.metadata_info`` (which imports fine), packed with the schema classes
mediapipe ships and the ``flatbuffers`` package. The populator's own step (add a buffer named
``TFLITE_METADATA`` to the model, append the associated files as a zip) is done here the same
way it does it.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

METADATA_NAME = "TFLITE_METADATA"  # the model.metadata entry runtimes look for
METADATA_IDENTIFIER = b"M001"
TFLITE_IDENTIFIER = b"TFL3"
# Every field written here exists in metadata schema 1.0.0 (no tokenizers, tensor groups,
# audio, SCANN files, associated-file versions or custom metadata), so parsers >= 1.0.0 read it.
MIN_PARSER_VERSION = "1.0.0"
LABELS_FILE = "labels.txt"
INPUT_DESCRIPTION = (
    "RGB image, {size}x{size}, pixel values 0..255 ({dtype}). The model normalizes inside: "
    "feed the pixels unchanged (NormalizationOptions mean 0, std 1). Resize to {size}x{size} "
    "with bilinear interpolation (half-pixel centres, no antialiasing) like the training did."
)
OUTPUT_DESCRIPTION = (
    "Softmax probability of each class ({n} classes, names in labels.txt, index order){quant}."
)


@dataclass(frozen=True)
class ModelDescription:
    """The model-level fields of the metadata."""

    name: str
    description: str
    version: str
    author: str
    license: str


def _tensor_type(dtype: np.dtype) -> int:
    from mediapipe.tasks.metadata import schema_py_generated as schema

    return {np.dtype(np.float32): schema.TensorType.FLOAT32,
            np.dtype(np.uint8): schema.TensorType.UINT8}[np.dtype(dtype)]


def build_metadata(
    model: ModelDescription,
    image_size: int,
    num_classes: int,
    input_dtype: np.dtype,
    output_dtype: np.dtype,
) -> bytes:
    """The ``TFLITE_METADATA`` flatbuffer (``M001``) for a probabilities-only classifier."""
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta_fb
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_info

    input_dtype, output_dtype = np.dtype(input_dtype), np.dtype(output_dtype)
    image = metadata_info.InputImageTensorMd(
        name="image",
        description=INPUT_DESCRIPTION.format(size=image_size, dtype=input_dtype.name),
        norm_mean=[0.0],
        norm_std=[1.0],
        color_space_type=meta_fb.ColorSpaceType.RGB,
        tensor_type=_tensor_type(input_dtype),
    ).create_metadata()
    quant = ", quantized uint8: real = (q - zero_point) * scale" if output_dtype == np.uint8 else ""
    probabilities = metadata_info.ClassificationTensorMd(
        name="probabilities",
        description=OUTPUT_DESCRIPTION.format(n=num_classes, quant=quant),
        label_files=[metadata_info.LabelFileMd(LABELS_FILE)],
        tensor_type=_tensor_type(output_dtype),
    ).create_metadata()
    subgraph = meta_fb.SubGraphMetadataT()
    subgraph.name = "serving_default"
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = [probabilities]
    root = metadata_info.GeneralMd(
        name=model.name,
        version=model.version,
        description=model.description,
        author=model.author,
        licenses=model.license,
    ).create_metadata()
    root.subgraphMetadata = [subgraph]
    root.minParserVersion = MIN_PARSER_VERSION
    builder = flatbuffers.Builder(0)
    builder.Finish(root.Pack(builder), METADATA_IDENTIFIER)
    return bytes(builder.Output())


def attach_metadata(model_bytes: bytes, metadata: bytes, files: dict[str, bytes]) -> bytes:
    """``model_bytes`` with ``metadata`` as its ``TFLITE_METADATA`` buffer and ``files``
    appended as a zip archive (what MediaPipe's MetadataPopulator writes). A file that
    already has metadata or packed files is refused rather than half-updated."""
    import flatbuffers
    from mediapipe.tasks.metadata import schema_py_generated as schema

    if _packed_names(model_bytes):
        raise ValueError("the model already has packed associated files")
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))
    if any(m.name.decode() == METADATA_NAME for m in model.metadata or []):
        raise ValueError(f"the model already has {METADATA_NAME}")
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata, dtype=np.uint8)
    model.buffers = [*(model.buffers or []), buffer]
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), TFLITE_IDENTIFIER)
    out = io.BytesIO(bytes(builder.Output()))
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a") as archive:  # appended after the flatbuffer
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def _packed_names(model_bytes: bytes) -> list[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
            return archive.namelist()
    except zipfile.BadZipFile:
        return []


def read_metadata(model_bytes: bytes) -> tuple[Any, dict[str, bytes]]:
    """``(ModelMetadataT, {packed file name: bytes})`` of a ``.tflite``; ``(None, {})`` when
    it has no TFLite Metadata."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta_fb
    from mediapipe.tasks.metadata import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(model_bytes, 0)
    files: dict[str, bytes] = {}
    for name in _packed_names(model_bytes):
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
            files[name] = archive.read(name)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode() != METADATA_NAME:
            continue
        data = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
        if not meta_fb.ModelMetadata.ModelMetadataBufferHasIdentifier(data, 0):
            raise ValueError(f"{METADATA_NAME} does not carry the {METADATA_IDENTIFIER!r} id")
        root = meta_fb.ModelMetadata.GetRootAsModelMetadata(data, 0)
        return meta_fb.ModelMetadataT.InitFromObj(root), files
    return None, files


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def summarize(model_bytes: bytes) -> dict[str, Any] | None:
    """The metadata as a JSON-ready dict (for ``exporter inspect`` and the bundle)."""
    meta, files = read_metadata(model_bytes)
    if meta is None:
        return None

    def tensor(t: Any) -> dict[str, Any]:
        units = [u.options for u in t.processUnits or []]
        norm = next((u for u in units if hasattr(u, "mean")), None)
        return {
            "name": _text(t.name),
            "description": _text(t.description),
            "normalization": {"mean": _floats(norm.mean), "std": _floats(norm.std)}
            if norm
            else None,
            "stats": {"min": _floats(t.stats.min), "max": _floats(t.stats.max)}
            if t.stats
            else None,
            "associated_files": [_text(f.name) for f in t.associatedFiles or []],
        }

    subgraph = meta.subgraphMetadata[0]
    return {
        "name": _text(meta.name),
        "description": _text(meta.description),
        "version": _text(meta.version),
        "author": _text(meta.author),
        "license": _text(meta.license),
        "min_parser_version": _text(meta.minParserVersion),
        "inputs": [tensor(t) for t in subgraph.inputTensorMetadata or []],
        "outputs": [tensor(t) for t in subgraph.outputTensorMetadata or []],
        "packed_files": sorted(files),
    }


def _floats(values: Any) -> list[float] | None:
    return None if values is None else [float(v) for v in values]


def with_run_metadata(
    model_bytes: bytes, run: Any, model_name: str, version: int, precision: str
) -> bytes:
    """``model_bytes`` (a probabilities-only classifier converted from ``run``, a
    ``RunInfo``) with its TFLite Metadata and ``labels.txt`` packed in. Author and licence
    come from the run's ``model.json`` (``author``, ``license``) when it has them."""
    from ai_edge_litert.interpreter import Interpreter

    # the file's own I/O types (an int8 file whose first op stays float keeps a float input)
    interpreter = Interpreter(model_content=model_bytes)
    in_dtype = interpreter.get_input_details()[0]["dtype"]
    out_dtype = interpreter.get_output_details()[0]["dtype"]
    size = run.image_size
    description = ModelDescription(
        name=model_name,
        description=(
            f"{run.backbone} image classifier: {run.num_classes} classes, {size}x{size} RGB "
            f"input, TFLite {precision}; output 'probabilities' with the class names attached."
        ),
        version=str(version),
        author=str(run.meta.get("author") or "tfserve-kit exporter"),
        license=str(run.meta.get("license") or "unspecified (set 'license' in model.json)"),
    )
    metadata = build_metadata(description, size, run.num_classes, in_dtype, out_dtype)
    labels = ("\n".join(run.labels) + "\n").encode("utf-8")
    return attach_metadata(model_bytes, metadata, {LABELS_FILE: labels})
