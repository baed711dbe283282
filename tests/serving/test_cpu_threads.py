"""Cores from CPU affinity and cgroup quotas, and the thread counts each backend applies."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from serving.backends import create_backend
from serving.cpu_threads import RuntimeThreads, available_cpus, cgroup_cpu_limit
from tests.serving.contract_models import write_contract_version
from tests.serving.manager_helpers import add, make_templates, manager_for

REPO = Path(__file__).resolve().parents[2]


def _files(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


@pytest.mark.parametrize(
    ("files", "own", "cores"),
    [
        ({"cpu.max": "150000 100000"}, "0::/", 2),  # v2, namespaced: 1.5 cores -> 2
        ({"cpu.max": "50000 100000"}, "0::/", 1),
        ({"cpu.max": "max 100000"}, "0::/", None),  # v2 without a quota
        ({"kubepods/pod1/cpu.max": "400000 100000"}, "0::/kubepods/pod1", 4),  # own cgroup
        (
            {"cpu,cpuacct/cpu.cfs_quota_us": "300000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
            "4:cpu,cpuacct:/",
            3,
        ),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, "1:cpu:/", None),
        (
            {"cpu/docker/abc/cpu.cfs_quota_us": "200000", "cpu/docker/abc/cpu.cfs_period_us":
             "100000"},
            "2:cpuacct,cpu:/docker/abc",
            2,
        ),
        ({"cpu.max": "garbage"}, "0::/", None),
        ({}, "", None),  # no cgroup files at all (not Linux, or not mounted)
    ],
)
def test_cgroup_cpu_limit(tmp_path, files, own, cores):
    root = _files(tmp_path / "cgroup", files)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(own + "\n")
    assert cgroup_cpu_limit(root, proc) == cores


def test_available_cpus_is_affinity_capped_by_the_quota(tmp_path):
    affinity = len(os.sched_getaffinity(0))
    assert available_cpus(tmp_path / "none") == affinity
    assert available_cpus(_files(tmp_path / "one", {"cpu.max": "100000 100000"})) == 1
    big = _files(tmp_path / "big", {"cpu.max": f"{(affinity + 8) * 100000} 100000"})
    assert available_cpus(big) == affinity


def test_negative_thread_counts_are_refused():
    with pytest.raises(ValueError, match="0 \\(auto\\) or positive"):
        RuntimeThreads(intra_op=-1)


@pytest.fixture(scope="module")
def version_dir(tmp_path_factory):
    return write_contract_version(tmp_path_factory.mktemp("threads"), 1)


def _image() -> dict[str, np.ndarray]:
    return {"image": np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)}


def test_onnx_session_threads(version_dir):
    auto = create_backend("onnx")
    auto.load(version_dir)
    options = auto._session.get_session_options()
    assert options.intra_op_num_threads == 1  # one call per pool thread, one thread per call
    assert options.inter_op_num_threads == 1
    set_ = create_backend("onnx", RuntimeThreads(intra_op=2, inter_op=2))
    set_.load(version_dir)
    options = set_._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 2)
    np.testing.assert_array_equal(
        set_.predict("serve_raw", _image())["probabilities"],
        auto.predict("serve_raw", _image())["probabilities"],
    )


def test_tflite_interpreter_threads(version_dir):
    auto = create_backend("tflite")
    auto.load(version_dir)
    two = create_backend("tflite", RuntimeThreads(intra_op=2))
    two.load(version_dir)
    a = auto.predict("serve_raw", _image())["probabilities"]
    b = two.predict("serve_raw", _image())["probabilities"]
    assert auto._worker().num_threads == 1 and two._worker().num_threads == 2
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_tensorflow_pools_are_sized_before_the_first_op_and_kept_after():
    # TensorFlow's pools are process-wide, so this runs in a fresh interpreter.
    script = textwrap.dedent(
        """
        import tensorflow as tf
        from serving.backends.savedmodel import configure_tensorflow_threads
        from serving.cpu_threads import RuntimeThreads
        print(configure_tensorflow_threads(RuntimeThreads(1, 2)))
        tf.constant(1.0) + 1.0
        print(configure_tensorflow_threads(RuntimeThreads(3, 3)))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["(1, 2)", "(1, 2)"]
    assert "--tensorflow_intra_op_parallelism=3 applies from the next start" in done.stderr


def test_the_manager_hands_the_thread_counts_to_every_backend(tmp_path):
    templates = make_templates(tmp_path / "templates")
    base = tmp_path / "hp"
    base.mkdir()
    add(templates, base, 1)
    manager = manager_for(base, threads=RuntimeThreads(intra_op=1))
    try:
        assert manager.resolve("hp").backend.threads == RuntimeThreads(intra_op=1)
    finally:
        manager.stop()


def test_tensorflow_auto_is_one_intra_op_thread_per_call_and_silent_when_late():
    # auto (0): one intra-op thread per call (BENCHMARKS.md 6d); when TensorFlow already runs,
    # the default is kept quietly (only an explicit flag warns that it applies next start)
    script = textwrap.dedent(
        """
        import tensorflow as tf
        from serving.backends.savedmodel import configure_tensorflow_threads
        from serving.cpu_threads import RuntimeThreads
        print(configure_tensorflow_threads(RuntimeThreads())[0])
        """
    )
    late = "import tensorflow as tf\ntf.constant(1.0) + 1.0\n" + script.replace(
        "import tensorflow as tf\n", "")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=env, timeout=300)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert fresh.stdout.strip() == "1"
    after = subprocess.run([sys.executable, "-c", late], capture_output=True, text=True,
                           env=env, timeout=300)
    assert after.returncode == 0, after.stderr[-2000:]
    assert "applies from the next start" not in after.stderr
