"""``--strategy multi-worker``: two worker processes on loopback ports (CPU) train a tiny
model for one epoch under MultiWorkerMirroredStrategy and end with identical weights; the
chief writes the run directory, the other worker nothing shared."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.distributed import cluster_role
from trainer.errors import TrainerError

DIGEST = re.compile(r"multi-worker (\S+): final weights sha256 ([0-9a-f]{64})")


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_cluster_role_from_tf_config() -> None:
    cluster = {"worker": ["a:1", "b:2"]}
    role = {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                   "index": 1}})}
    assert cluster_role(role) == (False, "worker:1")
    role["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    assert cluster_role(role) == (True, "worker:0")
    with_chief = {"chief": ["c:3"], **cluster}
    role["TF_CONFIG"] = json.dumps({"cluster": with_chief, "task": {"type": "worker",
                                                                     "index": 0}})
    assert cluster_role(role) == (False, "worker:0")
    with pytest.raises(TrainerError, match="needs TF_CONFIG"):
        cluster_role({})


def test_two_workers_on_loopback_end_with_identical_weights(npz_path: Path,
                                                            tmp_path: Path) -> None:
    import keras

    from trainer.feature_cache import model_digest

    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = tmp_path / "run"
    command = [sys.executable, "-m", "trainer.cli", "fit", "--data", str(npz_path), "--out",
               str(out), "--backbone", "small_cnn", "--weights", "none", "--epochs", "1",
               "--batch-size", "16", "--val-split", "0.25", "--dropout", "0.2",
               "--strategy", "multi-worker"]
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster,
                                        "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True,
                                      cwd=Path(__file__).parents[2]))
    logs = []
    for proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        assert proc.returncode == 0, stderr[-3000:]
        logs.append(stdout + stderr)
    digests = dict(match for log in logs for match in DIGEST.findall(log))
    assert set(digests) == {"worker:0", "worker:1"}
    assert all("multi-worker: 2 workers, 2 replicas in sync, 2 steps" in log for log in logs)
    assert digests["worker:0"] == digests["worker:1"]
    chief_model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert model_digest(chief_model) == digests["worker:0"]
    assert (out / "metrics.json").is_file() and "run: " in logs[0]
    scratch = re.search(r"writes only to its scratch directory (\S+)", logs[1])
    assert scratch is not None and not Path(scratch.group(1)).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
