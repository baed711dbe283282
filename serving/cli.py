"""``serving`` command line: ``serving serve`` takes tensorflow_model_server's flags.

The ``serve`` command hands its arguments untouched to ``serving.server_options.parse_flags``,
the one parser (absl.flags over the declared flag table); ``--help`` prints that table.
"""

from __future__ import annotations

import logging
import sys

import typer

from serving.errors import ServingError
from serving.server_options import FlagError, flag_help, parse_flags

__all__ = ["app", "main", "serve_command"]

app = typer.Typer(help="A TensorFlow-Serving-compatible model server.", no_args_is_help=True)
_HELP_WORDS = {"--help", "-help", "-h", "--helpfull", "-helpfull", "--helpshort", "-helpshort"}


def serve_command(argv: list[str]) -> int:
    """Run ``serving serve`` with ``argv`` (flags only); returns the exit status."""
    if any(arg in _HELP_WORDS for arg in argv):
        typer.echo("Usage: serving serve [FLAGS]\n\n" + _SERVE_HELP + "\n\n" + flag_help())
        return 0
    debug = False
    try:
        options = parse_flags(argv)
        debug = options.debug
        logging.basicConfig(
            level=logging.DEBUG if debug else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        from serving.app import run

        run(options)
    except (FlagError, ServingError, ValueError, OSError) as err:
        if debug:
            raise
        typer.echo(f"serving serve: {err}", err=True)
        return 1
    except Exception as err:  # one line unless --debug
        if debug:
            raise
        typer.echo(f"serving serve: {type(err).__name__}: {err}", err=True)
        return 1
    return 0


_SERVE_HELP = (
    "Serve models over TF Serving's REST and gRPC APIs, with tensorflow_model_server's flags."
)


@app.command(
    "serve",
    help=_SERVE_HELP + " `serving serve --help` lists every flag.",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                      "help_option_names": []},
    add_help_option=False,
)
def serve(ctx: typer.Context) -> None:
    """Serve models (flags are parsed by ``serve_command``, not by click)."""
    status = serve_command(list(ctx.args))
    if status:
        raise typer.Exit(status)


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
    app(args=sys.argv[1:], prog_name="serving")


if __name__ == "__main__":
    main()
