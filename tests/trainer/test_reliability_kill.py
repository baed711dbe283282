"""``trainer fit`` killed with SIGKILL and continued with ``--resume``: a run killed mid-epoch
ends exactly where the same command run uninterrupted ends (weights, optimizer state,
history, metrics: ``trainer/checkpoint.py`` promises a resumed run repeats an uninterrupted
one); a run killed over and over at random moments, some of them while a checkpoint file is
being written, never leaves a checkpoint that ``--resume`` cannot use; the same holds for a
two-phase run killed in its cached-features phase. Every run is a subprocess."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.process_kill import kill_when
from tests.trainer.data_factory import write_npz

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 5
# columns of history.csv that a resumed run must reproduce (the rest are timings)
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "phase")
METRICS = ("accuracy_before_training", "loss_before_training", "final_val_accuracy",
           "final_val_loss", "final_val_top5_accuracy", "best_val_accuracy", "best_val_loss",
           "best_epoch", "epochs_run", "stopped_early", "per_class_accuracy",
           "confusion_matrix", "total_params", "trainable_params", "num_train", "num_val")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """512 generated 32x32 images in 4 classes (384 for training: 24 steps of 16)."""
    path = tmp_path_factory.mktemp("data") / "kill.npz"
    write_npz(path, n_per_class=128, classes=4, size=32, seed=1)
    return path


def fit_args(data: Path, out: Path, *extra: str) -> list[str]:
    """The ``trainer fit`` command of these tests (dropout and flips: random state to keep)."""
    return ["fit", "--data", str(data), "--out", str(out), "--backbone", "small_cnn",
            "--weights", "none", "--epochs", str(EPOCHS), "--batch-size", "16",
            "--val-split", "0.25", "--seed", "5", "--dropout", "0.2", "--augment", "flip",
            "--quiet", *extra]


def start(args: list[str]) -> subprocess.Popen[str]:
    """``python -m trainer.cli ARGS`` in its own session (so a kill reaches all of it)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-m", "trainer.cli", *args], cwd=ROOT, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def finish(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run to the end; fail the test with stderr's tail if it does not exit 0."""
    proc = start(args)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return subprocess.CompletedProcess(args, 0, out, err)


def state(run: Path) -> dict[str, Any] | None:
    """``checkpoints/state.json`` (None while there is none)."""
    try:
        return json.loads((run / "checkpoints" / "state.json").read_text())
    except (OSError, ValueError):
        return None


def check_checkpoint(run: Path) -> dict[str, Any]:
    """The commit point names a complete ``.keras`` archive (a sound zip with config and
    weights); returns the state."""
    saved = state(run)
    assert saved is not None, f"no readable state.json in {run / 'checkpoints'}"
    model_file = run / "checkpoints" / saved["model_file"]
    with zipfile.ZipFile(model_file) as archive:
        assert archive.testzip() is None
        assert {"config.json", "model.weights.h5"} <= set(archive.namelist())
    return saved


def history(run: Path) -> list[dict[str, str]]:
    """``history.csv`` rows, only the columns a resumed run must reproduce."""
    with (run / "history.csv").open() as handle:
        return [{k: row[k] for k in HISTORY_COLUMNS} for row in csv.DictReader(handle)]


def assert_same_run(full: Path, resumed: Path) -> None:
    """Bit-identical final weights and optimizer state (the trainer seeds everything and
    turns on TF op determinism), identical history (timings aside) and metrics, and every
    file of a finished run."""
    import keras

    a = keras.saving.load_model(full / "model.keras", safe_mode=True)
    b = keras.saving.load_model(resumed / "model.keras", safe_mode=True)
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a.optimizer.variables, b.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert history(full) == history(resumed)
    m_full = json.loads((full / "metrics.json").read_text())
    m_resumed = json.loads((resumed / "metrics.json").read_text())
    assert all(k in m_full for k in METRICS), sorted(m_full)
    assert {k: m_full[k] for k in METRICS} == {k: m_resumed.get(k) for k in METRICS}
    for name in ("best.keras", "loss.png", "accuracy.png", "confusion_matrix.png",
                 "samples.npz", "model.json", "labels.txt"):
        assert (resumed / name).is_file(), name


