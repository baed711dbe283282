"""``exporter bundle``: the mobile hand-off of one TFLite variant.

``DIR/model.tflite`` (the chosen variant, with its TFLite Metadata and packed labels),
``labels.txt``, ``metadata.json`` (input size, pixel range and layout, output meaning,
quantization parameters, the TFLite Metadata as JSON) and a ``README.md`` with the consumer
snippets for Android (Kotlin) and iOS (Swift), both with MediaPipe Tasks' ImageClassifier.
The bundle directory is written under a temporary name next to ``DIR`` and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from exporter.errors import ExportError
from exporter.formats import REGISTRY
from exporter.inspection import read_report
from exporter.tflite_export import TFLiteRunner

VARIANT_PREFERENCE = ("int8", "dynamic", "float16", "float32")


def choose_variant(version_dir: Path, variant: str | None) -> str:
    """``variant`` if its file exists, else the smallest-footprint variant present."""
    available = [
        fmt.precision
        for fmt in REGISTRY.values()
        if fmt.family == "tflite" and (version_dir / fmt.file).is_file()
    ]
    if not available:
        raise ExportError(f"{version_dir} has no .tflite file to bundle")
    if variant is None:
        return next(v for v in VARIANT_PREFERENCE if v in available)
    if variant not in available:
        raise ExportError(f"variant {variant!r} not in {version_dir}; available: {available}")
    return variant


def bundle_metadata(version_dir: Path, variant: str) -> dict[str, Any]:
    """The ``metadata.json`` content for ``variant`` of ``version_dir``."""
    fmt = next(f for f in REGISTRY.values() if f.family == "tflite" and f.precision == variant)
    io = TFLiteRunner(version_dir / fmt.file).describe()
    report = read_report(version_dir)
    contract = report.get("contract", {})
    parity = next(
        (f for f in report.get("parity", {}).get("formats", []) if f["format"] == fmt.name), None
    )
    size = contract.get("image_size") or io["inputs"]["image"]["shape"][1]
    return {
        "model_file": "model.tflite",
        "variant": variant,
        "source_file": fmt.file,
        "signature": "serving_default",
        "input": {
            **io["inputs"]["image"],
            "name": "image",
            "image_size": size,
            "layout": "NHWC",
            "color_order": "RGB",
            "pixel_range": [0, 255],
            "resize": "bilinear, half-pixel centres, no antialiasing, to image_size x image_size",
        },
        "outputs": {
            name: {**spec, "meaning": _MEANING.get(name, "")}
            for name, spec in io["outputs"].items()
        },
        "labels_file": "labels.txt",
        "num_classes": contract.get("num_classes"),
        "top_k": contract.get("top_k"),
        "parity": parity,
        "tflite_metadata": io.get("tflite_metadata"),
    }


_MEANING = {
    "probabilities": "softmax probability per class, in labels.txt order",
    "top_k_scores": "the top_k probabilities, highest first",
    "top_k_ids": "class indices (into labels.txt) of top_k_scores",
    "top_k_classes": "class names of top_k_scores",
}


def _readme(meta: dict[str, Any]) -> str:
    image = meta["input"]
    quant = image.get("quantization")
    feed = (
        f"uint8 pixels quantized as q = round(pixel / {quant['scale']:.6g} + "
        f"{quant['zero_point']}) (scale 1 and zero point 0 mean: the raw pixels)"
        if quant
        else "float32 pixel values 0..255 (no normalisation: it is inside the model)"
    )
    lines = [
        f"# Image classifier ({meta['variant']} TFLite)",
        "",
        f"- File: `model.tflite`, signature `serving_default`, input tensor `image` "
        f"{image['dtype']} `[1, {image['image_size']}, {image['image_size']}, 3]` (NHWC, RGB).",
        f"- Feed: {feed}.",
        "- Resize the camera frame to the input size with bilinear interpolation first.",
        "- Outputs:",
    ]
    for name, spec in meta["outputs"].items():
        quant_out = spec.get("quantization")
        how = (
            f" (real = (q - {quant_out['zero_point']}) * {quant_out['scale']:.6g})"
            if quant_out
            else ""
        )
        lines.append(f"  - `{name}` {spec['dtype']} {spec['shape']}: {spec['meaning']}{how}")
    lines += [
        "- Class names: `labels.txt`, one per line, index order. The same file is packed inside",
        "  `model.tflite` as TFLite Metadata (with the input's normalization: mean 0, std 1), so",
        "  MediaPipe Tasks and the TFLite Task Library need nothing else.",
        "- Details: metadata.json.",
        "",
        _CONSUMERS,
    ]
    return "\n".join(lines) + "\n"


_CONSUMERS = """## Android (Kotlin, MediaPipe Tasks)

