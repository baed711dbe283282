"""The client-resized REST body parsed into the float32 array the backend gets, by each parser.

Issue 17 kept our C scan (``serving/codecs/_jsonarray.c``, removed since) only if it beat the
maintained JSON libraries by >= 1.5x on this body; it did not (commit e2f7692 of this script
timed it), so the server now parses float bodies with pysimdjson. Candidates, each from the
same ``bytes`` to the same ``float32`` array of shape ``[1, S, S, 3]`` (checked bit-exact
against our orjson route before timing):

- ``ours, simdjson``: ``parse_predict_request`` as the server runs it (validation, TF
  Serving's rules, the dense-shape check, simdjson);
- ``ours, orjson route``: the same with simdjson switched off;
- ``orjson + numpy``: ``orjson.loads`` then ``np.asarray(doc["instances"], np.float32)``;
- ``pysimdjson as_buffer``: ``Parser.parse`` then ``Array.as_buffer(of_type="d")`` (its
  flattening copy into a buffer), ``np.frombuffer`` and a float32 cast; the shape is read
  from the first element of each level;
- ``msgspec + numpy``: ``msgspec.json.decode`` then ``np.asarray``.

The library candidates do less than ours (no check that the array is dense, no signature
lookup, no TF Serving error rules), so their times are lower bounds of a route built on them.

CPU time of this thread (``time.thread_time``), not wall time: the machine is shared. The
candidates run interleaved, ``--calls`` calls each per round; the table gives the median of
the per-round means, and each one's ratio to the first row.

Usage::

    python bench/json_parsers.py [--rounds 15] [--calls 20] [--sizes 128,224]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable

import numpy as np
import orjson

from serving.codecs import dtypes as dt
from serving.codecs import json_numeric
from serving.codecs.json_codec import encode_predict_request, parse_predict_request
from serving.codecs.resize import resize_bilinear

Parse = Callable[[bytes], np.ndarray]


def client_resized_body(side: int) -> bytes:
    """The body ``clients predict --mode client-resize`` sends for one CIFAR image."""
    image = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    return encode_predict_request(resize_bilinear(image, side))


def _dtypes(signature: str) -> dict[str, int]:
    return {"image": dt.DT_FLOAT}


def ours(body: bytes) -> np.ndarray:
    """The server's route (simdjson for float text)."""
    return parse_predict_request(body, _dtypes).inputs["image"]


def ours_orjson(body: bytes) -> np.ndarray:
    """The server's route with simdjson switched off."""
    saved, json_numeric.simdjson = json_numeric.simdjson, None
    try:
        return parse_predict_request(body, _dtypes).inputs["image"]
    finally:
        json_numeric.simdjson = saved


def with_orjson(body: bytes) -> np.ndarray:
    """orjson's lists, then one numpy conversion."""
    return np.asarray(orjson.loads(body)["instances"], np.float32)


def _simdjson() -> Parse | None:
    if importlib.util.find_spec("simdjson") is None:
        return None
    import simdjson

    parser = simdjson.Parser()

    def parse(body: bytes) -> np.ndarray:
        array = parser.parse(body)["instances"]
        shape, level = [], array
        while isinstance(level, simdjson.Array):
            shape.append(len(level))
            level = level[0]
        flat = np.frombuffer(array.as_buffer(of_type="d"), np.float64)
        return flat.astype(np.float32).reshape(shape)

    return parse


def _msgspec() -> Parse | None:
    if importlib.util.find_spec("msgspec") is None:
        return None
    import msgspec

    decode = msgspec.json.Decoder().decode
    return lambda body: np.asarray(decode(body)["instances"], np.float32)


def candidates() -> dict[str, Parse]:
    """Every parser available here (pysimdjson and msgspec only when installed)."""
    found: dict[str, Parse] = {}
    if json_numeric.simdjson is not None:
        found["ours, simdjson"] = ours
    found["ours, orjson route"] = ours_orjson
    found["orjson + numpy"] = with_orjson
    for name, make in (("pysimdjson as_buffer", _simdjson), ("msgspec + numpy", _msgspec)):
        parse = make()
        if parse is not None:
            found[name] = parse
    return found


def per_call_us(parse: Parse, body: bytes, calls: int) -> float:
    """Mean thread CPU time of one call, in microseconds."""
    start = time.thread_time()
    for _ in range(calls):
        parse(body)
    return (time.thread_time() - start) / calls * 1e6


def run(side: int, rounds: int, calls: int) -> list[tuple[str, float, float, float]]:
    """``(name, median us, min us, max us)`` per candidate for one image size."""
    body = client_resized_body(side)
    parsers = candidates()
    reference = ours_orjson(body)
    for name, parse in parsers.items():
        got = parse(body)
        if got.dtype != np.float32 or got.shape != reference.shape:
            raise SystemExit(f"{name}: {got.dtype} {got.shape} != float32 {reference.shape}")
        if got.tobytes() != reference.tobytes():
            raise SystemExit(f"{name}: values differ from our orjson route")
    samples: dict[str, list[float]] = {name: [] for name in parsers}
    for _ in range(rounds):
        for name, parse in parsers.items():
            samples[name].append(per_call_us(parse, body, calls))
    print(f"\n{side}x{side}x3 float body, {len(body) / 1000:.0f} kB, "
          f"{rounds} rounds x {calls} calls (thread CPU time)")
    return [(name, statistics.median(s), min(s), max(s)) for name, s in samples.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--sizes", default="128,224", help="image sides, comma-separated")
    args = ap.parse_args()
    for side in (int(s) for s in args.sizes.split(",")):
        rows = run(side, args.rounds, args.calls)
        base = rows[0][1]
        print(f"| parser | CPU us/body (median) | min..max | vs {rows[0][0]} |")
        print("|---|---:|---:|---:|")
        for name, median, low, high in rows:
            print(f"| {name} | {median:.0f} | {low:.0f}..{high:.0f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
