"""``exporter export`` killed with SIGKILL at several points while a watcher polls the model
directory the way a server does: an integer (version) directory is never seen incomplete,
temporary names are never integers, and the next export succeeds and removes the staging
directories the killed ones left behind (``exporter.staging``)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from exporter.publish import STAGING_PREFIX, existing_versions
from exporter.staging import CLAIM_PREFIX
from tests.exporter.run_factory import write_run_dir
from tests.process_kill import kill_when

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
NAME = "n"
# What a complete version directory holds for --formats savedmodel,tflite,onnx
# (docs/contracts.md section 2).
REQUIRED = ("saved_model.pb", "variables/variables.index", "assets/labels.txt",
            "assets.extra/tf_serving_warmup_requests", "model.onnx", "model.tflite",
            "labels.txt", "export_report.json")


def _snapshot(directory: Path) -> set[str]:
    """Relative paths of every file under ``directory`` (empty if it vanished meanwhile)."""
    try:
        return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}
    except OSError:
        return set()


def incomplete(version: Path) -> list[str]:
    """What ``version`` lacks to be a complete version directory (empty when complete)."""
    files = _snapshot(version)
    missing = [item for item in REQUIRED if item not in files]
    if not any(f.startswith("variables/variables.data-") for f in files):
        missing.append("variables/variables.data-*")
    if "export_report.json" in files:
        report = json.loads((version / "export_report.json").read_text())
        if "contract" not in report:
            missing.append("export_report.json contract block")
    return missing


class Watcher(threading.Thread):
    """Polls ``base`` like a version-directory poller; every integer directory is checked for
    completeness the first time it is seen, every other name is recorded, and the files of
    each staging directory are kept (so a test can act at a given point of an export)."""

    def __init__(self, base: Path) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.seen: set[str] = set()
        self.checked: set[str] = set()
        self.problems: list[str] = []
        self.staging: dict[str, set[str]] = {}  # staging name -> its files (latest poll)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.poll()
            time.sleep(0.003)

    def poll(self) -> None:
        """One pass over ``base``."""
        try:
            entries = list(self.base.iterdir()) if self.base.is_dir() else []
        except OSError:
            return
        staging: dict[str, set[str]] = {}
        for entry in entries:
            self.seen.add(entry.name)
            if entry.name.isdigit():
                if entry.name not in self.checked:
                    self.checked.add(entry.name)
                    missing = incomplete(entry)
                    if missing:
                        self.problems.append(f"{entry.name} seen without {missing}")
            elif entry.name.startswith(STAGING_PREFIX):
                staging[entry.name] = _snapshot(entry)
        self.staging = staging

    def stop(self) -> None:
        """End the thread (after one last poll)."""
        self._stop_event.set()
        self.join()
        self.poll()


def staged(watcher: Watcher, *files: str) -> Callable[[], Callable[[], bool]]:
    """A trigger factory: true once a staging directory created after the factory is called
    holds one of ``files`` (any file when none are named)."""

    def start() -> Callable[[], bool]:
        before = set(watcher.staging)

        def ready() -> bool:
            new = [f for name, f in list(watcher.staging.items()) if name not in before]
            return any(not files or any(x in f for x in files) for f in new)

        return ready

    return start


def after(seconds: float, watcher: Watcher | None = None) -> Callable[[], Callable[[], bool]]:
    """A trigger factory: true ``seconds`` after the factory is called or, with ``watcher``,
    after a new staging directory appears."""

    def start() -> Callable[[], bool]:
        began = [] if watcher else [time.monotonic()]
        ready_staged = staged(watcher)() if watcher else None

        def ready() -> bool:
            if not began and ready_staged is not None and ready_staged():
                began.append(time.monotonic())
            return bool(began) and time.monotonic() - began[0] >= seconds

        return ready

    return start


def _export(run: Path, base: Path, version: int, tmp: Path | None = None
            ) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "exporter.cli", "export", str(run), "--model-base-path",
            str(base), "--name", NAME, "--version", str(version), "--limit", "32",
            "--formats", "savedmodel,tflite,onnx"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if tmp is not None:  # to see what a killed export leaves in the temp directory
        tmp.mkdir(exist_ok=True)
        env.update(TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp))
    return subprocess.Popen(args, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def _debris(base: Path) -> list[str]:
    """Names under ``base`` that are not integer version directories."""
    return sorted(p.name for p in base.iterdir() if not p.name.isdigit()) if base.is_dir() else []


@pytest.fixture(scope="module")
def kill_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run directory (32 px, 32 sample images)."""
    return write_run_dir(tmp_path_factory.mktemp("runs") / "tiny", steps=10, n_val=32,
                         n_calib=32)


def test_killed_exports_never_expose_partial_versions(kill_run: Path, tmp_path: Path) -> None:
    base = tmp_path / "models"
    watcher = Watcher(base / NAME)
    watcher.start()
    started = time.monotonic()
    proc = _export(kill_run, base, 1)
    staged_at = None
    while proc.poll() is None:  # how long the staging directory lives, for timed kills
        if staged_at is None and watcher.staging:
            staged_at = time.monotonic()
        time.sleep(0.005)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    window = time.monotonic() - (staged_at or started)
    seed = int(time.time())
    rng = random.Random(seed)
    points = {
        "staging created": staged(watcher),
        "SavedModel written": staged(watcher, "saved_model.pb"),
        "a conversion written": staged(watcher, "model.onnx", "model.tflite"),
        "report written (publishing)": staged(watcher, "export_report.json"),
    }
    points["during start-up"] = after(rng.uniform(0.5, 4.0))
    for fraction in (rng.uniform(0.05, 0.5), rng.uniform(0.5, 0.95)):
        points[f"{fraction * window:.2f} s into staging"] = after(fraction * window, watcher)
    killed, debris = [], {}
    for label, trigger in points.items():
        version = max(existing_versions(base / NAME), default=0) + 1
        ready = trigger()
        proc = _export(kill_run, base, version, tmp_path / "tmp")
        if kill_when(proc, ready, limit=300):
            killed.append(label)
        debris[label] = _debris(base / NAME)
    watcher.stop()
    context = f"(seed {seed}, kills {killed}, debris after each {debris})"
    assert not watcher.problems, f"{watcher.problems} {context}"
    others = {n for n in watcher.seen if not n.isdigit()}
    assert all(n.startswith((STAGING_PREFIX, CLAIM_PREFIX)) for n in others), (others, context)
    assert "staging created" in killed and debris["staging created"], context
    # each export removes what the previous killed one left: debris never accumulates
    assert all(sum(not n.startswith(CLAIM_PREFIX) for n in d) <= 1 for d in debris.values()), \
        context
    for version in existing_versions(base / NAME):
        assert not incomplete(base / NAME / str(version)), context

    # the next export succeeds and removes every staging directory the kills left behind
    watcher = Watcher(base / NAME)
    watcher.start()
    version = max(existing_versions(base / NAME)) + 1
    proc = _export(kill_run, base, version)
    out, err = proc.communicate(timeout=600)
    watcher.stop()
    assert proc.returncode == 0, err[-2000:]
    assert not watcher.problems, watcher.problems
    assert _debris(base / NAME) == [], context
    for number in existing_versions(base / NAME):
        assert not incomplete(base / NAME / str(number))
    # not in the model directory, so no server sees it; reported, not asserted
    in_tmp = sorted(p.name for p in (tmp_path / "tmp").iterdir())
    print(f"kills (seed {seed}): {killed}\nmodel-dir debris after each: {debris}\n"
          f"left in TMPDIR by the killed exports: {in_tmp}")  # pytest -s / -rP
