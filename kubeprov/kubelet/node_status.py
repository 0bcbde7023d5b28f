"""The kubelet's Node: what this machine offers (from /proc and the data dir's filesystem), registration,
status posts and the heartbeat Lease in kube-node-lease."""

from __future__ import annotations

import os
import platform
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
from kubeprov.controllers.timestamps import micro_now_text, now_text
from kubeprov.kubelet.eviction import (
    DEFAULT_EVICTION_HARD,
    Observations,
    Threshold,
    parse_thresholds,
    pressure,
    reserved,
)

Obj = dict[str, Any]

KUBELET_VERSION = "v1.32.0"
KUBELET_PORT = 10250
LEASE_NAMESPACE = "kube-node-lease"
LEASE_API = "coordination.k8s.io/v1"
# the kubelet's default hard eviction thresholds (pid.available 5% is ours: the kubelet has no default)
DEFAULT_THRESHOLDS = parse_thresholds(DEFAULT_EVICTION_HARD)
# status.images: the kubelet's nodeStatusMaxImages
MAX_IMAGES = 50
READY_MESSAGE = "kubelet is posting ready status"


@dataclass(frozen=True)
class Machine:
    """What the node has right now."""

    cpus: int
    memory_bytes: int
    memory_available: int
    storage_bytes: int
    storage_available: int
    pids_in_use: int
    pid_max: int
    # the images filesystem (0: the same as the node's) and inodes (0: not known)
    imagefs_bytes: int = 0
    imagefs_available: int = 0
    inodes: int = 0
    inodes_free: int = 0
    imagefs_inodes: int = 0
    imagefs_inodes_free: int = 0

    def observations(self) -> Observations:
        """(available, capacity) per eviction signal."""
        imagefs = (self.imagefs_available, self.imagefs_bytes) if self.imagefs_bytes else \
            (self.storage_available, self.storage_bytes)
        values = {"memory.available": (self.memory_available, self.memory_bytes),
                  "nodefs.available": (self.storage_available, self.storage_bytes),
                  "imagefs.available": imagefs,
                  "pid.available": (self.pid_max - self.pids_in_use, self.pid_max)}
        if self.inodes:
            values["nodefs.inodesFree"] = (self.inodes_free, self.inodes)
            values["imagefs.inodesFree"] = (self.imagefs_inodes_free, self.imagefs_inodes) if self.imagefs_inodes \
                else (self.inodes_free, self.inodes)
        return Observations(values)


