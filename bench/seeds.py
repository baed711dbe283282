"""The five seed tutorials' claims, reproduced CPU-sized on the shared real data (issue 15.3).

Every run is one ``trainer fit`` process (wall time and peak RSS from ``os.wait4``) with a
held-out test split (``--test-split``: stratified, seeded, never trained on nor used to pick
epochs); the number reported is the FINAL model's accuracy on those images with a 95 % Wilson
interval. Each run's result is stored in ``bench/results/seeds/`` as it finishes, so rows can be
run one at a time (``--rows``); the table (``bench/results/seeds.md``, spliced into
BENCHMARKS.md) shows every row, and the ones never run as "not run".

Rows (``--rows``, in this order by default):

- ``nnc``: Neural Network Console transfer, CIFAR-100 water animals (the most important row);
- ``hub``: TF-Hub MobileNet v1 feature vector, frozen, at 128 px;
- ``basics``: TensorFlow CNN basics (dropout on/off, batch 32/128, kill + ``--resume``);
- ``keras``: the Keras fine-tuning chapter (small CNN vs ImageNet backbone vs VGG16);
- ``input``: VGG16 + "input model" (GaussianNoise + UpSampling), CIFAR-10 and CIFAR-100;
- ``c100``: MobileNet alpha 0.25 on all 100 CIFAR-100 classes (issue 15.1's benchmark row).

Run from the repository root::

    python bench/seeds.py                      # every row, CPU-sized (hours on 2 shared cores)
    python bench/seeds.py --rows nnc,hub       # some rows; the others keep their stored result
    python bench/seeds.py --quick              # mechanics only: tiny epochs and subsets,
                                               # results under runs/seeds_quick, no BENCHMARKS edit
    python bench/seeds.py --table-only         # rebuild the table from the stored results
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

C10 = "../shared/data/cifar10/train.npz"
C100 = "../shared/data/cifar100/train.npz"
WEIGHTS = "../shared/data/weights/mobilenet_2_5_224_tf_no_top.h5"
WATER = ("beaver,dolphin,otter,seal,whale,aquarium_fish,flatfish,ray,shark,trout")
# --recipe none: the tutorials' settings are given flag by flag (trainer.recipes)
MOBILENET = ["--backbone", "mobilenet", "--alpha", "0.25", "--weights", WEIGHTS,
             "--recipe", "none"]
MARKER_FILE = "bench/results/seeds.md"


@dataclass
class Settings:
    """Full (CPU-sized) or ``--quick`` (mechanics only) sizes."""

    quick: bool
    out: Path
    cache: Path

    def epochs(self, full: int) -> list[str]:
        return ["--epochs", str(1 if self.quick else full)]

    def subset(self, quick_size: int) -> list[str]:
        """A small class-balanced training subset in quick mode, everything otherwise."""
        return ["--train-size", str(quick_size)] if self.quick else []

    def test(self, full: int, quick: int) -> list[str]:
        return ["--test-split", str(quick if self.quick else full)]


@dataclass
class Run:
    """One ``trainer fit`` of a row. ``args(settings)`` are the fit arguments without
    ``--out``; ``kill_after`` > 0 makes it a kill + ``--resume`` run."""

    key: str
    label: str
    args: Callable[[Settings], list[str]]
    kill_after: int = 0
    compare_to: str = ""  # for a kill/resume run: the uninterrupted run's key


@dataclass
class Row:
    """One tutorial: its claim and protocol, ours, and what differs."""

    key: str
    number: str
    tutorial: str
    ours: str
    differs: str
    runs: list[Run] = field(default_factory=list)


def _c10(s: Settings) -> list[str]:
    return ["--data", C10, *s.test(1000, 200), "--val-split", "0.1", "--seed", "0"]


def _water(s: Settings) -> list[str]:
    return ["--data", C100, "--classes", WATER, *s.test(1000, 200), "--val-split", "0.1",
            "--seed", "0"]


def _scratch(backbone: str, batch: int = 64, extra: tuple[str, ...] = ()) -> list[str]:
    return ["--backbone", backbone, "--weights", "none", "--image-size", "32",
            "--optimizer", "adam", "--lr", "1e-3", "--batch-size", str(batch), *extra]


def _frozen_mobilenet(s: Settings, epochs: int) -> list[str]:
    return [*MOBILENET, "--image-size", "128", "--freeze", "all", "--cache-features",
            "--lr", "1e-3", "--schedule", "cosine", "--batch-size", "64", *s.epochs(epochs),
            "--cache-dir", str(s.cache)]


def rows() -> list[Row]:
    """The tutorials' claims and our CPU-sized protocols."""
    pre = "nnc_pretrain_c10"
    return [
        Row("nnc", "3", "Neural Network Console transfer: CIFAR-100, 10 water-animal classes "
            "(aquatic mammals + fish), 400 train / 100 test images per class; mini-VGG with "
            "BatchNorm after every conv, batch 64, 50 epochs: from scratch **57.4 %**, "
            "pre-trained on CIFAR-10 with conv1-6 frozen **60.1 %**",
            "same classes, net (`mini_vgg`: 6 convs + BN), batch 64, 50 epochs, Adam 1e-3; "
            "`--init-from` a CIFAR-10 run with `--freeze block3_bn2` (= conv1-6, so only the "
            "head trains, on cached features); plus the "
            "ImageNet MobileNet α0.25 (frozen, cached features, 128 px)",
            "the official held-out 100/class are not here: we hold out 100/class of the 400 "
            "(`--test-split 1000`), so we train on 270 + validate on 30 per class instead of "
            "400; CIFAR-10 pre-training is CPU-sized (10 epochs on 8,100 images)",
            [Run(pre, "pre-training: mini_vgg on CIFAR-10 (source of the transfer)",
                 lambda s: [*_c10(s), *_scratch("mini_vgg"), *s.epochs(10), *s.subset(200)]),
             Run("nnc_transfer", "mini_vgg from the CIFAR-10 run, conv1-6 frozen",
                 lambda s: [*_water(s), *_scratch("mini_vgg"), "--init-from", str(s.out / pre),
                            "--freeze", "block3_bn2", *s.epochs(50), *s.subset(100)]),
             Run("nnc_transfer_fc", "same, with a trainable Dense 256 layer before the "
                 "output (conv1-6 frozen, the FC part trained)",
                 lambda s: [*_water(s), *_scratch("mini_vgg"), "--init-from", str(s.out / pre),
                            "--freeze", "block3_bn2", "--dense", "256", "--dropout", "0.5",
                            *s.epochs(50), *s.subset(100)]),
             Run(pre + "_cos", "pre-training again with a cosine schedule and flips (the "
                 "constant-rate run above ended on a weak epoch: validation 47.7 % final vs "
                 "59.6 % best)",
                 lambda s: [*_c10(s), *_scratch("mini_vgg", 64, ("--schedule", "cosine",
                                                                 "--augment", "flip")),
                            *s.epochs(15), *s.subset(200)]),
             Run("nnc_transfer_cos", "from the cosine pre-training, conv1-6 frozen",
                 lambda s: [*_water(s), *_scratch("mini_vgg"), "--init-from",
                            str(s.out / (pre + "_cos")), "--freeze", "block3_bn2",
                            *s.epochs(50), *s.subset(100)]),
             Run("nnc_transfer_fc_cos", "from the cosine pre-training, conv1-6 frozen, "
                 "trainable Dense 256",
                 lambda s: [*_water(s), *_scratch("mini_vgg"), "--init-from",
                            str(s.out / (pre + "_cos")), "--freeze", "block3_bn2", "--dense",
                            "256", "--dropout", "0.5", *s.epochs(50), *s.subset(100)]),
             Run("nnc_transfer_conv14_cos", "from the cosine pre-training, only conv1-4 "
                 "frozen (conv5-6 and the head train)",
                 lambda s: [*_water(s), *_scratch("mini_vgg"), "--init-from",
                            str(s.out / (pre + "_cos")), "--freeze", "block2_bn2",
                            *s.epochs(50), *s.subset(100)]),
             Run("nnc_scratch", "mini_vgg from scratch",
                 lambda s: [*_water(s), *_scratch("mini_vgg"), *s.epochs(50), *s.subset(100)]),

             Run("nnc_mobilenet", "MobileNet α0.25 ImageNet, frozen, 128 px",
                 lambda s: [*_water(s), *_frozen_mobilenet(s, 30), *s.subset(100)])]),
        Row("hub", "2", "TF-Hub MobileNet v1 feature vector (frozen) at 128 px + softmax, "
            "50,000 CIFAR-10 images: **83.35 %**",
            "Keras MobileNet v1 α0.25 ImageNet weights (the only weights here), frozen, 128 px, "
            "cached features, softmax head, 30 epochs",
            "no TF-Hub download possible, and α0.25 is 1/16 of the compute of the hub module's "
            "α1.0; 8,100 training images (10,000 minus the 1,000 held out and 900 validation) "
            "instead of 50,000",
            [Run("hub_frozen128", "frozen MobileNet α0.25, 128 px, cached",
                 lambda s: [*_c10(s), *_frozen_mobilenet(s, 30), *s.subset(200)])]),
        Row("basics", "5", "TensorFlow CNN basics: a small CNN, batch size and dropout, "
            "checkpoint save/restore (no accuracy claim)",
            "`small_cnn` (conv 32 + pool + dense 100) at 32 px, 15 epochs, Adam 1e-3: dropout "
            "0 / 0.5 at batch 32, batch 128, and the batch-32 run killed (SIGKILL) after epoch "
            "5 and continued with `--resume`",
            "CIFAR-10 8,100 training images (the tutorial uses the 50,000)",
            [Run("basics_b32", "batch 32, no dropout",
                 lambda s: [*_c10(s), *_scratch("small_cnn", 32), *s.epochs(15),
                            *s.subset(200)]),
             Run("basics_b32_drop", "batch 32, dropout 0.5",
                 lambda s: [*_c10(s), *_scratch("small_cnn", 32, ("--dropout", "0.5")),
                            *s.epochs(15), *s.subset(200)]),
             Run("basics_b128", "batch 128, no dropout",
                 lambda s: [*_c10(s), *_scratch("small_cnn", 128), *s.epochs(15),
                            *s.subset(200)]),
             Run("basics_resume", "batch 32, killed after epoch 5, `--resume`d",
                 lambda s: [*_c10(s), *_scratch("small_cnn", 32),
                            "--epochs", "3" if s.quick else "15", *s.subset(200)],
                 kill_after=5, compare_to="basics_b32")]),
        Row("keras", "1", "Keras fine-tuning chapter: small CNN from scratch on 10,000 "
            "CIFAR-10 images **52.7 %** vs VGG16 ImageNet fine-tuned at 224 px **86 %**",
            "`small_cnn` from scratch; MobileNet α0.25 ImageNet fine-tuned at 128 px (head 5 "
            "epochs cached + 3 epochs whole net, flips); VGG16 from scratch at 32 px (the "
            "architecture only, 10 epochs)",
            "VGG16 ImageNet weights cannot be downloaded here; 224 px fine-tuning is not "
            "CPU-sized (128 px); 8,100 training images",
            [Run("keras_small_cnn", "small CNN from scratch, 32 px",
                 lambda s: [*_c10(s), *_scratch("small_cnn", 32), *s.epochs(15),
                            *s.subset(200)]),
             Run("keras_mobilenet_ft", "MobileNet α0.25 ImageNet, fine-tuned, 128 px",
                 lambda s: [*_c10(s), *MOBILENET, "--image-size", "128", "--freeze", "all",
                            "--augment", "flip", "--lr", "1e-3", "--schedule", "cosine",
                            "--batch-size", "32", *s.epochs(5), "--fine-tune-epochs",
                            "1" if s.quick else "3", "--fine-tune-lr", "2e-4",
                            "--cache-dir", str(s.cache), *s.subset(200)]),
             Run("keras_vgg16_scratch", "VGG16 from scratch, 32 px",
                 lambda s: [*_c10(s), *_scratch("vgg16", 64, ("--augment", "flip")),
                            *s.epochs(10), *s.subset(200)])]),
        Row("input", "4", "VGG16 + input model (GaussianNoise + UpSampling to 160 px), GPU: "
            "CIFAR-10 **96.08 %**, CIFAR-100 **80.24 %**",
            "the input model (`--input-noise 10 --upsample 5`: 32 -> 160 px) in front of "
            "MobileNet α0.25 ImageNet, head 2 epochs + whole net 2 epochs, batch 32",
            "VGG16 weights unavailable; GPU-sized epochs impossible on 2 shared cores; "
            "CIFAR-10 8,100 / CIFAR-100 27,000 training images (we hold out 1,000 / 10,000). "
            "GPU command: `trainer fit --data cifar10 --test-data cifar10:test --backbone "
            "vgg16 --input-noise 10 --upsample 5 --image-size 32 --freeze all --epochs 5 "
            "--fine-tune-epochs 20 --augment flip`",
            [Run("input_c10", "CIFAR-10, noise + upsample x5, MobileNet α0.25",
                 lambda s: [*_c10(s), *MOBILENET, "--image-size", "32", "--upsample", "5",
                            "--input-noise", "10", "--freeze", "all", "--no-cache-features",
                            "--lr", "1e-3", "--batch-size", "32", *s.epochs(2),
                            "--fine-tune-epochs", "1" if s.quick else "2",
                            "--fine-tune-lr", "2e-4", *s.subset(200)]),
             Run("input_c100", "CIFAR-100 (100 classes), same",
                 lambda s: ["--data", C100, *s.test(10000, 200), "--val-split", "0.1",
                            "--seed", "0", *MOBILENET, "--image-size", "32", "--upsample",
                            "5", "--input-noise", "10", "--freeze", "all",
                            "--no-cache-features", "--lr", "1e-3", "--batch-size", "32",
                            *s.epochs(2), "--fine-tune-epochs", "1" if s.quick else "2",
                            "--fine-tune-lr", "2e-4", *s.subset(400)])]),
        Row("c100", "15.1", "(no tutorial) CIFAR-100, all 100 classes, MobileNet α0.25 "
            "ImageNet on 2 cores: wall time and peak RSS",
            "frozen MobileNet α0.25 at 128 px, cached features, 30 epochs; 100 held-out images "
            "per class (`--test-split 10000`)",
            "27,000 training images (40,000 minus 10,000 held out and 3,000 validation)",
            [Run("c100_frozen128", "MobileNet α0.25 frozen, 128 px, 100 classes",
                 lambda s: ["--data", C100, *s.test(10000, 200), "--val-split", "0.1",
                            "--seed", "0", *_frozen_mobilenet(s, 30), *s.subset(400)])]),
    ]


