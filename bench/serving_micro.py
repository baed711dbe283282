"""Micro-benchmark of the `serving serve` hot spots, old code vs new code in one process.

Issue 5's serving benchmark (its notes: git history, commit 175a5b4) blamed three pieces; this times
each of them for the code at ``--old-rev`` (extracted from git into a temporary package
``serving_old``) and for the working tree, interleaved round by round so both see the same
machine load:

- ``resize``: the numpy contract resize (``serve_raw`` in the ONNX/TFLite backends),
  32x32 -> 128x128, batch 1 and 16;
- ``rest parse``: ``parse_predict_request`` on a client-resized 128x128 image body (~490 kB)
  and on a raw 32x32 uint8 image for ``serve_raw`` (~13 kB). When the old revision has the
  C parser's source (removed by issue 17), a built ``_jsonarray*.so`` in the working tree is
  copied into it (git holds no binaries); without one the old side runs its Python route;
- ``core``: ``ServingCore.predict`` round trip (thread hand-off, batching queue) around a
  backend that does nothing, at concurrency 1, batching off and on (timeout 0);
- with ``--version-dir`` (an exported version directory): the ONNX backend's bare
  ``serve_raw`` / ``serving_default`` calls, and the REST round trip of the client-resized
  body at concurrency 1 (``bench/serving_micro_rest.py``; minus the bare ``serving_default``
  call, that is the latency the server adds).

Usage::

    python bench/serving_micro.py [--old-rev REV] [--rounds 7]
        [--version-dir runs/micro_models/m/1]

Prints one table (median of the per-round medians, and min..max over rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import io
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving_micro_rest import client_round_trip_ms, start_rest_server  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# The last commit before the issue-5 serving performance work (resize, REST parse, batching).
DEFAULT_OLD_REV = "d4ea1cf"


def load_old_serving(rev: str, into: Path) -> str:
    """Extract ``serving/`` at ``rev`` as package ``serving_old`` under ``into``."""
    tar = subprocess.run(
        ["git", "archive", rev, "serving"], cwd=REPO, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    package = into / "serving_old"
    (into / "serving").rename(package)
    if (package / "codecs" / "_jsonarray.c").is_file():  # give it the built extension too
        for built in (REPO / "serving" / "codecs").glob("_jsonarray*.so"):
            shutil.copy2(built, package / "codecs" / built.name)
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace("from serving.", "from serving_old.")
            .replace("from serving import", "from serving_old import")
            .replace("import serving.", "import serving_old."),
            encoding="utf-8",
        )
    sys.path.insert(0, str(into))
    return "serving_old"


def per_call_ms(fn: Callable[[], object], calls: int) -> float:
    """Median wall time of ``calls`` calls, in ms."""
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def client_resized_body(encode: Callable, resize: Callable) -> bytes:
    """The REST body a client sends for one CIFAR-sized image resized to 128x128."""
    image = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    return encode(resize(image, 128))


class NopBackend:
    """A backend whose predict costs nothing (so only the serving machinery is timed)."""

    platform = "onnx"

    def predict(self, signature_name, inputs, output_filter=()):
        """One float per row."""
        return {"probabilities": inputs["image"][:, 0, 0, :1].astype(np.float32)}


def core_round_trip(pkg: str, batching: bool, calls: int) -> Callable[[], float]:
    """A function timing ``calls`` sequential ``ServingCore.predict`` calls (median ms)."""
    core_mod = importlib.import_module(f"{pkg}.core")
    batching_mod = importlib.import_module(f"{pkg}.batching")
    servables = importlib.import_module(f"{pkg}.servables")
    options = (
        batching_mod.BatchingOptions(max_batch_size=16, batch_timeout_micros=0, num_batch_threads=2)
        if batching
        else None
    )
    image = np.zeros((1, 128, 128, 3), np.float32)

    def run() -> float:
        async def main() -> float:
            core = core_mod.ServingCore(None, batching=options, workers=2)
            served = servables.ServedVersion("m", 1, "onnx", NopBackend())
            for _ in range(20):
                await core.predict(served, "", {"image": image})
            samples = []
            for _ in range(calls):
                start = time.perf_counter()
                await core.predict(served, "", {"image": image})
                samples.append(time.perf_counter() - start)
            core.close()
            return statistics.median(samples) * 1e3

        return asyncio.run(main())

    return run


def build_cases(
    old: str, version_dir: Path | None, tmp: Path
) -> list[tuple[str, Callable, Callable]]:
    """(name, old timer, new timer) triples; each timer returns a median in ms."""
    cases = []
    mods = {}
    for tag, pkg in (("old", old), ("new", "serving")):
        mods[tag] = (
            importlib.import_module(f"{pkg}.codecs.resize"),
            importlib.import_module(f"{pkg}.codecs.json_codec"),
        )
    rng = np.random.default_rng(1)
    for n in (1, 16):
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        cases.append((
            f"resize {n}x32x32 -> 128 (ms/call)",
            lambda m=mods["old"][0], x=images: per_call_ms(lambda: m.resize_bilinear(x, 128), 20),
            lambda m=mods["new"][0], x=images: per_call_ms(lambda: m.resize_bilinear(x, 128), 20),
        ))
    old_json, new_json = mods["old"][1], mods["new"][1]
    body = client_resized_body(new_json.encode_predict_request, mods["new"][0].resize_bilinear)
    dtypes = {"image": 1}
    for tag in ("old", "new"):
        parsed = mods[tag][1].parse_predict_request(body, lambda s: dtypes).inputs["image"]
        assert parsed.shape == (1, 128, 128, 3)
    raw = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    raw_body = new_json.encode_predict_request(raw, signature_name="serve_raw")
    for name, text, types, calls in (
        (f"rest parse {len(body) // 1000} kB float body (ms)", body, dtypes, 10),
        (f"rest parse {len(raw_body) // 1000} kB uint8 body (ms)", raw_body, {"image": 4}, 200),
    ):
        cases.append((
            name,
            lambda t=text, d=types, n=calls: per_call_ms(
                lambda: old_json.parse_predict_request(t, lambda s: d), n),
            lambda t=text, d=types, n=calls: per_call_ms(
                lambda: new_json.parse_predict_request(t, lambda s: d), n),
        ))
    for batching in (False, True):
        cases.append((
            f"core round trip, batching {'on' if batching else 'off'} (ms)",
            core_round_trip(old, batching, 300),
            core_round_trip("serving", batching, 300),
        ))
    if version_dir is not None:
        body_path = tmp / "body.json"
        body_path.write_bytes(body)
        cases += backend_cases(old, version_dir, str(body_path))
    return cases


def backend_cases(
    old: str, version_dir: Path, body_path: str
) -> list[tuple[str, Callable, Callable]]:
    """The ONNX backend's bare ``serve_raw`` / ``serving_default`` calls, old vs new."""
    backends = {}
    for tag, pkg in (("old", old), ("new", "serving")):
        backend = importlib.import_module(f"{pkg}.backends.onnx_backend").OnnxBackend()
        backend.load(version_dir)
        backends[tag] = backend
    raw = np.random.default_rng(2).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    size = backends["new"].signature_defs().signature_def["serving_default"]
    side = size.inputs["image"].tensor_shape.dim[1].size
    resized = np.random.default_rng(3).random((1, side, side, 3)).astype(np.float32) * 255
    cases = []
    for signature, x in (("serve_raw", raw), ("serving_default", resized)):
        cases.append((
            f"onnx bare {signature} batch 1 (ms)",
            lambda b=backends["old"], s=signature, x=x: per_call_ms(
                lambda: b.predict(s, {"image": x}), 30),
            lambda b=backends["new"], s=signature, x=x: per_call_ms(
                lambda: b.predict(s, {"image": x}), 30),
        ))
    ports = {tag: start_rest_server(pkg, backends[tag]) for tag, pkg in (("old", old),
                                                                        ("new", "serving"))}
    gc.freeze()  # as `serving serve` does once its models are loaded
    cases.append((
        "REST client-resized predict, c=1 (ms)",
        lambda: client_round_trip_ms(ports["old"], body_path, 40),
        lambda: client_round_trip_ms(ports["new"], body_path, 40),
    ))
    return cases


def main() -> None:
    """Run every case ``--rounds`` times (old and new interleaved) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-rev", default=DEFAULT_OLD_REV)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--version-dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = load_old_serving(args.old_rev, Path(tmp))
        cases = build_cases(old, args.version_dir, Path(tmp))
        results = {name: ([], []) for name, _, _ in cases}
        for _ in range(args.rounds):
            for name, old_fn, new_fn in cases:
                results[name][0].append(old_fn())
                results[name][1].append(new_fn())
    print(f"old = {args.old_rev}, new = working tree; {args.rounds} interleaved rounds; "
          "median of round medians [min..max]")
    print(f"| {'piece':44s} | {'old':>22s} | {'new':>22s} | speed-up |")
    print(f"|{'-' * 46}|{'-' * 24}|{'-' * 24}|---------:|")
    for name, (olds, news) in results.items():
        o, n = statistics.median(olds), statistics.median(news)
        cell_o = f"{o:.3f} [{min(olds):.3f}..{max(olds):.3f}]"
        cell_n = f"{n:.3f} [{min(news):.3f}..{max(news):.3f}]"
        print(f"| {name:44s} | {cell_o:>22s} | {cell_n:>22s} | {o / n:7.2f}x |")


if __name__ == "__main__":
    main()
