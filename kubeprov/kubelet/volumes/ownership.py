"""fsGroup ownership of a pod's volumes, as the kubelet's SetVolumeOwnership does it.

Every file and directory of the volume gets group ``fsGroup`` (the owner stays), group read (and write unless
the volume is read-only), and directories also group execute plus setgid, so files a container creates later
inherit the group. Symlinks are left alone: chmod would follow them and override the mode of their target.
``fsGroupChangePolicy: OnRootMismatch`` skips the walk when the root already has the group, the bits and
setgid; the kubelet passes the policy only for volumes that outlive a pod (local persistent volumes here),
emptyDir and the API-backed volumes are always walked. Failures to chown/chmod one file are logged, as the
kubelet does, so a volume never fails over one odd file.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

from kubeprov.kubelet.volumes.atomic_writer import FileProjection, Payload

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RW_MASK = 0o660
RO_MASK = 0o440
EXEC_MASK = 0o110
ON_ROOT_MISMATCH = "OnRootMismatch"
# the mode of a projected token (and other private projected files) when fsGroup or fsUser is set: the walk
# then makes it 0640, readable by the pod's group but not by everyone
PRIVATE_TOKEN_MODE = 0o600


def group_mask(is_dir: bool, read_only: bool) -> int:
    """The bits the walk adds: group rw (r when read-only); directories also group x and setgid."""
    mask = RO_MASK if read_only else RW_MASK
    if is_dir:
        mask |= EXEC_MASK | stat.S_ISGID
    return mask


def owned_mode(mode: int, is_dir: bool = False, read_only: bool = True) -> int:
    """The mode a file (or directory) of ``mode`` has after the walk; e.g. a secret's defaultMode 0400 -> 0440."""
    return mode | group_mask(is_dir, read_only)


def owned_payload(payload: Payload, fs_group: int | None) -> Payload:
    """A read-only volume's files with the modes the walk will give them, so the atomic writer sees an unchanged
    payload as unchanged (and rewrites nothing) on the next refresh."""
    if fs_group is None:
        return payload
    return {path: FileProjection(item.data, owned_mode(item.mode), item.uid) for path, item in payload.items()}


def pod_fs_group(pod: Obj) -> int | None:
    value = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    return None if value is None else int(value)


def pod_change_policy(pod: Obj) -> str | None:
    return ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroupChangePolicy")


def pod_fs_user(pod: Obj) -> int | None:
    """The one UID every (init) container runs as, or None when one has no runAsUser or two differ.

    The kubelet makes projected service-account tokens owned by this user, so a non-root container can read
    its 0600 token.
    """
    spec = pod.get("spec") or {}
    pod_user = (spec.get("securityContext") or {}).get("runAsUser")
    found: int | None = None
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for container in containers:
        user = (container.get("securityContext") or {}).get("runAsUser", pod_user)
        if user is None or (found is not None and found != int(user)):
            return None
        found = int(user)
    return found


def needs_change(root: Path, fs_group: int, read_only: bool) -> bool:
    """False only when the root is a directory of group ``fs_group`` with the group bits and setgid already."""
    try:
        info = root.stat()
    except OSError as exc:
        log.warning("recursive ownership change of %s: reading its root failed: %s", root, exc)
        return True
    if info.st_gid != fs_group or not stat.S_ISDIR(info.st_mode):
        return True
    wanted = (RO_MASK if read_only else RW_MASK) | EXEC_MASK
    return (info.st_mode & wanted) != wanted or not info.st_mode & stat.S_ISGID


def set_volume_ownership(root: Path, fs_group: int | None, read_only: bool, policy: str | None = None) -> bool:
    """Give the volume at ``root`` to ``fs_group``; returns whether it walked (False: no fsGroup or skipped)."""
    if fs_group is None:
        return False
    if policy == ON_ROOT_MISMATCH and not needs_change(root, fs_group, read_only):
        log.debug("skipping ownership change of %s: its root already matches fsGroup %d", root, fs_group)
        return False
    _walk(root, fs_group, read_only)
    return True


def _walk(path: Path, fs_group: int, read_only: bool) -> None:
    """Children first, the root last: an interrupted walk leaves the root unchanged, so OnRootMismatch redoes it."""
    try:
        info = path.lstat()
    except OSError as exc:
        log.warning("ownership change: cannot stat %s: %s", path, exc)
        return
    if stat.S_ISLNK(info.st_mode):
        return
    is_dir = stat.S_ISDIR(info.st_mode)
    if is_dir:
        try:
            names = os.listdir(path)
        except OSError as exc:
            log.warning("ownership change: cannot list %s: %s", path, exc)
            names = []
        for name in names:
            _walk(path / name, fs_group, read_only)
    try:
        os.chown(path, -1, fs_group, follow_symlinks=False)
    except OSError as exc:
        log.warning("chown of %s to group %d failed: %s", path, fs_group, exc)
    try:
        os.chmod(path, stat.S_IMODE(info.st_mode) | group_mask(is_dir, read_only))
    except OSError as exc:
        log.warning("chmod of %s failed: %s", path, exc)


__all__ = ["group_mask", "needs_change", "owned_mode", "owned_payload", "pod_change_policy", "pod_fs_group",
           "pod_fs_user", "set_volume_ownership"]
