"""tmpfs mounts for memory-backed volumes (emptyDir medium Memory, secret, projected): secrets never hit disk."""

from __future__ import annotations

from pathlib import Path

from kubeprov.kubelet.runtime import syscalls
from kubeprov.kubelet.volumes.errors import VolumeError


def is_mount_point(path: Path) -> bool:
    target = str(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as table:
            return any(line.split()[4] == target for line in table)
    except OSError:
        return False


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root``, deepest first (the order to unmount them in)."""
    prefix = str(root).rstrip("/") + "/"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as table:
            points = [line.split()[4] for line in table]
    except OSError:
        return []
    found = {Path(p) for p in points if p == str(root) or p.startswith(prefix)}
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def mount_tmpfs(path: Path, size_bytes: int = 0, mode: int = 0o777) -> None:
    """Mount a tmpfs at ``path`` unless one is there already; ``size_bytes`` 0 means the kernel default."""
    path.mkdir(parents=True, exist_ok=True)
    if is_mount_point(path):
        return
    options = f"mode={mode:o}" + (f",size={size_bytes}" if size_bytes else "")
    try:
        syscalls.mount("tmpfs", path, "tmpfs", 0, options)
    except OSError as exc:
        raise VolumeError(f"mount tmpfs at {path}: {exc.strerror}") from None


def unmount(path: Path) -> None:
    """Unmount ``path`` if it is a mount point (lazily, so a process still inside does not block teardown)."""
    if not is_mount_point(path):
        return
    try:
        syscalls.umount(path, detach=True)
    except OSError as exc:
        if is_mount_point(path):
            raise VolumeError(f"unmount {path}: {exc.strerror}") from None
