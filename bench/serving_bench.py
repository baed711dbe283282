"""Serving benchmark: `serving serve` per backend vs the bare model, batching, protocols, modes,
a naive Flask + TF server, and the latency tester vs wrk (issue 5 "Benchmark", issue 7 §3-4).

Run from the repository root (paths are relative to it), on an otherwise idle machine::

    python bench/serving_bench.py runs/bench/mobilenet_a025_128      # a run dir: exported first
    python bench/serving_bench.py models/NAME/VERSION                 # or an exported version
    python bench/serving_bench.py RUN --point-seconds 3 --repeats 1 --backends onnx   # smoke

It writes ``bench/results/serving.md`` (tables; the exact command at the top) and
``bench/results/serving.json`` (every point). Servers run as subprocesses on 127.0.0.1 free
ports and are stopped at the end; the load generator is the ``clients bench`` engine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from serving_phases import Settings, backend_phase, ceiling_phase  # noqa: E402
from serving_report import render  # noqa: E402

from clients.bench_run import BenchConfig  # noqa: E402
from clients.prepare import ImageItem  # noqa: E402

log = logging.getLogger("serving_bench")
PACKAGES = ("tensorflow", "onnxruntime", "ai-edge-litert", "grpcio", "uvloop", "flask",
            "werkzeug")


def version_dir_of(source: Path, workdir: Path) -> tuple[Path, float]:
    """The version directory to serve (exporting a run directory first); export seconds."""
    if (source / "saved_model.pb").is_file():
        return source, 0.0
    if not (source / "model.json").is_file():
        raise SystemExit(f"error: {source} is neither a version directory (saved_model.pb) "
                         "nor a trainer run directory (model.json)")
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "exporter", "export", str(source), "--model-base-path",
           str(workdir / "export"), "--name", "m", "--quantize", "none"]
    log.info("exporting: %s", shlex.join(cmd[1:]))
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return workdir / "export" / "m" / "1", time.perf_counter() - started


def add_source_args(parser: argparse.ArgumentParser) -> None:
    """The model to serve (run dir or version dir) and the images to send."""
    parser.add_argument("source", type=Path, help="trainer run dir or exported version dir")
    parser.add_argument("--data", type=Path,
                        default=Path("../shared/data/cifar10/lossless_train2000.npz"))


def serve_base(source: Path, workdir: Path) -> tuple[Path, Path, float]:
    """(version dir, model base path ``WORKDIR/models/m`` whose ``1`` links to it, export s)."""
    version_dir, export_s = version_dir_of(source, workdir)
    base = workdir / "models" / "m"
    base.mkdir(parents=True)
    (base / "1").symlink_to(version_dir.resolve(), target_is_directory=True)
    return version_dir, base, export_s


def write_outputs(outputs: list[tuple[Path, str]]) -> None:
    """Write each (path, text) atomically (temp file next to it, then rename)."""
    for path, text in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)


def load_items(data: Path, count: int) -> list[ImageItem]:
    """The first ``count`` images of an ``.npz`` with ``x`` (raw 32×32 CIFAR here)."""
    with np.load(data) as npz:
        return [ImageItem(array=x) for x in npz["x"][:count]]


def header(argv: list[str], version_dir: Path, export_s: float, s: Settings,
           load: tuple[float, float], wall: float, workdir: Path) -> list[str]:
    """Title, exact command, host, versions, settings, server commands."""
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0] \
        if shutil.which("wrk") else "wrk not installed"
    shown = str(version_dir.relative_to(Path.cwd())) if version_dir.is_relative_to(Path.cwd()) \
        else "WORKDIR/export/m/1 (exported by this run)"
    cfg = s.cfg
    cmds = [c.replace(str(s.workdir), "WORKDIR") for c in dict.fromkeys(s.commands)]
    return [
        "# Serving benchmark: MobileNet α0.25 at 128 px (CIFAR-10)", "",
        f"Command: `{shlex.join(['python', *argv])}`", "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in {wall:.0f} s "
        f"(export {export_s:.0f} s); model `{shown}`; {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} before, {load[1]:.2f} after; Python {platform.python_version()}; "
        f"{', '.join(versions)}; {wrk.strip()}.", "",
        f"Each point: {cfg.warmup:g} s warmup (discarded), then windows of {cfg.window:.2f} s "
        f"until the last 3 agree within {cfg.stability:.0%} (throughput and mean latency) or "
        f"{cfg.duration:g} s; numbers merge the last 3 windows. Requests are real CIFAR-10 "
        f"images (32×32), 8 distinct batches round-robin, encoded by the library clients; "
        f"sampled answers are checked against the client's own predict. Key ratios are "
        f"repeated {s.repeats}× (median [min–max]). Bare calls: {s.bare_seconds:g} s each.", "",
        "Batching config (`--batching_parameters_file`): "
        f"`{' '.join(s.batching.text().split())}`", "",
        "Servers (WORKDIR is a temporary directory; `1` links to the model version):", "",
        *[f"    {c}" for c in cmds]]


def main() -> None:
    """Parse arguments, run every phase, write the markdown and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_source_args(parser)
    parser.add_argument("--backends", default="tensorflow,onnx,tflite")
    parser.add_argument("--point-seconds", type=float, default=9.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--bare-seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/serving.md"))
    parser.add_argument("--json", type=Path, default=Path("bench/results/serving.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    started, load0 = time.perf_counter(), os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    try:
        version_dir, base, export_s = serve_base(args.source, workdir)
        cfg = BenchConfig(warmup=args.warmup, window=args.point_seconds / 3,
                          duration=args.point_seconds * 1.5, stability=0.10, timeout=30.0)
        s = Settings(cfg, args.bare_seconds, args.repeats, load_items(args.data, 256), workdir)
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        results = []
        for i, platform_name in enumerate(backends):
            extras = platform_name == "tensorflow" or (i == 0 and "tensorflow" not in backends)
            results.append(backend_phase(platform_name, version_dir, base, s, extras))
            log.info("%s done at %.0fs", platform_name, time.perf_counter() - started)
        ceiling = ceiling_phase(max(3.0, args.point_seconds / 2))
        wall = time.perf_counter() - started
        head = header(sys.argv, version_dir, export_s, s, (load0, os.getloadavg()[0]), wall,
                      workdir)
        write_outputs([(args.out, render(head, results, ceiling)),
                       (args.json, json.dumps({"header": head, "results": results,
                                               "ceiling": ceiling}, indent=1))])
        log.info("wrote %s and %s in %.0fs", args.out, args.json, wall)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
