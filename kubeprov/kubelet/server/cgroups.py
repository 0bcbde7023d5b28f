"""CPU and memory usage of a cgroup and of the node, as cAdvisor reports them to the kubelet.

Hosts differ: cgroup v1 (``cpuacct/<path>/cpuacct.usage`` in ns, ``memory/<path>/memory.usage_in_bytes`` and
``total_inactive_file``), v2 (``<path>/cpu.stat`` usage_usec, ``memory.current`` and ``inactive_file``) or
hybrid (v1 controllers plus ``unified/``). The working set is usage less inactive file pages, never below 0:
the memory the kernel cannot simply drop, which is what eviction and metrics-server look at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float
    memory_working_set: int


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _stat_field(text: str | None, name: str) -> int | None:
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _working_set(usage: int, inactive_file: int | None) -> int:
    return max(usage - (inactive_file or 0), 0)


def _v1(root: Path, rel: str) -> Usage | None:
    cpu = _read(root / "cpuacct" / rel / "cpuacct.usage")
    memory = _read(root / "memory" / rel / "memory.usage_in_bytes")
    if cpu is None or memory is None:
        return None
    stat = _read(root / "memory" / rel / "memory.stat")
    return Usage(int(cpu) / 1e9, _working_set(int(memory), _stat_field(stat, "total_inactive_file")))


def _v2(base: Path, rel: str) -> Usage | None:
    directory = base / rel
    usec = _stat_field(_read(directory / "cpu.stat"), "usage_usec")
    memory = _read(directory / "memory.current")
    if usec is None or memory is None:
        return None
    stat = _read(directory / "memory.stat")
    return Usage(usec / 1e6, _working_set(int(memory), _stat_field(stat, "inactive_file")))


def cgroup_usage(path: str, root: Path = CGROUP_ROOT) -> Usage | None:
    """Usage of the cgroup at ``path`` (as given to runc, e.g. ``/kubeprov/<pod>/<id>``); None if absent."""
    rel = path.strip("/")
    if (root / "cgroup.controllers").exists():
        return _v2(root, rel)
    return _v1(root, rel) or _v2(root / "unified", rel)


def node_cpu_seconds(stat_text: str, ticks_per_second: int) -> float:
    """Busy CPU time of all CPUs from /proc/stat (user, nice, system, irq, softirq, steal)."""
    for line in stat_text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            values = [int(v) for v in parts[1:]]
            values += [0] * (8 - len(values))
            user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
            return (user + nice + system + irq + softirq + steal) / ticks_per_second
    return 0.0


def node_working_set(meminfo_text: str) -> int:
    """Used memory (total - free) less inactive file pages, from /proc/meminfo (kB values)."""
    fields: dict[str, int] = {}
    for line in meminfo_text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            fields[name] = int(parts[0]) * 1024
    usage = fields.get("MemTotal", 0) - fields.get("MemFree", 0)
    return _working_set(usage, fields.get("Inactive(file)"))


def node_usage() -> Usage:
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return Usage(node_cpu_seconds(_read(Path("/proc/stat")) or "", ticks),
                 node_working_set(_read(Path("/proc/meminfo")) or ""))
