"""Pod sandboxes without a pause image: the pod's network, IPC and UTS namespaces are held by bind
mounts of their nsfs files under ``<netns dir>/<pod>/`` (what ``ip netns add`` does for one namespace),
so they live exactly as long as the pod, survive a kubelet restart, and every container joins them by
path. Network setup (CNI) is not ours: a caller may hand in a prepared netns path instead."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from kubeprov.kubelet.runtime import syscalls
from kubeprov.kubelet.runtime.rootfs import MountError, is_mounted, unmount
from kubeprov.kubelet.runtime.spec import SandboxNamespaces

SANDBOX_FILE = "sandbox.json"


class SandboxError(RuntimeError):
    """A namespace could not be created or entered."""


@dataclass
class Sandbox:
    """One pod's namespaces; ``owned`` lists the namespace files we created (and so remove)."""

    id: str
    hostname: str
    dir: str
    network: str | None
    ipc: str
    uts: str | None
    owned: list[str]
    host_network: bool = False

    @property
    def namespaces(self) -> SandboxNamespaces:
        return SandboxNamespaces(self.network, self.ipc, self.uts)

    def save(self) -> None:
        (Path(self.dir) / SANDBOX_FILE).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, directory: Path) -> Sandbox | None:
        try:
            return cls(**json.loads((directory / SANDBOX_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return None


async def create(
    root: Path, pod_id: str, hostname: str, netns: str | None = None, host_network: bool = False
) -> Sandbox:
    """New IPC namespace always; new UTS namespace with the pod's hostname unless hostNetwork (which
    shares the host's network and UTS, as Kubernetes does); the given netns, else an empty one with
    loopback up."""
    directory = root / pod_id
    directory.mkdir(parents=True, exist_ok=True)
    wanted = {"ipc": directory / "ipc"}
    if not host_network:
        wanted["uts"] = directory / "uts"
        if netns is None:
            wanted["net"] = directory / "net"
    for path in wanted.values():
        path.touch()
    sandbox = Sandbox(
        id=pod_id,
        hostname=hostname,
        dir=str(directory),
        network=None if host_network else (netns or str(wanted["net"])),
        ipc=str(wanted["ipc"]),
        uts=str(wanted["uts"]) if "uts" in wanted else None,
        owned=[str(p) for p in wanted.values()],
        host_network=host_network,
    )
    sandbox.save()
    try:
        syscalls.pin_new_namespaces(wanted, hostname if "uts" in wanted else None)
    except OSError as exc:
        await remove(sandbox)
        raise SandboxError(f"cannot create the pod's namespaces: {exc.strerror}") from None
    return sandbox


async def remove(sandbox: Sandbox) -> None:
    """Unmount the namespace files we own (the namespaces go when their last process does) and drop
    the directory; a netns handed in by the caller is left to its owner."""
    for path in sandbox.owned:
        try:
            await unmount(Path(path))
        except MountError as e:
            raise SandboxError(str(e)) from e
    leftover = [p for p in sandbox.owned if is_mounted(Path(p))]
    if leftover:
        raise SandboxError(f"namespace files still mounted: {leftover}")
    await asyncio.to_thread(shutil.rmtree, sandbox.dir, True)
