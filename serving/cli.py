"""``serving`` command line: ``serving serve`` takes tensorflow_model_server's flags.

The typer command declares every flag (so ``--help`` lists them); values are handed, as
``--name=value`` tokens, to ``serving.server_options.parse_flags``, the one flag parser.
gflags spellings (``-flag=v``, ``--flag`` / ``--noflag`` for booleans) are normalised first.
"""

from __future__ import annotations

import inspect
import logging
import sys
from dataclasses import fields

import typer

from serving.errors import ServingError
from serving.server_options import HELP, IGNORED, FlagError, ServerOptions, parse_flags

__all__ = ["app", "main"]

app = typer.Typer(help="A TensorFlow-Serving-compatible model server.", no_args_is_help=True)
_BOOLS = {f.name for f in fields(ServerOptions) if f.type == "bool"}
_NAMES = [f.name for f in fields(ServerOptions)] + sorted(IGNORED)


def _normalise(argv: list[str]) -> list[str]:
    """gflags forms -> ``--name=value`` tokens click can parse."""
    out = []
    for arg in argv:
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
            arg = "-" + arg
        if arg.startswith("--") and "=" not in arg:
            name = arg[2:]
            if name in _BOOLS:
                arg = f"--{name}=true"
            elif name.startswith("no") and name[2:] in _BOOLS:
                arg = f"--{name[2:]}=false"
        out.append(arg)
    return out


def _serve(**values: str | None) -> None:
    argv = [f"--{name}={value}" for name, value in values.items() if value is not None]
    debug = values.get("debug") in ("true", "1", "yes")
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        options = parse_flags(argv)
        from serving.app import run

        run(options)
    except (FlagError, ServingError, ValueError, OSError) as err:
        if debug:
            raise
        typer.echo(f"serving serve: {err}", err=True)
        raise typer.Exit(1) from None
    except Exception as err:  # ServingError and friends: one line unless --debug
        if debug:
            raise
        typer.echo(f"serving serve: {type(err).__name__}: {err}", err=True)
        raise typer.Exit(1) from None


_DEFAULTS = {f.name: f.default for f in fields(ServerOptions)}


def _parameter(name: str) -> inspect.Parameter:
    text = HELP.get(name, "accepted for TF Serving compatibility; no effect")
    if name in _DEFAULTS and _DEFAULTS[name] not in ("", None):
        text += f" (default: {str(_DEFAULTS[name]).lower()})"
    option = typer.Option(
        None,
        f"--{name}",
        help=text,
        hidden=name in IGNORED,
        show_default=False,
    )
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=str | None
    )


_serve.__signature__ = inspect.Signature([_parameter(n) for n in _NAMES])
app.command(
    "serve",
    help="Serve models over TF Serving's REST and gRPC APIs (tensorflow_model_server flags; "
    "booleans accept --flag, --flag=true|false, --noflag).",
)(_serve)


@app.command("version")
def version() -> None:
    """Print the package version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        typer.echo(dist_version("tfserve-kit"))
    except PackageNotFoundError:
        typer.echo("unknown")


def main() -> None:
    """Console entry point (``serving``)."""
    argv = sys.argv[1:]
    if argv and argv[0] == "serve":
        argv = ["serve", *_normalise(argv[1:])]
    app(args=argv, prog_name="serving")
