"""Command line of the exporter: parses options and calls the library (nothing else)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from exporter.config import (
    FAMILIES,
    QUANTIZATIONS,
    ExportConfig,
    VerifySettings,
    parse_list,
    parse_op_names,
    parse_thresholds,
)
from exporter.errors import ExportError, ParityError
from exporter.formats import INT8_FLOAT_STEM

app = typer.Typer(add_completion=False, no_args_is_help=True)
_state = {"debug": False}


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _run(call: Callable[[], Any]) -> Any:
    """Run ``call``; user errors become one line on stderr and exit code 1."""
    try:
        return call()
    except (ExportError, ValueError) as exc:
        if _state["debug"]:
            raise
        if isinstance(exc, ParityError) and exc.report is not None:
            typer.echo(exc.report.table())
        _fail(str(exc))
    except Exception as exc:
        if _state["debug"]:
            raise
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(f"{type(exc).__name__}: {line} (run with --debug for the traceback)")


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress."),
) -> None:
    """Export trainer runs to SavedModel/TFLite/ONNX, verify, inspect and bundle them."""
    _state["debug"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="Trainer run directory (model.keras, model.json)."),
    model_base_path: Path = typer.Option(Path("models"), help="Root of the model directories."),
    name: str = typer.Option(..., help="Model name: versions go to MODEL_BASE_PATH/NAME/V."),
    version: int | None = typer.Option(None, help="Version number (default: highest + 1)."),
    formats: str = typer.Option(",".join(FAMILIES), help="Comma list of savedmodel,tflite,onnx."),
    quantize: str | None = typer.Option(
        None, help="TFLite variants: float16,dynamic,int8 (default: none)."
    ),
    calibration_data: Path | None = typer.Option(None, help="npz with x (uint8 images)."),
    int8_float_ops: str = typer.Option(
        "", help="TFLite ops kept float in the int8 file, e.g. DEPTHWISE_CONV_2D (default: none)."
    ),
    int8_bias_correction: bool = typer.Option(
        True, help="Correct the mean error of the int8 weights (BENCHMARKS.md section 8)."
    ),
    int8_float_stem: int | None = typer.Option(
        None, help="The first N quantized ops after the input scaling stay float in the "
        "int8 file (at most half of its ops; the input stays uint8); 0: every op int8 "
        f"(default: {INT8_FLOAT_STEM}, BENCHMARKS.md section 8)."
    ),
    int8_finetune: bool = typer.Option(
        True, help="Fine-tune a copy for int8 activations by distilling the float model's "
        "answers on the run's training images (BENCHMARKS.md section 8)."
    ),
    top_k: int | None = typer.Option(None, help="K of the top_k outputs (default min(5, C))."),
    force: bool = typer.Option(False, help="Replace an existing version."),
    limit: int = typer.Option(256, help="Images used for the parity check."),
    thresholds: str | None = typer.Option(None, help="e.g. 'int8=0.95,float16=0.99'."),
    opset: int = typer.Option(17, help="ONNX opset."),
    trust_model: bool = typer.Option(
        False, "--trust-model", help="Load model.keras with Keras safe mode off, running any "
        "Python code it holds (Lambda layers); only for models from a trusted source."
    ),
) -> None:
    """Export RUN_DIR, verify every format against the Keras model, publish atomically."""
    from exporter.export import export_run

    def call() -> Any:
        settings = VerifySettings(limit=limit, thresholds=parse_thresholds(thresholds))
        config = ExportConfig(
            run_dir=run_dir,
            model_base_path=model_base_path,
            name=name,
            version=version,
            families=parse_list(formats, FAMILIES, "format"),
            quantize=None
            if quantize is None
            else parse_list(quantize, QUANTIZATIONS, "quantization"),
            calibration_data=calibration_data,
            int8_float_ops=parse_op_names(int8_float_ops),
            int8_bias_correction=int8_bias_correction,
            int8_finetune=int8_finetune,
            int8_float_stem=int8_float_stem,
            top_k=top_k,
            force=force,
            opset=opset,
            verify=settings,
            trust_model=trust_model,
        )
        return export_run(config)

    result = _run(call)
    typer.echo(result.parity.table())
    typer.echo(f"published {result.version_dir} in {result.seconds:.1f} s")


@app.command()
def verify(
    version_dir: Path = typer.Argument(..., help="models/NAME/VERSION"),
    data: Path | None = typer.Option(None, help="npz with x (and y) or a run's samples.npz."),
    limit: int = typer.Option(256, help="Images to use."),
    run_dir: Path | None = typer.Option(None, help="Run directory: Keras model as reference."),
    thresholds: str | None = typer.Option(None, help="e.g. 'int8=0.95,float16=0.99'."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Print the parity and speed report of a version directory; exit 1 if a format fails."""
    from exporter.verify import verify_version

    def call() -> Any:
        settings = VerifySettings(limit=limit, thresholds=parse_thresholds(thresholds))
        return verify_version(version_dir, data=data, run_dir=run_dir, settings=settings)

    report = _run(call)
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.table())
    if not report.passed:
        _fail("; ".join(f.shortfall() for f in report.failures()))


@app.command()
def inspect(
    version_dir: Path = typer.Argument(..., help="models/NAME/VERSION"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Signatures, input/output names, shapes, dtypes, labels and sizes of a version."""
    from exporter.inspection import format_inspection, inspect_version

    info = _run(lambda: inspect_version(version_dir))
    typer.echo(json.dumps(info, indent=2) if as_json else format_inspection(info))


@app.command()
def bundle(
    version_dir: Path = typer.Argument(..., help="models/NAME/VERSION"),
    out: Path = typer.Option(..., help="Directory to create for the mobile hand-off."),
    variant: str | None = typer.Option(None, help="float32, float16, dynamic or int8."),
    force: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Write model.tflite, labels.txt, metadata.json and README.md for an app developer."""
    from exporter.bundle import make_bundle

    path = _run(lambda: make_bundle(version_dir, out, variant=variant, force=force))
    typer.echo(f"bundle written to {path}")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="exporter")


if __name__ == "__main__":
    main()
