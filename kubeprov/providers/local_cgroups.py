"""A cgroup per machine in every hierarchy (each cgroup v1 controller, name=systemd and the unified one).

Without its own cgroup in a v1 hierarchy a machine's cgroup namespace root is the host's, so runc inside
it would create pod cgroups at the host root, shared by every machine (measured, see DESIGN.md).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from kubeprov.providers.local_mounts import unescape_mount_path

MOUNTINFO = Path("/proc/self/mountinfo")
PROC_CGROUP = Path("/proc/self/cgroup")
# mount options of a cgroup v1 mount that are not controller names
_NOT_CONTROLLERS = {"rw", "ro", "noprefix", "clone_children", "xattr", "cpuset_v2_mode", "favordynmods"}


@dataclass(frozen=True)
class Hierarchy:
    """A mounted cgroup hierarchy: where it is mounted and how /proc/<pid>/cgroup names it."""

    mount: Path
    key: str  # "memory", "cpu,cpuacct", "name=systemd" or "" for the unified hierarchy


def hierarchies(mountinfo: str) -> list[Hierarchy]:
    """Every cgroup and cgroup2 mount whose root is the hierarchy root."""
    found = []
    for line in mountinfo.splitlines():
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3 or fields[3] != "/":
            continue
        fstype, options = tail[0], tail[2].split(",")
        if fstype == "cgroup2":
            found.append(Hierarchy(Path(unescape_mount_path(fields[4])), ""))
        elif fstype == "cgroup":
            keys = [o for o in options if o.startswith("name=") or ("=" not in o and o not in _NOT_CONTROLLERS)]
            found.append(Hierarchy(Path(unescape_mount_path(fields[4])), ",".join(sorted(keys))))
    return found


def own_cgroups(proc_cgroup: str) -> dict[str, str]:
    """This process's cgroup per hierarchy key, from /proc/self/cgroup."""
    result = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            result[",".join(sorted(parts[1].split(","))) if parts[1] else ""] = parts[2]
    return result


def machine_cgroup_dirs(leaf: str, mountinfo: str, proc_cgroup: str) -> list[Path]:
    """Where a machine's cgroup goes in each hierarchy: below this process's own cgroup there."""
    own = own_cgroups(proc_cgroup)
    dirs = []
    for h in hierarchies(mountinfo):
        if h.key not in own:
            continue
        dirs.append(h.mount / own[h.key].lstrip("/") / leaf)
    return dirs


def planned_dirs(leaf: str) -> list[Path]:
    return machine_cgroup_dirs(leaf, MOUNTINFO.read_text(), PROC_CGROUP.read_text())


def create(dirs: list[Path]) -> None:
    """Make the cgroups; a new cpuset needs its cpus and mems before any process can join it."""
    for directory in dirs:
        directory.mkdir(parents=True, exist_ok=True)
        for knob in ("cpuset.cpus", "cpuset.mems"):
            target = directory / knob
            if target.exists() and not target.read_text().strip():
                target.write_text((directory.parent / knob).read_text())


def join(dirs: list[Path], pid: int) -> None:
    for directory in dirs:
        (directory / "cgroup.procs").write_text(f"{pid}\n")


def pids(directory: Path) -> list[int]:
    """Every process in a cgroup and its descendants."""
    found: list[int] = []
    if not directory.is_dir():
        return found
    for procs in directory.rglob("cgroup.procs"):
        try:
            found += [int(p) for p in procs.read_text().split()]
        except OSError:
            continue
    return found


def kill_all(directory: Path, exclude: set[int]) -> int:
    """SIGKILL every process of a cgroup tree except ``exclude``; returns how many were signalled."""
    count = 0
    for pid in pids(directory):
        if pid in exclude:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
            count += 1
        except ProcessLookupError:
            pass
    return count


def remove(dirs: list[Path], timeout: float = 5.0) -> list[Path]:
    """Remove cgroup trees deepest first (rmdir only: a cgroup cannot be emptied by unlinking files).

    Returns the trees that could not be removed (processes still inside after ``timeout``)."""
    left = []
    for directory in dirs:
        deadline = time.monotonic() + timeout
        while directory.is_dir():
            for sub in sorted((p for p in directory.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                _rmdir(sub)
            _rmdir(directory)
            if not directory.is_dir() or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if directory.is_dir():
            left.append(directory)
    return left


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _parent(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def nested_pids(dirs: list[Path], nspawn_pid: int) -> list[int]:
    """Processes of a machine in a PID namespace of their own: its containers (pods), not the machine's
    own services, which share the PID namespace of the machine's init (nspawn's child)."""
    every = sorted({pid for directory in dirs for pid in pids(directory)})
    host = _pid_namespace(os.getpid())
    machine = {_pid_namespace(pid) for pid in every if _parent(pid) == nspawn_pid}
    return [pid for pid in every if _pid_namespace(pid) not in machine | {host, None}]