@pytest.fixture(scope="module")
def reference(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The uninterrupted run and its mean epoch time (epochs after the first)."""
    out = tmp_path_factory.mktemp("full") / "run"
    finish(fit_args(data, out))
    times = [float(r["epoch_time_s"]) for r in csv.DictReader((out / "history.csv").open())]
    return out, sum(times[1:]) / len(times[1:])


def test_killed_mid_epoch_resume_equals_uninterrupted(data: Path, reference, tmp_path: Path
                                                      ) -> None:
    full, epoch_s = reference
    out = tmp_path / "run"
    proc = start(fit_args(data, out))
    first: list[float] = []

    def mid_second_epoch() -> bool:  # epoch 1 checkpointed, epoch 2 about half done
        saved = state(out)
        if saved is None or saved["epochs_done"] < 1:
            return False
        first.append(time.monotonic()) if not first else None
        return time.monotonic() - first[0] >= 0.4 * epoch_s

    assert kill_when(proc, mid_second_epoch), "the run finished before it could be killed"
    saved = check_checkpoint(out)
    assert 1 <= saved["epochs_done"] < EPOCHS
    assert not (out / "model.keras").exists() and not (out / "metrics.json").exists()
    resumed = finish(fit_args(data, out, "--resume"))
    assert "val accuracy" in resumed.stdout
    assert_same_run(full, out)


def _writing_checkpoint(run: Path) -> Callable[[], bool]:
    """True once a new checkpoint temp file (``.epoch-*.keras.*.tmp.keras`` or
    ``.state.json.*.tmp``) exists, i.e. a checkpoint is being written (temp files that a
    previous kill left are not counted: ``--resume`` removes them as it starts)."""
    folder = run / "checkpoints"

    def temps() -> set[str]:
        try:
            return {p.name for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name}
        except OSError:
            return set()

    before = temps()
    return lambda: bool(temps() - before)


def _after(seconds: float) -> Callable[[], bool]:
    at = time.monotonic() + seconds
    return lambda: time.monotonic() >= at


def _after_next_checkpoint(run: Path, seconds: float) -> Callable[[], bool]:
    """True ``seconds`` after the resumed process commits its first new checkpoint (a random
    moment in the next epoch, its validation or its checkpoint writing)."""
    done = (state(run) or {}).get("epochs_done", 0)
    committed: list[float] = []

    def ready() -> bool:
        if not committed and (state(run) or {}).get("epochs_done", 0) > done:
            committed.append(time.monotonic())
        return bool(committed) and time.monotonic() - committed[0] >= seconds

    return ready


def test_repeated_random_kills_never_corrupt_the_checkpoint(data: Path, reference,
                                                             tmp_path: Path) -> None:
    full, epoch_s = reference
    seed = int(time.time())
    rng = random.Random(seed)
    out = tmp_path / "run"
    # the first kill waits for a checkpoint (before one, there is nothing to resume)
    proc = start(fit_args(data, out))
    assert kill_when(proc, lambda: state(out) is not None)
    kills: list[str] = ["after the first checkpoint"]
    plan = ["writing", "next", "startup", "writing", "next"]
    for kind in plan:
        check_checkpoint(out)
        if kind == "writing":
            label, ready = "while writing a checkpoint", _writing_checkpoint(out)
        elif kind == "next":
            delay = rng.uniform(0.0, 1.5 * epoch_s)
            label, ready = f"{delay:.2f} s after a new checkpoint", _after_next_checkpoint(
                out, delay)
        else:
            delay = rng.uniform(1.0, 8.0)
            label, ready = f"{delay:.1f} s after start", _after(delay)
        proc = start(fit_args(data, out, "--resume"))
        if kill_when(proc, ready):
            left = sorted(p.name for p in (out / "checkpoints").iterdir() if ".tmp" in p.name)
            kills.append(f"{label} (epochs_done {state(out)['epochs_done']}, left {left})")
        else:
            assert proc.returncode == 0, f"resume failed after kills {kills} (seed {seed})"
            break
    if not (out / "metrics.json").exists():
        finish(fit_args(data, out, "--resume"))
    leftovers = sorted(p.name for p in (out / "checkpoints").iterdir()
                       if p.name not in ("state.json", state(out)["model_file"]))
    leftovers += sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert leftovers == [], f"debris after kills {kills} (seed {seed})"
    assert any(k.startswith("while writing") for k in kills), kills
    assert_same_run(full, out)
    print(f"kills (seed {seed}): {kills}")  # shown with pytest -s / -rP


def test_cached_two_phase_run_killed_in_cached_phase(data: Path, tmp_path: Path) -> None:
    """``--freeze all --fine-tune-epochs``: phase 1 trains the head on cached features and
    checkpoints only the head; killed there and resumed, it ends like an uninterrupted run."""
    def args(out: Path, *extra: str) -> list[str]:
        return ["fit", "--data", str(data), "--out", str(out), "--backbone", "small_cnn",
                "--weights", "none", "--epochs", "3", "--fine-tune-epochs", "1",
                "--freeze", "all", "--batch-size", "16", "--val-split", "0.25", "--seed", "5",
                "--cache-dir", str(out.parent / "cache"), "--quiet", *extra]

    full = tmp_path / "full" / "run"
    finish(args(full))
    out = tmp_path / "split" / "run"
    proc = start(args(out))
    assert kill_when(proc, lambda: (state(out) or {}).get("checkpoint") == "head")
    saved = check_checkpoint(out)
    assert saved["checkpoint"] == "head", saved
    assert (out / "checkpoints" / "base.keras").is_file()
    finish(args(out, "--resume"))
    assert [r["phase"] for r in history(out)] == ["1", "1", "1", "2"]
    assert_same_run(full.parent / "run", out)


def test_resume_start_removes_temp_files_of_a_killed_run(tmp_path: Path) -> None:
    """What a kill leaves (temporary files of atomic writes) is removed as ``--resume``
    prepares the run directory; real files, including dotfiles of other shapes, stay."""
    from trainer.run_dir import prepare_run_dir

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 5\n")
    debris = [run / ".best.keras.a1b2_c3d.tmp.keras", run / ".history.csv.zz9x8w7v.tmp",
              run / "checkpoints" / ".epoch-0003.keras.q0w9e8r7.tmp.keras",
              run / "checkpoints" / ".state.json.k_k_k_k_.tmp"]
    kept = [run / "best.keras", run / ".gitignore", run / ".notes.tmp",
            run / "checkpoints" / "epoch-0002.keras", run / "checkpoints" / "state.json"]
    for path in debris + kept:
        path.write_bytes(b"x")
    prepare_run_dir(run, overwrite=False, resume=True)
    assert [p for p in debris if p.exists()] == []
    assert all(p.exists() for p in kept)
