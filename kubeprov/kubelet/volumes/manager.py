"""Materializes a pod's volumes under ``<root>/pods/<uid>/volumes`` and keeps API-backed ones current.

``setup`` makes every volume and returns where each one is on the host (what runc bind-mounts);
``refresh`` rewrites configMap/secret/downwardAPI/projected contents when their objects changed (atomic swap,
no-op when equal) and renews projected tokens at 80% of their lifetime; ``teardown`` unmounts and removes.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeprov.api.client import ApiClient
from kubeprov.api.quantity import Quantity
from kubeprov.api.status import StatusError
from kubeprov.kubelet.volumes import atomic_writer, hostpath, mounts, ownership, paths
from kubeprov.kubelet.volumes.atomic_writer import FileProjection, Payload
from kubeprov.kubelet.volumes.errors import VolumeError
from kubeprov.kubelet.volumes.projection import (
    DEFAULT_MODE,
    config_map_data,
    downward_payload,
    keyed_payload,
    secret_data,
)

Obj = dict[str, Any]
API_BACKED = ("configMap", "secret", "downwardAPI", "projected")
MEMORY_BACKED = ("secret", "projected")
TOKEN_MAX_REFRESH = 24 * 3600


@dataclass(frozen=True)
class VolumeConfig:
    """``root`` is the kubelet's root directory; allocatable fills resourceFieldRef limits a container lacks."""

    root: Path
    node_allocatable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MountedVolume:
    """A volume ready to be bind-mounted: where it is on the host, and whether the pod spec wants it read-only."""

    name: str
    kind: str
    path: Path
    read_only: bool = False
    managed: bool = True  # False for hostPath/PVC paths, which belong to the host and are never removed


@dataclass
class _Token:
    data: bytes
    refresh_at: float