def _meminfo() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            out[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out


def read_machine(data_dir: Path, images_dir: Path | None = None) -> Machine:
    mem = _meminfo()
    data_dir.mkdir(parents=True, exist_ok=True)
    fs = os.statvfs(data_dir)
    images = fs
    if images_dir is not None:
        images_dir.mkdir(parents=True, exist_ok=True)
        images = os.statvfs(images_dir)
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        pid_max = 32768
    pids = sum(1 for p in os.listdir("/proc") if p.isdigit())
    return Machine(cpus=os.cpu_count() or 1, memory_bytes=mem.get("MemTotal", 0),
                   memory_available=mem.get("MemAvailable", mem.get("MemFree", 0)),
                   storage_bytes=fs.f_blocks * fs.f_frsize, storage_available=fs.f_bavail * fs.f_frsize,
                   pids_in_use=pids, pid_max=pid_max, imagefs_bytes=images.f_blocks * images.f_frsize,
                   imagefs_available=images.f_bavail * images.f_frsize, inodes=fs.f_files, inodes_free=fs.f_favail,
                   imagefs_inodes=images.f_files, imagefs_inodes_free=images.f_favail)


def cgroup_limits_problem(cgroup_root: Path = Path("/sys/fs/cgroup")) -> str:
    """Why cpu and memory limits cannot be enforced on this machine ("" when they can): the cgroup
    hierarchies (v1 cpu and memory, or v2 with both controllers) must exist and take new groups."""
    v2 = cgroup_root / "cgroup.controllers"
    if v2.exists():
        controllers = _read(str(v2)).split()
        missing = [c for c in ("cpu", "memory") if c not in controllers]
        if missing:
            return f"cgroup v2 controllers {', '.join(missing)} are not available"
        targets = [cgroup_root]
    else:
        targets = [cgroup_root / "memory", cgroup_root / "cpu"]
    for target in targets:
        probe = target / f"kubeprov-probe-{uuid.uuid4().hex[:8]}"
        try:
            probe.mkdir()
            probe.rmdir()
        except OSError as exc:
            return f"cgroup hierarchy {target} is not writable ({exc.strerror or exc})"
    return ""


def node_images(records: list[Any], limit: int = MAX_IMAGES) -> list[Obj]:
    """status.images: one entry per image (records sharing an image ID), its names (repo digests first, then
    tags) and size, biggest first, at most ``limit``."""
    groups: dict[str, list[Any]] = {}
    for record in records:
        groups.setdefault(record.image_id, []).append(record)
    out = []
    for group in groups.values():
        digests = sorted({r.repo_digest for r in group})
        tags = sorted({r.name for r in group if "@" not in r.name})
        out.append({"names": digests + tags, "sizeBytes": max(r.size for r in group)})
    out.sort(key=lambda item: (-item["sizeBytes"], item["names"]))
    return out[:limit]


def default_node_ip() -> str:
    """The source address of the default route (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _read(path: str, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def node_info() -> Obj:
    machine_id = _read("/etc/machine-id") or uuid.uuid4().hex
    system_uuid = _read("/sys/class/dmi/id/product_uuid") or str(uuid.UUID(machine_id[:32].ljust(32, "0")))
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {"machineID": machine_id, "systemUUID": system_uuid,
            "bootID": _read("/proc/sys/kernel/random/boot_id"), "kernelVersion": platform.release(),
            "osImage": _os_image(), "containerRuntimeVersion": "kubeprov://0.1.0",
            "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "", "operatingSystem": "linux",
            "architecture": arch}


def capacity(machine: Machine, max_pods: int,
             thresholds: Mapping[str, Threshold] = DEFAULT_THRESHOLDS) -> tuple[Obj, Obj]:
    """(capacity, allocatable): allocatable less the hard eviction thresholds of memory and nodefs."""
    cap = {"cpu": str(machine.cpus), "memory": f"{machine.memory_bytes // 1024}Ki", "pods": str(max_pods),
           "ephemeral-storage": f"{machine.storage_bytes // 1024}Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0"}
    alloc = dict(cap)
    memory = machine.memory_bytes - reserved(thresholds, "memory.available", machine.memory_bytes)
    alloc["memory"] = f"{max(memory, 0) // 1024}Ki"
    storage = machine.storage_bytes - reserved(thresholds, "nodefs.available", machine.storage_bytes)
    alloc["ephemeral-storage"] = str(max(storage, 0))
    return cap, alloc


CONDITIONS = (
    # type, (status, reason, message) when under pressure / not ready, then when fine
    ("MemoryPressure", ("True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
     ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available")),
    ("DiskPressure", ("True", "KubeletHasDiskPressure", "kubelet has disk pressure"),
     ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure")),
    ("PIDPressure", ("True", "KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
     ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available")),
    ("Ready", ("False", "KubeletNotReady", "container runtime is not ready"),
     ("True", "KubeletReady", READY_MESSAGE)),
)


def conditions(machine: Machine, before: list[Obj], ready: bool = True,
               thresholds: Mapping[str, Threshold] = DEFAULT_THRESHOLDS, ready_note: str = "") -> list[Obj]:
    """The four node conditions; lastTransitionTime kept while the status does not change. ``ready_note``
    is appended to the Ready message (a warning operators should see, e.g. limits not enforced)."""
    bad = {**pressure(thresholds, machine.observations()), "Ready": not ready}
    old = {c.get("type"): c for c in before}
    beat = now_text()
    out = []
    for kind, worse, fine in CONDITIONS:
        status, reason, message = worse if bad[kind] else fine
        if kind == "Ready" and ready_note:
            message = f"{message}. WARNING: {ready_note}"
        prev = old.get(kind) or {}
        since = prev.get("lastTransitionTime") if prev.get("status") == status else None
        out.append({"type": kind, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": beat, "lastTransitionTime": since or beat})
    return out


def without_heartbeats(status: Obj) -> Obj:
    """The status as compared for 'changed': heartbeat times left out."""
    return {**status, "conditions": [{k: v for k, v in c.items() if k != "lastHeartbeatTime"}
                                     for c in status.get("conditions") or []]}


class NodeStatus:
    """Registers the Node, posts its status and renews its Lease (the kubelet's node status manager)."""

    def __init__(self, client: ApiClient, name: str, *, node_ip: str, data_dir: Path, labels: dict[str, str],
                 max_pods: int = 110, lease_duration: int = 40, kubelet_port: int = KUBELET_PORT,
                 eviction_hard: Mapping[str, str] | None = None, images_dir: Path | None = None,
                 images: Callable[[], list[Any]] | None = None, limits_problem: str | None = None,
                 taints: list[dict[str, str]] | None = None) -> None:
        self.client = client
        # status.daemonEndpoints.kubeletEndpoint.Port: where the API server reaches this kubelet's server
        self.kubelet_port = kubelet_port
        self.name = name
        self.node_ip = node_ip
        self.data_dir = data_dir
        self.extra_labels = labels
        self.taints = taints or []
        self.max_pods = max_pods
        self.lease_duration = lease_duration
        self.thresholds = DEFAULT_THRESHOLDS if eviction_hard is None else parse_thresholds(eviction_hard)
        self.images_dir = images_dir
        # image records of the node's store (status.images); none until the image service exists
        self.images = images or (lambda: [])
        # why resource limits are not enforced here ("" when they are), told in the Ready condition
        self.limits_problem = cgroup_limits_problem() if limits_problem is None else limits_problem
        self.node: Obj | None = None
        self._lease: Obj | None = None
        self._posted: Obj | None = None

    def labels(self) -> dict[str, str]:
        arch = node_info()["architecture"]
        return {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": arch, **self.extra_labels}

    def status(self, images: list[Obj] | None = None) -> Obj:
        machine = read_machine(self.data_dir, self.images_dir)
        cap, alloc = capacity(machine, self.max_pods, self.thresholds)
        before = ((self.node or {}).get("status") or {}).get("conditions") or []
        note = f"{self.limits_problem}: cpu and memory limits are not enforced" if self.limits_problem else ""
        if images is None:
            images = node_images(self.images())
        return {"capacity": cap, "allocatable": alloc,
                "conditions": conditions(machine, before, True, self.thresholds, note),
                "addresses": [{"type": "InternalIP", "address": self.node_ip},
                              {"type": "Hostname", "address": self.name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
                "nodeInfo": node_info(), "images": images or []}

    async def register(self) -> Obj:
        """Create the Node, or take over the existing one of this name (its status is then posted)."""
        body = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": self.labels(),
                             "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                             "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
                "spec": {"taints": self.taints} if self.taints else {}, "status": self.status()}
        try:
            self.node = await self.client.create("v1", "nodes", body)
            self._posted = without_heartbeats(body["status"])
        except StatusError as exc:
            if exc.code != 409:
                raise
            self.node = await self.client.get("v1", "nodes", self.name)
            await self.post_status(force=True)
        return self.node

    async def post_status(self, force: bool = False) -> bool:
        """Patch the status when it changed (or ``force``); True when written."""
        status = self.status()
        if not force and without_heartbeats(status) == self._posted:
            return False
        self.node = await self.client.patch("v1", "nodes", self.name, {"status": status}, subresource="status")
        self._posted = without_heartbeats(status)
        return True

    async def renew_lease(self) -> Obj:
        """kube-node-lease/<node> with a fresh renewTime, owned by the Node (created when missing)."""
        uid = ((self.node or {}).get("metadata") or {}).get("uid", "")
        owner = [{"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": uid}] if uid else []
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": self.lease_duration}
        for _ in range(3):
            if self._lease is None:
                try:
                    self._lease = await self.client.get(LEASE_API, "leases", self.name, LEASE_NAMESPACE)
                except StatusError as exc:
                    if exc.code != 404:
                        raise
                    body = {"apiVersion": LEASE_API, "kind": "Lease",
                            "metadata": {"name": self.name, "namespace": LEASE_NAMESPACE, "ownerReferences": owner},
                            "spec": {**spec, "renewTime": micro_now_text()}}
                    try:
                        self._lease = await self.client.create(LEASE_API, "leases", body, LEASE_NAMESPACE)
                        return self._lease
                    except StatusError as exc2:
                        if exc2.code != 409:
                            raise
                        continue
            lease = self._lease
            meta = {**(lease.get("metadata") or {}), **({"ownerReferences": owner} if owner else {})}
            body = {**lease, "apiVersion": LEASE_API, "kind": "Lease", "metadata": meta,
                    "spec": {**(lease.get("spec") or {}), **spec, "renewTime": micro_now_text()}}
            try:
                self._lease = await self.client.update(LEASE_API, "leases", body, LEASE_NAMESPACE)
                return self._lease
            except StatusError as exc:
                if exc.code not in (404, 409):
                    raise
                self._lease = None
        raise RuntimeError(f"node {self.name}: could not renew its lease")
