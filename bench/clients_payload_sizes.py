"""Request bytes per predict mode and protocol for CIFAR images at model input size S.

Builds the exact bodies the clients send (``RestClient.encode_predict`` /
``GrpcClient.encode_predict``; no server needed) for images from a CIFAR ``.npz`` and prints
the mean request size per image. Usage::

    python bench/clients_payload_sizes.py ../shared/data/cifar10/lossless_train2000.npz \
        [--size 128] [--count 100]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from clients.prepare import ImageItem, Mode, make_groups


def main() -> None:
    """Print a Markdown table of mean request bytes per image (batch of 1)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("npz", type=Path)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    from clients.grpc_client import GrpcClient
    from clients.rest import RestClient

    x = np.load(args.npz)["x"][: args.count]
    items = [ImageItem(array=im) for im in x]
    clients = {"REST row": RestClient("http://127.0.0.1:1", "cifar"),
               "REST columnar": RestClient("http://127.0.0.1:1", "cifar", columnar=True),
               "gRPC": GrpcClient("127.0.0.1:1", "cifar")}
    print(f"| mode (S={args.size}) | tensor bytes | " + " | ".join(clients) + " |")
    print("|---|---:|" + "---:|" * len(clients))
    for mode in Mode:
        groups = make_groups(items, mode, (args.size, args.size), batch_size=1)
        alias = "image_bytes" if mode is Mode.ENCODED else "image"
        raw = np.mean([sum(len(b) for b in g.tensor) if mode is Mode.ENCODED
                       else g.tensor.nbytes for g in groups])
        sizes = [np.mean([len(c.encode_predict(mode.signature, {alias: g.tensor}, None))
                          for g in groups]) for c in clients.values()]
        print(f"| {mode.value} | {raw:,.0f} | " + " | ".join(f"{s:,.0f}" for s in sizes) + " |")


if __name__ == "__main__":
    main()
