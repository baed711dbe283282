"""``clients`` command line: predict, evaluate, bench (argument parsing only)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from clients.prepare import Mode

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Call a TF-Serving-compatible model server (REST or gRPC).")

SERVER = typer.Option(None, "--server", help="REST base URL, e.g. http://127.0.0.1:8501")
GRPC = typer.Option(None, "--grpc", help="gRPC target, e.g. 127.0.0.1:8500")
MODEL = typer.Option(..., "--model", help="model name")
VERSION = typer.Option(None, "--version", help="model version (default: latest)")
LABEL = typer.Option(None, "--label", help="version label (instead of --version)")
MODE = typer.Option(Mode.CLIENT_RESIZE, "--mode", help="where images are resized")
TIMEOUT = typer.Option(30.0, "--timeout", help="per-request timeout, seconds")
COLUMNAR = typer.Option(False, "--columnar", help="REST: columnar 'inputs' instead of rows")
DEBUG = typer.Option(False, "--debug", help="show tracebacks")
TLS_CA = typer.Option(None, "--tls-ca", help="TLS: PEM CA that signed the server certificate "
                      "(gRPC, or an https:// --server); default: system roots")
TLS_CERT = typer.Option(None, "--tls-cert", help="mutual TLS: PEM client certificate")
TLS_KEY = typer.Option(None, "--tls-key", help="mutual TLS: PEM client private key")


def _run(debug: bool, body: Callable[[], Any]) -> Any:
    """Run ``body``; expected failures become one line on stderr and exit code 1."""
    from clients.errors import ClientError
    from common.extras import MissingExtra

    logging.basicConfig(level=logging.INFO if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return body()
    except (ClientError, MissingExtra, ValueError, OSError) as exc:
        if debug:
            raise
        typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(1) from None


def _numbers(text: str | None, kind: type, what: str) -> list:
    if not text:
        return []
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{what} must be a comma-separated list of numbers, "
                                 f"got {text!r}") from None
    if any(v <= 0 for v in values):
        raise typer.BadParameter(f"{what} values must be positive, got {text!r}")
    return values


@app.command()
def predict(paths: list[Path] = typer.Argument(..., help="PNG/JPEG files, directories, .npz"),
            server: str | None = SERVER, grpc: str | None = GRPC, model: str = MODEL,
            version: int | None = VERSION, label: str | None = LABEL,
            top_k: int = typer.Option(3, "--top-k", min=1), mode: Mode = MODE,
            batch_size: int | None = typer.Option(None, "--batch-size", min=1),
            as_json: bool = typer.Option(False, "--json", help="print JSON"),
            timeout: float = TIMEOUT, columnar: bool = COLUMNAR, debug: bool = DEBUG,
            tls_ca: Path | None = TLS_CA, tls_cert: Path | None = TLS_CERT,
            tls_key: Path | None = TLS_KEY) -> None:
    """Top-k labels for each image."""
    from clients.commands import format_predictions, predict_images
    from clients.connect import make_client
    from clients.images import load_images
    from clients.tls import tls_files

    def body() -> None:
        tls = tls_files(tls_ca, tls_cert, tls_key)
        images = load_images(paths)
        for path, reason in images.skipped:
            typer.echo(f"skipped {path}: {reason}", err=True)
        if not len(images):
            raise ValueError("no readable images among the given paths")
        with make_client(model, server=server, grpc=grpc, version=version, label=label,
                         timeout=timeout, columnar=columnar, tls=tls) as client:
            rows = predict_images(client, images, top_k, mode, batch_size)
        typer.echo(json.dumps({"predictions": rows, "skipped": images.skipped}, indent=2)
                   if as_json else format_predictions(rows))

    _run(debug, body)


@app.command()
def evaluate(data: list[Path] = typer.Option(..., "--data", help=".npz with y, or class dirs"),
             server: str | None = SERVER, grpc: str | None = GRPC, model: str = MODEL,
             version: int | None = VERSION, label: str | None = LABEL, mode: Mode = MODE,
             batch_size: int = typer.Option(64, "--batch-size", min=1),
             out: Path | None = typer.Option(None, "--out", help="write .json or .png"),
             timeout: float = TIMEOUT, columnar: bool = COLUMNAR, debug: bool = DEBUG,
             tls_ca: Path | None = TLS_CA, tls_cert: Path | None = TLS_CERT,
             tls_key: Path | None = TLS_KEY) -> None:
    """Accuracy and confusion matrix through the server."""
    from clients.connect import make_client
    from clients.evaluate import evaluate as run_eval
    from clients.evaluate import write_confusion_png, write_eval_json
    from clients.images import load_images
    from clients.tls import tls_files
    from common.extras import require

    def body() -> None:
        if out is not None and out.suffix.lower() == ".png":
            require("plots", "evaluate --out *.png")
        tls = tls_files(tls_ca, tls_cert, tls_key)
        images = load_images(data)
        for path, reason in images.skipped:
            typer.echo(f"skipped {path}: {reason}", err=True)
        with make_client(model, server=server, grpc=grpc, version=version, label=label,
                         timeout=timeout, columnar=columnar, tls=tls) as client:
            result = run_eval(client, images, mode, batch_size)
        if out is not None:
            (write_confusion_png if out.suffix.lower() == ".png" else write_eval_json)(
                out, result)
        typer.echo(f"accuracy {result.accuracy:.4%} ({result.correct}/{result.count}, "
                   f"mode {result.mode})")
        typer.echo("confusion (rows: true, columns: predicted):")
        for name, row in zip(result.class_names, result.confusion, strict=True):
            typer.echo(f"  {name[:12]:>12} " + " ".join(f"{v:5d}" for v in row))

    _run(debug, body)


@app.command()
def bench(server: str | None = SERVER, grpc: str | None = GRPC, model: str = MODEL,
          protocol: str | None = typer.Option(None, "--protocol",
                                              help="rest, grpc or rest,grpc"),
          version: int | None = VERSION, label: str | None = LABEL, mode: Mode = MODE,
          batch_size: int = typer.Option(1, "--batch-size", min=1),
          data: Path | None = typer.Option(None, "--data", help="images (default: generated)"),
          concurrency: str | None = typer.Option(None, "--concurrency",
                                                 help="closed-loop sweep, e.g. 1,2,4,8,16"),
          rate: str | None = typer.Option(None, "--rate", help="open-loop rates, req/s"),
          warmup: float = typer.Option(2.0, "--warmup", min=0.0),
          duration: float = typer.Option(20.0, "--duration", min=0.1,
                                         help="longest a point may measure, s"),
          window: float = typer.Option(2.0, "--window", min=0.05, help="window length, s"),
          stability: float = typer.Option(0.10, "--stability", min=0.0),
          max_connections: int = typer.Option(256, "--max-connections", min=1),
          baseline: Path | None = typer.Option(None, "--baseline", help="SavedModel dir"),
          json_out: Path | None = typer.Option(None, "--json"),
          csv_out: Path | None = typer.Option(None, "--csv"),
          png_out: Path | None = typer.Option(None, "--png"),
          timeout: float = TIMEOUT, columnar: bool = COLUMNAR, debug: bool = DEBUG,
          tls_ca: Path | None = TLS_CA, tls_cert: Path | None = TLS_CERT,
          tls_key: Path | None = TLS_KEY) -> None:
    """Latency/throughput sweep (closed loop --concurrency, open loop --rate)."""
    from clients.bench_report import format_table, write_csv, write_json, write_png
    from clients.bench_run import BenchConfig
    from clients.commands import BenchRequest, run_bench
    from clients.tls import tls_files
    from common.extras import require

    levels = _numbers(concurrency, int, "--concurrency")
    rates = _numbers(rate, float, "--rate")
    protocols = [p.strip() for p in protocol.split(",")] if protocol else (
        (["rest"] if server else []) + (["grpc"] if grpc else []))
    if not protocols or any(p not in ("rest", "grpc") for p in protocols):
        raise typer.BadParameter("--protocol takes rest, grpc or rest,grpc (and the matching "
                                 "--server / --grpc address)")

    def body() -> None:
        if png_out:
            require("plots", "bench --png")
        cfg = BenchConfig(concurrency=levels or ([] if rates else [1]), rates=rates,
                          warmup=warmup, duration=duration, window=window,
                          stability=stability, timeout=timeout,
                          max_connections=max_connections)
        report = run_bench(BenchRequest(
            model=model, protocols=protocols, server=server, grpc=grpc, version=version,
            label=label, mode=mode, batch_size=batch_size, data=data, columnar=columnar,
            baseline=baseline, config=cfg, tls=tls_files(tls_ca, tls_cert, tls_key)))
        typer.echo(format_table(report.points, report.baseline))
        if json_out:
            write_json(json_out, report.points, report.meta)
        if csv_out:
            write_csv(csv_out, report.points)
        if png_out:
            write_png(png_out, report.points, f"{model} {mode.value} batch {batch_size}")

    _run(debug, body)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