def volume_kind(volume: Obj) -> str:
    for kind in ("emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "projected", "persistentVolumeClaim"):
        if kind in volume:
            return kind
    raise VolumeError(f"volume {volume.get('name')!r}: unsupported volume type")


def subpath_source(volume: MountedVolume, volume_mount: Obj) -> Path:
    """The host path for a volumeMount: the volume, or its ``subPath`` (created as a directory when missing).

    The resolved path must stay inside the volume, so a symlink in the volume cannot point the mount elsewhere.
    """
    sub = volume_mount.get("subPath") or ""
    if not sub:
        return volume.path
    if sub.startswith("/") or ".." in sub.split("/"):
        raise VolumeError(f"invalid subPath {sub!r}: must be a relative path without '..'")
    target = volume.path / sub
    if not target.exists() and not target.is_symlink():
        target.mkdir(parents=True, mode=0o755)
    base = volume.path.resolve()
    resolved = target.resolve()
    if resolved != base and base not in resolved.parents:
        raise VolumeError(f"subPath {sub!r} resolves outside the volume {volume.name!r}")
    return resolved


class VolumeManager:
    """One per kubelet; remembers only projected tokens (so they are renewed, not re-requested every sync)."""

    def __init__(self, client: ApiClient, config: VolumeConfig) -> None:
        self.client = client
        self.config = config
        self._tokens: dict[tuple[str, str, str], _Token] = {}

    # ---- set-up --------------------------------------------------------------------------------

    async def setup(self, pod: Obj) -> dict[str, MountedVolume]:
        """Make every volume of ``pod``; idempotent. Raises VolumeError naming the first volume that failed."""
        mounted = {}
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            try:
                mounted[volume["name"]] = await self._setup_one(pod, volume)
            except VolumeError as exc:
                raise VolumeError(f'MountVolume.SetUp failed for volume "{volume["name"]}" : {exc}') from exc
        return mounted

    async def _setup_one(self, pod: Obj, volume: Obj) -> MountedVolume:
        kind = volume_kind(volume)
        source = volume[kind] or {}
        name = volume["name"]
        if kind == "hostPath":
            path = hostpath.prepare(Path(source.get("path", "")), source.get("type") or "")
            return MountedVolume(name, kind, path, managed=False)
        if kind == "persistentVolumeClaim":
            return await self._claim(pod, name, source)
        target = paths.volume_dir(self.config.root, _uid(pod), kind, name)
        if kind == "emptyDir":
            if source.get("medium") == "Memory":
                limit = source.get("sizeLimit")
                mounts.mount_tmpfs(target, Quantity.parse(str(limit)).value() if limit else 0)
            else:
                target.mkdir(parents=True, exist_ok=True)
                target.chmod(0o777)
            ownership.set_volume_ownership(target, ownership.pod_fs_group(pod), read_only=False)
            return MountedVolume(name, kind, target)
        if kind in MEMORY_BACKED:
            mounts.mount_tmpfs(target, mode=0o755)
        else:
            target.mkdir(parents=True, exist_ok=True)
        await self._write(pod, target, kind, source, name)
        read_only = kind in API_BACKED  # the kubelet always mounts these read-only
        return MountedVolume(name, kind, target, read_only=read_only)

    async def _claim(self, pod: Obj, name: str, source: Obj) -> MountedVolume:
        namespace = _namespace(pod)
        claim_name = source.get("claimName", "")
        claim = await self._get("persistentvolumeclaims", claim_name, namespace)
        if claim is None:
            raise VolumeError(f'persistentvolumeclaim "{claim_name}" not found')
        pv_name = (claim.get("spec") or {}).get("volumeName") or ""
        if (claim.get("status") or {}).get("phase") != "Bound" or not pv_name:
            raise VolumeError(f'persistentvolumeclaim "{claim_name}" is not bound')
        pv = await self._get("persistentvolumes", pv_name, "")
        if pv is None:
            raise VolumeError(f'persistentvolume "{pv_name}" not found')
        spec = pv.get("spec") or {}
        if spec.get("hostPath"):
            path = hostpath.prepare(Path(spec["hostPath"].get("path", "")), spec["hostPath"].get("type") or "")
        elif spec.get("local"):
            path = hostpath.prepare(Path(spec["local"].get("path", "")), "")
        else:
            raise VolumeError(f'persistentvolume "{pv_name}" is neither hostPath nor local')
        read_only = bool(source.get("readOnly")) or spec.get("accessModes") == ["ReadOnlyMany"]
        if spec.get("local") and not read_only:  # the kubelet's hostPath plugin never changes ownership
            ownership.set_volume_ownership(path, ownership.pod_fs_group(pod), False, ownership.pod_change_policy(pod))
        return MountedVolume(name, "persistentVolumeClaim", path, read_only=read_only, managed=False)

    # ---- contents of API-backed volumes ---------------------------------------------------------

    async def _write(self, pod: Obj, target: Path, kind: str, source: Obj, volume_name: str) -> bool:
        """Write the volume's payload; with an fsGroup, files get the group bits and the whole volume the group
        (these volumes are read-only: group read, no write), before the new files are swapped in."""
        fs_group = ownership.pod_fs_group(pod)
        payload = ownership.owned_payload(await self._payload(pod, kind, source, volume_name), fs_group)

        def set_perms(root: Path) -> None:
            ownership.set_volume_ownership(root, fs_group, read_only=True)

        return atomic_writer.write(target, payload, set_perms if fs_group is not None else None)

    async def _payload(self, pod: Obj, kind: str, source: Obj, volume_name: str) -> Payload:
        if kind == "configMap":
            return await self._config_map(pod, source, None)
        if kind == "secret":
            return await self._secret(pod, source, None)
        if kind == "downwardAPI":
            mode = source.get("defaultMode", DEFAULT_MODE)
            return downward_payload(pod, source.get("items") or [], mode, self.config.node_allocatable)
        return await self._projected(pod, source, volume_name)

    async def _config_map(self, pod: Obj, source: Obj, default_mode: int | None) -> Payload:
        name = source.get("name", "")
        obj = await self._get("configmaps", name, _namespace(pod))
        return keyed_payload("configmap", name, None if obj is None else config_map_data(obj), source, default_mode)

    async def _secret(self, pod: Obj, source: Obj, default_mode: int | None) -> Payload:
        name = source.get("secretName") or source.get("name", "")
        obj = await self._get("secrets", name, _namespace(pod))
        return keyed_payload("secret", name, None if obj is None else secret_data(obj), source, default_mode)

    async def _projected(self, pod: Obj, source: Obj, volume_name: str) -> Payload:
        mode = source.get("defaultMode", DEFAULT_MODE)
        payload: Payload = {}
        for item in source.get("sources") or []:
            if "configMap" in item:
                payload.update(await self._config_map(pod, item["configMap"], mode))
            elif "secret" in item:
                payload.update(await self._secret(pod, item["secret"], mode))
            elif "downwardAPI" in item:
                payload.update(downward_payload(pod, item["downwardAPI"].get("items") or [], mode,
                                                self.config.node_allocatable))
            elif "serviceAccountToken" in item:
                token_source = item["serviceAccountToken"]
                path = token_source.get("path", "token")
                fs_user = ownership.pod_fs_user(pod)
                private = fs_user is not None or ownership.pod_fs_group(pod) is not None
                payload[path] = FileProjection(await self._token(pod, token_source, volume_name),
                                               ownership.PRIVATE_TOKEN_MODE if private else mode, fs_user)
            else:
                raise VolumeError(f"unsupported projected source {sorted(item)}")
        return payload

    async def _token(self, pod: Obj, source: Obj, volume_name: str) -> bytes:
        """A bound token for the pod's ServiceAccount, reused until 80% of its lifetime (at most 24 h) passed."""
        key = (_uid(pod), volume_name, source.get("path", "token"))
        held = self._tokens.get(key)
        now = time.monotonic()
        if held is not None and now < held.refresh_at:
            return held.data
        seconds = int(source.get("expirationSeconds") or 3600)
        meta = pod.get("metadata") or {}
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
            "audiences": [source["audience"]] if source.get("audience") else [],
            "expirationSeconds": seconds,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta.get("name", ""),
                               "uid": meta.get("uid", "")}}}
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        try:
            answer = await self.client.create("v1", "serviceaccounts", request, _namespace(pod), name=account,
                                              subresource="token")
        except StatusError as exc:
            raise VolumeError(f'failed to fetch token for serviceaccount "{account}": {exc}') from exc
        data = ((answer.get("status") or {}).get("token") or "").encode()
        granted = int((answer.get("spec") or {}).get("expirationSeconds") or seconds)
        self._tokens[key] = _Token(data, now + min(granted * 0.8, TOKEN_MAX_REFRESH))
        return data

    async def _get(self, resource: str, name: str, namespace: str) -> Obj | None:
        try:
            return await self.client.get("v1", resource, name, namespace)
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise

    # ---- updates and teardown -------------------------------------------------------------------

    async def refresh(self, pod: Obj) -> list[str]:
        """Rewrite API-backed volumes whose contents changed; returns the names of the volumes rewritten."""
        changed = []
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            kind = volume_kind(volume)
            if kind not in API_BACKED:
                continue
            target = paths.volume_dir(self.config.root, _uid(pod), kind, volume["name"])
            if not target.is_dir():
                continue  # not set up yet: setup writes it
            if await self._write(pod, target, kind, volume[kind] or {}, volume["name"]):
                changed.append(volume["name"])
        return changed

    def teardown(self, pod_uid: str) -> None:
        """Unmount every tmpfs of the pod and remove its volume directories; hostPath/PVC data is left alone."""
        folder = paths.volumes_dir(self.config.root, pod_uid)
        for point in mounts.mounts_under(folder):
            mounts.unmount(point)
        left = mounts.mounts_under(folder)
        if left:
            raise VolumeError(f"cannot remove volumes of pod {pod_uid}: still mounted: {', '.join(map(str, left))}")
        shutil.rmtree(folder, ignore_errors=True)
        try:
            paths.pod_dir(self.config.root, pod_uid).rmdir()
        except OSError:
            pass  # other kubelet parts still keep files there; they remove the pod directory
        self._tokens = {key: value for key, value in self._tokens.items() if key[0] != pod_uid}


def _uid(pod: Obj) -> str:
    uid = (pod.get("metadata") or {}).get("uid") or ""
    if not uid or "/" in uid or uid in (".", ".."):
        raise VolumeError(f"pod has no usable metadata.uid: {uid!r}")
    return uid


def _namespace(pod: Obj) -> str:
    return (pod.get("metadata") or {}).get("namespace") or "default"


__all__ = ["MountedVolume", "VolumeConfig", "VolumeManager", "subpath_source", "volume_kind"]
