"""Every TFLite variant of a version directory on held-out images: file size, accuracy,
top-1 agreement with the Keras model, LiteRT latency at batch 1 (1 and 2 threads), and the
same through MediaPipe Tasks' ImageClassifier (the on-device API), fed two ways.

Usage (from the repository root):

    python bench/mobile_variants.py models/cifar/1 --run-dir runs/mobilenet \
        --data heldout.npz --limit 1000 --json bench/results/mobile_variants.json

``--data`` must be images the run never trained or validated on (``x`` uint8 ``(N,H,W,3)``,
``y``). MediaPipe is fed (a) the stored images, which it resizes to the model's input size
itself, and (b) images already brought to that size with our contract resize (bilinear,
half-pixel centres, no antialiasing), so the two columns separate the resize difference from
the model file's. (b) is rounded to uint8 (``mp.Image`` holds uint8), which the Keras
reference does not see; the last agreement column compares MediaPipe with the Keras model fed
exactly the same uint8 pixels: the file and the runtime alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FILES = {
    "float32": "model.tflite",
    "float16": "model_float16.tflite",
    "dynamic": "model_dynamic.tflite",
    "int8": "model_int8.tflite",
}


def litert_latency_ms(path: Path, image: np.ndarray, threads: int, repeats: int) -> float:
    """Median batch-1 latency of the file's serving_default in LiteRT."""
    from exporter.tflite_export import TFLiteRunner

    runner = TFLiteRunner(path, num_threads=threads)
    runner.predict(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner.predict(image)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def litert_top1(path: Path, x: np.ndarray) -> np.ndarray:
    from exporter.tflite_export import TFLiteRunner

    runner = TFLiteRunner(path)
    return np.concatenate([runner.predict(x[i : i + 50]) for i in range(0, len(x), 50)]).argmax(1)


def mediapipe_top1(path: Path, images: np.ndarray, labels: list[str]) -> tuple[np.ndarray, float]:
    """MediaPipe's top-1 (as a label index, from the category name) and median ms/image."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=str(path)), max_results=1
    )
    top, times = [], []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for image in images:
            frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
            start = time.perf_counter()
            result = classifier.classify(frame)
            times.append((time.perf_counter() - start) * 1e3)
            top.append(labels.index(result.classifications[0].categories[0].category_name))
    return np.array(top), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version_dir", type=Path)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="held-out .npz (x, y)")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from exporter.datasets import to_model_input
    from exporter.run_dir import load_keras_model, load_run_info

    run = load_run_info(args.run_dir)
    data = np.load(args.data)
    images, y = data["x"][: args.limit], data["y"][: args.limit]
    x = to_model_input(images, run.image_size)
    keras_top = load_keras_model(run).predict(x, batch_size=50, verbose=0).argmax(1)
    labels = list(run.labels)
    rows: list[dict[str, Any]] = [
        {"variant": "keras", "accuracy": float((keras_top == y).mean()), "agreement": 1.0}
    ]
    contract_sized = np.clip(np.round(x), 0, 255).astype(np.uint8)
    # the Keras model on exactly the pixels MediaPipe gets in (b): the file and runtime alone
    keras_top_sized = load_keras_model(run).predict(
        contract_sized.astype(np.float32), batch_size=50, verbose=0).argmax(1)
    for variant, file in FILES.items():
        path = args.version_dir / file
        if not path.is_file():
            continue
        top = litert_top1(path, x)
        mp_native, mp_ms = mediapipe_top1(path, images, labels)
        mp_sized, _ = mediapipe_top1(path, contract_sized, labels)
        rows.append(
            {
                "variant": variant,
                "file": file,
                "size_bytes": path.stat().st_size,
                "accuracy": float((top == y).mean()),
                "agreement": float((top == keras_top).mean()),
                "latency_ms_1_thread": litert_latency_ms(path, x[:1], 1, args.repeats),
                "latency_ms_2_threads": litert_latency_ms(path, x[:1], 2, args.repeats),
                "mediapipe_agreement_native": float((mp_native == keras_top).mean()),
                "mediapipe_accuracy_native": float((mp_native == y).mean()),
                "mediapipe_agreement_contract_resized": float((mp_sized == keras_top).mean()),
                "mediapipe_agreement_same_pixels": float((mp_sized == keras_top_sized).mean()),
                "mediapipe_ms_per_image": mp_ms,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    keras_accuracy = rows[0]["accuracy"]
    print(f"\n{len(y)} held-out images ({args.data.name}); Keras accuracy {keras_accuracy:.2%}")
    print("| variant | KB | accuracy | agreement | ms 1 thr | ms 2 thr | MediaPipe agreement "
          "(own resize / contract-resized) | MediaPipe vs Keras, same uint8 pixels | "
          "MediaPipe ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows[1:]:
        print(
            f"| {r['variant']} | {r['size_bytes'] / 1024:.0f} | {r['accuracy']:.2%} | "
            f"{r['agreement']:.2%} | {r['latency_ms_1_thread']:.2f} | "
            f"{r['latency_ms_2_threads']:.2f} | {r['mediapipe_agreement_native']:.2%} / "
            f"{r['mediapipe_agreement_contract_resized']:.2%} | "
            f"{r['mediapipe_agreement_same_pixels']:.2%} | {r['mediapipe_ms_per_image']:.2f} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"data": str(args.data.name), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
