"""``make bench``: regenerate every benchmark result of BENCHMARKS.md from scratch.

Runs each section's script in order (printing the exact command first), one at a time so they
do not disturb each other, writes each script's report under ``bench/results/``, and then
splices the generated tables into BENCHMARKS.md between ``<!-- generated: PATH -->`` and
``<!-- end generated -->`` markers (the prose around them is written by hand from the same
files). Sections and their approximate time on 2 cores:

1. training (``train_mobilenet.py``, ~25 min): fine-tuned MobileNet, scratch baseline, RSS.
2. transfer (``transfer_bench.py``, ~25 min): cached, two-phase, scratch nets, cache ratio.
3. export (``export_mobilenet.py``, ~3 min): size, latency, agreement per format.
4. serving (``serving_bench.py``, ~16 min): ratios, added latency, naive baseline.
5. floor (``serving_floor.py``, ~2 min): what the added latency at c=1 is made of.
6. wrk (``wrk_agreement.py``, ~3 min): the latency tester against ``wrk``.
7. soak (``soak.py``, ~11 min): 10 minutes of load, errors and RSS growth.
8. peers (``peers/run.py``, ~15 min; first run also installs the peers and the load tools):
   ours vs KServe, PyTriton, MLServer on the same ONNX model under wrk / perf_analyzer / h2load.
9. seeds (``seeds.py``, hours on 2 shared cores): the five seed tutorials reproduced with
   held-out accuracy (``--only seeds``; ``python bench/seeds.py --rows nnc`` for one row).
10. recipe (``recipe_ablation.py``, ~100 min): the default recipe's ablation on held-out
    images and its CIFAR-100 run; ``throughput`` (``train_throughput.py``, ~5 min): our
    input pipeline vs a plain Keras ``model.fit`` on arrays in memory.

Usage (from the repository root, with ``../shared/data`` present)::

    python bench/run_all.py                       # everything, ~85 minutes
    python bench/run_all.py --only export,wrk     # some sections
    python bench/run_all.py --dry-run             # print the commands only
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

RUN = "runs/bench/mobilenet_a025_128"  # written by section 1, read by sections 3-6
RESULTS = Path("bench/results")
STEPS: dict[str, tuple[list[str], Path | None]] = {
    # name: (arguments after `python`, file to capture stdout into; None = script writes it)
    "training": (["bench/train_mobilenet.py"], RESULTS / "training.md"),
    "transfer": (["bench/transfer_bench.py"], None),
    "export": (["bench/export_mobilenet.py", RUN, "--limit", "512", "--repeats", "20"],
               RESULTS / "export.md"),
    "serving": (["bench/serving_bench.py", RUN], None),
    "floor": (["bench/serving_floor.py", RUN], None),
    "wrk": (["bench/wrk_agreement.py", RUN], None),
    "soak": (["bench/soak.py", RUN], None),
    "peers": (["bench/peers/run.py", RUN], None),
    "seeds": (["bench/seeds.py"], None),  # writes bench/results/seeds.md itself
    "recipe": (["bench/recipe_ablation.py"], None),  # writes bench/results/recipe.md itself
    "throughput": (["bench/train_throughput.py", "--rounds", "3"],
                   RESULTS / "train_throughput.md"),
}
MARKER = re.compile(r"(<!-- generated: (\S+) -->\n)(.*?)(<!-- end generated -->)", re.S)


def run_step(name: str, dry_run: bool) -> float:
    """Run one section (stdout to its results file when the script only prints)."""
    args, capture = STEPS[name]
    shown = shlex.join(["python", *args]) + (f" > {capture}" if capture else "")
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {shown}", flush=True)
    if dry_run:
        return 0.0
    started = time.perf_counter()
    if capture is None:
        subprocess.run([sys.executable, *args], check=True)
    else:
        done = subprocess.run([sys.executable, *args], check=True, stdout=subprocess.PIPE,
                              text=True)
        text = f"Command: `{shlex.join(['python', *args])}`\n\n{done.stdout}"
        tmp = capture.with_name(f".{capture.name}.tmp")
        tmp.write_text(text)
        tmp.replace(capture)
    return time.perf_counter() - started


def splice(document: Path) -> list[str]:
    """Replace every generated block of ``document`` by its file's current content."""
    text = document.read_text()
    used: list[str] = []

    def fill(match: re.Match[str]) -> str:
        source = Path(match.group(2))
        if not source.is_file():
            return match.group(0)
        used.append(str(source))
        return f"{match.group(1)}{source.read_text().rstrip()}\n{match.group(4)}"

    new = MARKER.sub(fill, text)
    tmp = document.with_name(f".{document.name}.tmp")
    tmp.write_text(new)
    tmp.replace(document)
    return used


def main() -> None:
    """Parse arguments, run the sections, splice BENCHMARKS.md."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(STEPS), help=f"comma list of: {', '.join(STEPS)}")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--document", type=Path, default=Path("BENCHMARKS.md"))
    args = p.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STEPS]
    if unknown:
        sys.exit(f"error: unknown section(s) {', '.join(unknown)}; known: {', '.join(STEPS)}")
    if not args.dry_run and not Path("../shared/data/cifar10/train.npz").is_file():
        sys.exit("error: ../shared/data/cifar10/train.npz not found; run from the repository "
                 "root next to ../shared")
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        seconds = run_step(name, args.dry_run)
        if not args.dry_run:
            print(f"[{time.strftime('%H:%M:%S')}] {name} done in {seconds:.0f} s", flush=True)
    if not args.dry_run:
        used = splice(args.document)
        print(f"updated {args.document} from {', '.join(used) or 'nothing'}")


if __name__ == "__main__":
    main()
