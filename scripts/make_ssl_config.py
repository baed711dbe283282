#!/usr/bin/env python3
"""Write a TF Serving ``SSLConfig`` text proto (for ``--ssl_config_file``) from PEM files.

    python scripts/make_ssl_config.py --key server.key --cert server.pem \
        [--ca clients-ca.pem --client-verify] --out ssl.config

The fields hold the PEM *text* (as tensorflow_model_server and ``serving serve`` expect),
one quoted line per PEM line. The output is written to a temporary file with mode 0600 and
renamed into place. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def _field(name: str, path: Path) -> str:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"make_ssl_config: cannot read {path}: {exc}") from None
    if "-----BEGIN " not in text:
        raise SystemExit(f"make_ssl_config: {path} is not a PEM file (no '-----BEGIN')")
    lines = [line.replace("\\", "\\\\").replace('"', '\\"') for line in text.strip().splitlines()]
    return f"{name}: " + "\n  ".join(f'"{line}\\n"' for line in lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", type=Path, required=True, help="server private key (PEM)")
    parser.add_argument("--cert", type=Path, required=True, help="server certificate chain")
    parser.add_argument("--ca", type=Path, help="CA that signs client certificates (PEM)")
    parser.add_argument("--client-verify", action="store_true",
                        help="require client certificates signed by --ca (mutual TLS)")
    parser.add_argument("--out", type=Path, required=True, help="SSLConfig file to write")
    args = parser.parse_args(argv)
    if args.client_verify and args.ca is None:
        parser.error("--client-verify needs --ca (the CA that signs client certificates)")
    text = _field("server_key", args.key) + _field("server_cert", args.cert)
    if args.ca is not None:
        text += _field("custom_ca", args.ca)
    if args.client_verify:
        text += "client_verify: true\n"
    out = args.out
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "w") as handle:  # mkstemp creates it with mode 0600
            handle.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
