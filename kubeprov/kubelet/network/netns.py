"""Named network namespaces kept alive by a bind mount, the way ``ip netns add`` does it.

A pod's sandbox outlives any one process (containers restart), so its network namespace is pinned to a file
under ``/run/kubeprov/netns/<id>``; the CNI plugins and runc both join it by that path.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubeprov.kubelet.runtime import syscalls

DEFAULT_NETNS_DIR = Path("/run/kubeprov/netns")


class NetnsError(RuntimeError):
    """Creating or removing a network namespace failed."""


def is_mounted(path: Path) -> bool:
    """True when ``path`` is a mount point (a pinned namespace), judged from this process's mount table."""
    target = str(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as table:
            return any(line.split()[4] == target for line in table)
    except OSError:
        return False


def create(name: str, netns_dir: Path = DEFAULT_NETNS_DIR) -> Path:
    """Create (or find) the namespace ``name``; idempotent, returns its path."""
    path = netns_dir / name
    if is_mounted(path):
        return path
    netns_dir.mkdir(parents=True, exist_ok=True)
    try:
        syscalls.pin_new_namespaces({"net": path})
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise NetnsError(f"cannot create network namespace {name}: {exc.strerror}") from None
    return path


def delete(name: str, netns_dir: Path = DEFAULT_NETNS_DIR) -> None:
    """Unpin and remove ``name``; a missing namespace is fine (teardown after a crash calls this blindly)."""
    path = netns_dir / name
    if is_mounted(path):
        try:
            syscalls.umount(path, detach=True)
        except OSError as exc:
            if is_mounted(path):
                raise NetnsError(f"cannot unmount network namespace {name}: {exc.strerror}") from None
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def exists(name: str, netns_dir: Path = DEFAULT_NETNS_DIR) -> bool:
    """True when the namespace ``name`` is pinned."""
    return is_mounted(netns_dir / name)


def list_names(netns_dir: Path = DEFAULT_NETNS_DIR) -> list[str]:
    """Every entry in ``netns_dir`` (pinned or left over), for garbage collection of sandboxes."""
    try:
        return sorted(entry.name for entry in netns_dir.iterdir())
    except FileNotFoundError:
        return []
