"""Mounts under a directory, found and undone before the directory is removed: removing a tree that still
has /proc, /dev or an overlay mounted inside would reach into the host or another machine."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from kubeprov.errors import KubeprovError

MOUNTINFO = Path("/proc/self/mountinfo")


def unescape_mount_path(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points(mountinfo: str) -> list[str]:
    """Every mount point listed in a mountinfo text, in mount order."""
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.append(unescape_mount_path(fields[4]))
    return points


def mounts_under(path: Path, mountinfo: str | None = None) -> list[str]:
    """Mount points at or below ``path``, deepest first (the order to unmount them)."""
    text = mountinfo if mountinfo is not None else MOUNTINFO.read_text()
    base = str(path.absolute()).rstrip("/")
    found = {p for p in mount_points(text) if p == base or p.startswith(base + "/")}
    return sorted(found, key=lambda p: (p.count("/"), p), reverse=True)


def unmount_tree(path: Path) -> None:
    """Unmount everything at or below ``path``; lazily when busy, so a dead machine's root still goes."""
    for _ in range(5):
        points = mounts_under(path)
        if not points:
            return
        for point in points:
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)


def remove_tree(path: Path) -> None:
    """``rm -rf`` that unmounts first and refuses when a mount is left inside."""
    if not path.exists() and not path.is_symlink():
        return
    unmount_tree(path)
    left = mounts_under(path)
    if left:
        raise KubeprovError(f"cannot remove {path}: {left[0]} is still mounted", f"unmount it (umount -l {left[0]})")
    shutil.rmtree(path)
