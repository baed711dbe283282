"""How many CPU threads the server and a model call may use.

``available_cpus`` is the number of cores this process can really run on: its CPU affinity,
capped by the CPU quota of its cgroup (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), rounded
up. In a container with ``resources.limits.cpu: 2`` on a 64-core node ``os.cpu_count()`` says
64; sizing the inference pool and the runtimes' thread pools by it would oversubscribe the
two cores the quota allows. ``RuntimeThreads`` carries TF Serving's
``--tensorflow_intra_op_parallelism`` / ``--tensorflow_inter_op_parallelism`` (0 = auto) to
the backends.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RuntimeThreads", "available_cpus", "cgroup_cpu_limit"]

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class RuntimeThreads:
    """Threads per model call (``intra_op``) and between independent ops (``inter_op``);
    0 lets the backend choose."""

    intra_op: int = 0
    inter_op: int = 0

    def __post_init__(self) -> None:
        if self.intra_op < 0 or self.inter_op < 0:
            raise ValueError("thread counts must be 0 (auto) or positive")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _own_cgroups(proc_cgroup: Path) -> dict[str, str]:
    """``/proc/self/cgroup`` as {controller: path}; the v2 hierarchy is the key ``""``."""
    paths: dict[str, str] = {}
    for line in (_read(proc_cgroup) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                paths[controller] = parts[2]
    return paths


def _quota_cores(quota: str, period: str) -> int | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None  # "max" (v2) or garbage: no limit
    if q <= 0 or p <= 0:
        return None  # -1 (v1): no limit
    return max(1, math.ceil(q / p))


def cgroup_cpu_limit(
    root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")
) -> int | None:
    """Cores the cgroup CPU quota allows (rounded up), or None when there is no quota."""
    own = _own_cgroups(proc_cgroup)
    v2_dirs = [root / own.get("", "/").lstrip("/"), root]
    for directory in v2_dirs:
        text = _read(directory / "cpu.max")
        if text is not None:
            fields = text.split()
            return _quota_cores(fields[0], fields[1]) if len(fields) == 2 else None
    for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        for directory in (root / mount / own.get("cpu", "/").lstrip("/"), root / mount):
            quota = _read(directory / "cpu.cfs_quota_us")
            period = _read(directory / "cpu.cfs_period_us")
            if quota is not None and period is not None:
                return _quota_cores(quota, period)
    return None


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """Cores this process may run on: CPU affinity capped by the cgroup quota (≥ 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    return max(1, min(cores, limit) if limit else cores)