def _history_epochs(out: Path) -> int:
    path = out / "history.csv"
    if not path.is_file():
        return 0
    with path.open(newline="") as fh:
        return len(list(csv.DictReader(fh)))


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-m", "trainer.cli", *args], env=env)


def _wait(proc: subprocess.Popen[bytes]) -> tuple[int, float]:
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024  # Linux: KiB


def run_one(run: Run, settings: Settings) -> dict[str, Any]:
    """Run one fit (or a kill + resume pair) and return its stored record."""
    out = settings.out / run.key
    args = ["fit", *run.args(settings), "--out", str(out), "--overwrite", "--quiet"]
    commands = [f"trainer {shlex.join(args)}"]
    print(f"$ {commands[0]}", flush=True)
    start = time.perf_counter()
    proc = _spawn(args)
    killed_at = 0
    if run.kill_after:
        kill_at = 2 if settings.quick else run.kill_after
        while proc.poll() is None and _history_epochs(out) < kill_at:
            time.sleep(0.2)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed_at = _history_epochs(out)
    code, rss = _wait(proc)
    if killed_at:
        resume = ["fit", *run.args(settings), "--out", str(out), "--resume", "--quiet"]
        commands.append(f"kill -9 after epoch {killed_at}; trainer {shlex.join(resume)}")
        print(f"$ {commands[-1]}", flush=True)
        code, rss2 = _wait(_spawn(resume))
        rss = max(rss, rss2)
    wall = time.perf_counter() - start
    metrics = {}
    if code == 0 and (out / "metrics.json").is_file():
        metrics = json.loads((out / "metrics.json").read_text())
    record = {"key": run.key, "label": run.label, "commands": commands, "exit_code": code,
              "wall_s": round(wall, 1), "peak_rss_mb": round(rss), "killed_at": killed_at,
              "test": metrics.get("test"), "epochs_run": metrics.get("epochs_run"),
              "best_val_accuracy": metrics.get("best_val_accuracy"),
              "num_train": metrics.get("num_train"),
              "finished_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    test = record["test"] or {}
    print(f"  -> exit {code}, {wall:.0f} s, held-out {test.get('accuracy', float('nan')):.4f}"
          f" on {test.get('num_images', 0)} images", flush=True)
    return record


def _fmt_result(rec: dict[str, Any] | None, stored: dict[str, dict[str, Any]],
                run: Run) -> tuple[str, str, str]:
    if rec is None:
        return "not run", "—", "—"
    if rec["exit_code"] != 0 or not rec.get("test"):
        return f"failed (exit {rec['exit_code']})", f"{rec['wall_s']:.0f}", "—"
    t = rec["test"]
    text = (f"**{100 * t['accuracy']:.1f} %** [{100 * t['ci95'][0]:.1f}, "
            f"{100 * t['ci95'][1]:.1f}], n={t['num_images']:,}")
    if run.compare_to and rec.get("killed_at"):
        base = (stored.get(run.compare_to) or {}).get("test") or {}
        same = "same as" if base.get("correct") == t["correct"] else "differs from"
        text += f"; killed after epoch {rec['killed_at']}, {same} the uninterrupted run"
    return text, f"{rec['wall_s']:.0f}", f"{rec['peak_rss_mb']:,}"


def write_table(stored: dict[str, dict[str, Any]], path: Path, quick: bool) -> None:
    """The markdown table of every row (stored results; "not run" where there is none)."""
    lines = ["| # | tutorial: claim (their protocol) | ours | what differs and why | run | "
             "held-out accuracy (final model) [95 % Wilson CI], n | wall s | peak RSS MB |",
             "|---|---|---|---|---|---|---:|---:|"]
    for row in rows():
        for i, run in enumerate(row.runs):
            head = (row.number, row.tutorial, row.ours, row.differs) if i == 0 else ("", "", "",
                                                                                      "")
            acc, wall, rss = _fmt_result(stored.get(run.key), stored, run)
            lines.append(f"| {' | '.join(head)} | {run.label} | {acc} | {wall} | {rss} |")
    finished = sorted(r["finished_utc"] for r in stored.values())
    when = f"{finished[0]} – {finished[-1]}" if finished else "nothing run yet"
    notes = [f"Runs finished {when}, on 2 CPU cores **shared with 7 other engineers' jobs** "
             "(wall times are inflated and only comparable within one row)." if finished else "",
             "QUICK MODE: mechanics only, tiny subsets and 1 epoch; these numbers mean "
             "nothing." if quick else "",
             "Every number is the final model (`model.keras`) on a stratified, seeded held-out "
             "split (`--test-split`, saved in the run as `test_split.npz`; re-score with "
             "`trainer evaluate RUN --test-split`) never used for training or for choosing "
             "epochs. Commands per run: `bench/results/seeds/*.json` (`commands`)."]
    text = "\n".join(lines) + "\n\n" + "\n\n".join(n for n in notes if n) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def load_stored(directory: Path) -> dict[str, dict[str, Any]]:
    """Every stored run record by key."""
    if not directory.is_dir():
        return {}
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def main() -> None:
    """Parse arguments, run the chosen rows, write the table (and splice BENCHMARKS.md)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    known = [r.key for r in rows()]
    p.add_argument("--rows", default=",".join(known), help=f"comma list of: {', '.join(known)}")
    p.add_argument("--runs", default="", help="only these run keys of the chosen rows "
                   "(e.g. to run two in parallel)")
    p.add_argument("--quick", action="store_true", help="tiny subsets and epochs (mechanics)")
    p.add_argument("--table-only", action="store_true", help="only rebuild the table")
    p.add_argument("--document", type=Path, default=Path("BENCHMARKS.md"))
    args = p.parse_args()
    chosen = [s.strip() for s in args.rows.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in known]
    if unknown:
        sys.exit(f"error: unknown row(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if not args.table_only and not (Path(C10).is_file() and Path(C100).is_file()):
        sys.exit(f"error: {C10} or {C100} not found; run from the repository root next to "
                 "../shared")
    base = Path("runs/seeds_quick" if args.quick else "runs/seeds")
    settings = Settings(args.quick, base, base / "cache")
    store = Path("runs/seeds_quick/results" if args.quick else "bench/results/seeds")
    table = Path("runs/seeds_quick/seeds.md" if args.quick else MARKER_FILE)
    store.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        by_key = {row.key: row for row in rows()}
        for key in chosen:  # in the order given
            for run in by_key[key].runs:
                if args.runs and run.key not in args.runs.split(","):
                    continue
                record = run_one(run, settings)
                tmp = store / f".{run.key}.json.tmp"
                tmp.write_text(json.dumps(record, indent=1) + "\n")
                tmp.replace(store / f"{run.key}.json")
                write_table(load_stored(store), table, args.quick)
    write_table(load_stored(store), table, args.quick)
    print(f"wrote {table}")
    if not args.quick:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from run_all import splice

        print(f"updated {args.document} from {', '.join(splice(args.document)) or 'nothing'}")


if __name__ == "__main__":
    main()
