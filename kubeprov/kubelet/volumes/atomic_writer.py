"""The kubelet's atomic writer: a volume's files change all at once, never half-updated.

Layout in the target directory::

    ..2026_11_22_22_58_00.123456   the current payload (real files, nested paths included)
    ..data -> ..2026_11_22_...     swapped with one rename(2), which is atomic
    key -> ..data/key              one symlink per top-level path the user sees

A reader that opened ``key`` through ``..data`` sees the old or the new payload, never a mix.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = "..data"
DATA_TMP = "..data_tmp"


@dataclass(frozen=True)
class FileProjection:
    """One file of a payload: its bytes and permission bits; ``uid`` (the pod's fsUser) owns it when set."""

    data: bytes
    mode: int = 0o644
    uid: int | None = None


Payload = dict[str, FileProjection]


def validate_path(path: str) -> None:
    """Payload paths are relative, without ``..`` elements, and do not start with ``..`` (reserved here)."""
    if not path or path.startswith("/") or path.startswith(".."):
        raise ValueError(f"invalid payload path {path!r}")
    if any(part == ".." for part in path.split("/")):
        raise ValueError(f"invalid payload path {path!r}: must not contain '..'")


def _current(target: Path) -> Path | None:
    link = target / DATA_DIR
    return target / os.readlink(link) if link.is_symlink() else None


def _read_payload(folder: Path) -> dict[str, tuple[bytes, int]]:
    found = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(folder))] = (path.read_bytes(), path.stat().st_mode & 0o7777)
    return found


def write(target: Path, payload: Payload, set_perms: Callable[[Path], object] | None = None) -> bool:
    """Make ``target`` hold exactly ``payload``; returns False when it already did (no swap, no new directory).

    ``set_perms(target)`` (fsGroup ownership) runs after the new files are written and before they are swapped
    in, so a reader never sees them with the wrong group.
    """
    for path in payload:
        validate_path(path)
    target.mkdir(parents=True, exist_ok=True)
    old = _current(target)
    wanted = {path: (item.data, item.mode) for path, item in payload.items()}
    if old is not None and old.is_dir() and _read_payload(old) == wanted:
        return False
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + f"{time.time_ns() % 10**9:09d}"
    fresh = target / stamp
    fresh.mkdir(mode=0o755)
    for path, item in payload.items():
        file = fresh / path
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        file.write_bytes(item.data)
        os.chmod(file, item.mode)
        if item.uid is not None:
            os.chown(file, item.uid, -1)
    if set_perms is not None:
        set_perms(target)
    tmp = target / DATA_TMP
    tmp.unlink(missing_ok=True)
    os.symlink(stamp, tmp)
    os.replace(tmp, target / DATA_DIR)
    _link_top_level(target, {path.split("/", 1)[0] for path in payload})
    if old is not None and old != fresh:
        shutil.rmtree(old, ignore_errors=True)
    return True


def _link_top_level(target: Path, names: set[str]) -> None:
    """Add a ``name -> ..data/name`` symlink per top-level entry; drop the ones no longer in the payload."""
    for entry in target.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.name not in names and entry.is_symlink():
            entry.unlink()
    for name in names:
        link = target / name
        if not link.is_symlink():
            os.symlink(f"{DATA_DIR}/{name}", link)
