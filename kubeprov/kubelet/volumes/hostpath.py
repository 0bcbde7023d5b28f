"""hostPath type checks (and the ``...OrCreate`` types' creation), with the kubelet's error wording."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kubeprov.kubelet.volumes.errors import VolumeError

_KINDS = {
    "Directory": (stat.S_ISDIR, "directory"),
    "File": (stat.S_ISREG, "file"),
    "Socket": (stat.S_ISSOCK, "socket"),
    "CharDevice": (stat.S_ISCHR, "character device"),
    "BlockDevice": (stat.S_ISBLK, "block device"),
}


def prepare(path: Path, host_type: str = "") -> Path:
    """Check (or create) ``path`` for the hostPath ``type``; '' checks nothing, as in Kubernetes."""
    if host_type == "DirectoryOrCreate":
        if not path.exists():
            path.mkdir(mode=0o755, parents=True)
            os.chmod(path, 0o755)
        host_type = "Directory"
    elif host_type == "FileOrCreate":
        if not path.exists():
            if not path.parent.is_dir():
                raise VolumeError(f"hostPath type check failed: {path}: parent directory does not exist")
            path.touch(mode=0o644)
        host_type = "File"
    if not host_type:
        return path
    if host_type not in _KINDS:
        raise VolumeError(f"hostPath type check failed: unknown type {host_type!r}")
    check, noun = _KINDS[host_type]
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise VolumeError(f"hostPath type check failed: {path} does not exist") from None
    if not check(mode):
        raise VolumeError(f"hostPath type check failed: {path} is not a {noun}")
    return path
