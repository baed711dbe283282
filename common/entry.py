"""Console-script launchers: check the stage's extra, then run its ``cli.main``.

Without the extra the command prints one line naming the extra to install and exits 2,
instead of an ImportError traceback from deep inside TensorFlow-dependent code.
"""

from __future__ import annotations

import importlib
import sys

from common.extras import MissingExtra, require

__all__ = ["trainer", "exporter", "serving", "clients"]


def _run(package: str, extra: str | None) -> None:
    try:
        if extra is not None:
            require(extra, f"`{package}`")
        main = importlib.import_module(f"{package}.cli").main
    except MissingExtra as exc:
        print(f"{package}: {exc}", file=sys.stderr)
        sys.exit(2)
    main()


def trainer() -> None:
    """``trainer`` command (needs ``[train]``)."""
    _run("trainer", "train")


def exporter() -> None:
    """``exporter`` command (needs ``[export]``)."""
    _run("exporter", "export")


def serving() -> None:
    """``serving`` command (needs ``[serve]``)."""
    _run("serving", "serve")


def clients() -> None:
    """``clients`` command (base install)."""
    _run("clients", None)
