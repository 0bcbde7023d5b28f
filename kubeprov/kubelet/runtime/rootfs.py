"""A container's root filesystem: the image's snapshot directories as overlay lowerdirs with an upper and
work directory of the container's own, so containers of one image share its layers on disk."""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from kubeprov.kubelet.runtime import syscalls


class MountError(RuntimeError):
    """mount(8) or umount(8) failed; the message is theirs."""


@dataclass(frozen=True)
class Rootfs:
    """The directories of one container's overlay under its state directory."""

    base: Path

    @property
    def target(self) -> Path:
        return self.base / "rootfs"

    @property
    def upper(self) -> Path:
        return self.base / "upper"

    @property
    def work(self) -> Path:
        return self.base / "work"


def is_mounted(path: Path) -> bool:
    """Whether ``path`` is a mount point, judged by /proc/self/mountinfo (os.path.ismount misses bind
    mounts of the same filesystem)."""
    wanted = os.path.realpath(path)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return False
    return any(_unescape(line.split()[4]) == wanted for line in lines if len(line.split()) > 4)


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


async def mount_overlay(rootfs: Rootfs, lowerdirs: list[Path]) -> None:
    """Mount the overlay (lowerdirs top first, as ImageService.lowerdirs gives them); idempotent."""
    if not lowerdirs:
        raise MountError("image has no layers to mount")
    for d in (rootfs.target, rootfs.upper, rootfs.work):
        d.mkdir(parents=True, exist_ok=True)
    if is_mounted(rootfs.target):
        return
    lower = ":".join(str(p) for p in lowerdirs)
    options = f"lowerdir={lower},upperdir={rootfs.upper},workdir={rootfs.work}"
    try:
        syscalls.mount("overlay", rootfs.target, "overlay", 0, options)
    except OSError as exc:
        raise MountError(f"mount overlay failed: {exc.strerror}") from None


async def unmount(path: Path) -> None:
    """Unmount ``path`` if mounted (lazily when busy would hide leaks: a plain umount, then an error)."""
    if is_mounted(path):
        try:
            syscalls.umount(path)
        except OSError as exc:
            raise MountError(f"umount {path} failed: {exc.strerror}") from None


async def remove(rootfs: Rootfs) -> None:
    """Unmount and delete the container's upper, work and mount point."""
    await unmount(rootfs.target)
    await asyncio.to_thread(shutil.rmtree, rootfs.base, True)
