"""Side-by-side probe of the dynamic batcher under concurrent load, old code vs new code.

``ServingCore`` with batching (max_batch_size 16, num_batch_threads 2, timeout 0 and 2000 us)
around a fake model whose call costs ``--fixed-ms`` + ``--row-ms`` per row in a GIL-free sleep
(so the numbers are the batcher's, not a model's), driven by ``--concurrency`` closed-loop
clients for ``--seconds``. Both revisions run in one process, interleaved round by round, with
the inference pool at 2 threads (prefetch on: one full batch may wait inside the pool) and at
4 threads (prefetch off). Reports throughput, mean batch size, p99 latency and requests that
did not complete within ``--deadline`` seconds (the old dispatcher race loses requests).

Usage (from the repository root)::

    python bench/batching_probe.py [--old-rev REV] [--rounds 3] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving_micro import load_old_serving  # noqa: E402

DEFAULT_OLD_REV = "175a5b4"  # the last commit before issue 13's batching fix


class SleepBackend:
    """A model whose call costs ``fixed + rows * per_row`` seconds of GIL-free sleep."""

    platform = "onnx"

    def __init__(self, fixed: float, per_row: float) -> None:
        self.fixed, self.per_row = fixed, per_row
        self.calls = 0

    def signature_defs(self):
        from tensorflow_serving.apis import get_model_metadata_pb2

        return get_model_metadata_pb2.SignatureDefMap()

    def predict(self, signature_name, inputs, output_filter=()):
        """y = x, after sleeping the call's cost."""
        x = inputs["x"]
        self.calls += 1
        time.sleep(self.fixed + self.per_row * x.shape[0])
        return {"y": x.copy()}


def probe(pkg: str, workers: int, timeout_us: int, args) -> dict:
    """One closed-loop run; returns throughput, mean batch, p99 and lost requests."""
    core_mod = importlib.import_module(f"{pkg}.core")
    batching_mod = importlib.import_module(f"{pkg}.batching")
    servables = importlib.import_module(f"{pkg}.servables")
    options = batching_mod.BatchingOptions(
        max_batch_size=16, batch_timeout_micros=timeout_us, num_batch_threads=2,
        max_enqueued_batches=100,
    )
    backend = SleepBackend(args.fixed_ms / 1e3, args.row_ms / 1e3)

    async def main() -> dict:
        core = core_mod.ServingCore(None, batching=options, workers=workers)
        served = servables.ServedVersion("m", 1, "onnx", backend)
        latencies: list[float] = []
        lost = wrong = 0
        stop = time.perf_counter() + args.seconds

        async def client(i: int) -> None:
            nonlocal lost, wrong
            n = 0
            while time.perf_counter() < stop:
                x = np.full((1, 4), i * 1e6 + n, np.float32)
                start = time.perf_counter()
                try:
                    out = await asyncio.wait_for(
                        core.predict(served, "", {"x": x}), args.deadline
                    )
                except TimeoutError:
                    lost += 1
                    continue
                latencies.append(time.perf_counter() - start)
                wrong += int(not np.array_equal(out["y"], x))
                n += 1

        began = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(args.concurrency)))
        elapsed = time.perf_counter() - began
        core.close()
        latencies.sort()
        return {
            "rps": len(latencies) / elapsed,
            "batch": len(latencies) / max(backend.calls, 1),
            "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1e3 if latencies else 0.0,
            "lost": lost,
            "wrong": wrong,
        }

    return asyncio.run(main())


def main() -> None:
    """Interleave old and new for every setting; print a table of medians over rounds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-rev", default=DEFAULT_OLD_REV)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fixed-ms", type=float, default=2.0)
    parser.add_argument("--row-ms", type=float, default=0.2)
    parser.add_argument("--deadline", type=float, default=5.0)
    args = parser.parse_args()
    settings = [(w, t) for w in (2, 4) for t in (0, 2000)]
    with tempfile.TemporaryDirectory() as tmp:
        old = load_old_serving(args.old_rev, Path(tmp))
        rows: dict = {s: {"old": [], "new": []} for s in settings}
        for _ in range(args.rounds):
            for setting in settings:
                for tag, pkg in (("old", old), ("new", "serving")):
                    rows[setting][tag].append(probe(pkg, *setting, args))
    print(f"old = {args.old_rev}, new = working tree; c={args.concurrency}, model "
          f"{args.fixed_ms} ms + {args.row_ms} ms/row; {args.rounds} interleaved rounds of "
          f"{args.seconds:.0f} s; medians (lost/wrong: totals)")
    print("| pool threads (prefetch) | timeout us | old req/s | new req/s | new/old | "
          "old batch | new batch | old p99 ms | new p99 ms | old lost | new lost | wrong |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (workers, timeout_us), by_tag in rows.items():
        med = {t: {k: statistics.median(r[k] for r in v) for k in ("rps", "batch", "p99_ms")}
               for t, v in by_tag.items()}
        lost = {t: sum(r["lost"] for r in v) for t, v in by_tag.items()}
        wrong = sum(r["wrong"] for v in by_tag.values() for r in v)
        prefetch = "on" if workers <= 2 else "off"
        print(f"| {workers} ({prefetch}) | {timeout_us} | {med['old']['rps']:.0f} | "
              f"{med['new']['rps']:.0f} | {med['new']['rps'] / med['old']['rps']:.2f} | "
              f"{med['old']['batch']:.1f} | {med['new']['batch']:.1f} | "
              f"{med['old']['p99_ms']:.1f} | {med['new']['p99_ms']:.1f} | {lost['old']} | "
              f"{lost['new']} | {wrong} |")


if __name__ == "__main__":
    main()