Put `model.tflite` in `app/src/main/assets/` and add
`implementation("com.google.mediapipe:tasks-vision:<version>")` to the app's dependencies.

```kotlin
import com.google.mediapipe.framework.image.BitmapImageBuilder
import com.google.mediapipe.tasks.core.BaseOptions
import com.google.mediapipe.tasks.vision.core.RunningMode
import com.google.mediapipe.tasks.vision.imageclassifier.ImageClassifier

val options = ImageClassifier.ImageClassifierOptions.builder()
    .setBaseOptions(BaseOptions.builder().setModelAssetPath("model.tflite").build())
    .setRunningMode(RunningMode.IMAGE)
    .setMaxResults(3)
    .build()
val classifier = ImageClassifier.createFromOptions(context, options)

fun label(bitmap: android.graphics.Bitmap): String {
    val result = classifier.classify(BitmapImageBuilder(bitmap).build())
    val best = result.classificationResult().classifications()[0].categories()[0]
    return "${best.categoryName()} ${best.score()}"  // name from labels.txt in the metadata
}
```

MediaPipe resizes the frame to the model's input size and feeds the pixels as the metadata
says (unchanged, 0..255); call `classifier.close()` when done.

## iOS (Swift, MediaPipe Tasks)

Add the `MediaPipeTasksVision` pod and `model.tflite` to the app target.

```swift
import MediaPipeTasksVision
import UIKit

let options = ImageClassifierOptions()
options.baseOptions.modelAssetPath = Bundle.main.path(forResource: "model", ofType: "tflite")!
options.runningMode = .image
options.maxResults = 3
let classifier = try ImageClassifier(options: options)

func label(_ image: UIImage) throws -> String {
    let result = try classifier.classify(image: try MPImage(uiImage: image))
    guard let best = result.classificationResult.classifications.first?.categories.first
    else { return "" }
    return "\\(best.categoryName ?? "?") \\(best.score)"  // name from the metadata's labels
}
```

These snippets are documentation: the project builds no app. The same file loads in
MediaPipe's Python `ImageClassifier`, which the exporter's tests run on every variant.
"""


def make_bundle(
    version_dir: Path | str, out_dir: Path | str, variant: str | None = None, force: bool = False
) -> Path:
    """Write the bundle for ``version_dir`` into ``out_dir`` and return ``out_dir``."""
    version_dir, out_dir = Path(version_dir), Path(out_dir)
    if not version_dir.is_dir():
        raise ExportError(f"version directory {version_dir} does not exist")
    if out_dir.exists() and not force:
        raise ExportError(f"{out_dir} already exists; pass --force to replace it")
    chosen = choose_variant(version_dir, variant)
    meta = bundle_metadata(version_dir, chosen)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-bundle-", dir=out_dir.parent))
    try:
        shutil.copyfile(version_dir / meta["source_file"], staging / "model.tflite")
        shutil.copyfile(version_dir / "labels.txt", staging / "labels.txt")
        (staging / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        (staging / "README.md").write_text(_readme(meta))
        staging.chmod(0o755)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.rename(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir
