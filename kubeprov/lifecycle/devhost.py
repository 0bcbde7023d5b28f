"""The host side of `dev up --kubelet`: one numbered slot of names and private addresses per dev node.

Several dev clusters run on one machine (tests run them side by side), so each takes the first free slot
``n`` and owns, for as long as it runs: the dummy interface ``kpdev<n>-host`` (an empty bridge where the kernel has
no dummy driver) carrying the Node's InternalIP
``10.243.<n>.1`` and the node-local DNS address ``169.254.20.<10+n>`` (slot 0 gets the usual 169.254.20.10),
the CNI bridge ``kpdev<n>`` with pods in ``10.244.<n>.0/24``, Services in ``10.<96+n>.0.0/16`` and the
cgroup parent ``/kubeprov-dev<n>``.
Creating the dummy interface is the claim: ``ip link add`` fails if another cluster took the slot first.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from kubeprov.errors import KubeprovError
from kubeprov.state.atomic import atomic_write

SLOTS = 50


@dataclass(frozen=True)
class NodeHost:
    """What a slot's dev node owns on the host; saved in ``<dir>/node.json``."""

    slot: int
    directory: str

    @property
    def host_link(self) -> str:
        return f"kpdev{self.slot}-host"

    @property
    def bridge(self) -> str:
        return f"kpdev{self.slot}"

    @property
    def node_ip(self) -> str:
        return f"10.243.{self.slot}.1"

    @property
    def dns_ip(self) -> str:
        return f"169.254.20.{10 + self.slot}"

    @property
    def pod_cidr(self) -> str:
        return f"10.244.{self.slot}.0/24"

    @property
    def service_cidr(self) -> str:
        # slot 0 keeps kubeadm's 10.96.0.0/16 start (kube-dns at 10.96.0.10); others must not overlap, since
        # every dev node's proxy rules for its ClusterIPs live in the same host nftables
        return f"10.{96 + self.slot}.0.0/16"

    @property
    def dns_service_ip(self) -> str:
        return f"10.{96 + self.slot}.0.10"

    @property
    def proxy_table(self) -> str:
        return f"kpdev{self.slot}-proxy"

    @property
    def cgroup_parent(self) -> str:
        return f"/kubeprov-dev{self.slot}"

    @property
    def run_dir(self) -> Path:
        # under /run (tmpfs, gone after a reboot like the namespaces in it) and short: socket paths are limited
        return Path("/run") / f"kubeprov-dev-{hashlib.sha256(self.directory.encode()).hexdigest()[:10]}"

    def save(self) -> None:
        atomic_write(Path(self.directory) / "node.json", json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> NodeHost | None:
        path = directory / "node.json"
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return cls(int(raw["slot"]), str(raw["directory"]))


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def link_exists(name: str) -> bool:
    return _ip("link", "show", "dev", name).returncode == 0


def _ranges_free(host: NodeHost) -> bool:
    """No route on this host already covers the slot's pod or node range (someone else's network)."""
    ours = [ipaddress.ip_network(host.pod_cidr), ipaddress.ip_network(f"{host.node_ip}/24", strict=False)]
    for line in _ip("-4", "route", "show", "table", "all").stdout.splitlines():
        if f" dev {host.bridge} " in f"{line} " or f" dev {host.host_link} " in f"{line} ":
            continue  # the slot's own leftovers (e.g. its bridge after a crash)
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unreachable", "blackhole", "prohibit", "multicast"):
            word = line.split()[1]
        if word == "default":
            continue
        try:
            net = ipaddress.ip_network(word, strict=False)
        except ValueError:
            continue
        if any(net.overlaps(mine) for mine in ours):
            return False
    return True


def _add_link(name: str) -> bool:
    """A dummy interface, or where the kernel has no dummy driver an empty bridge (addresses on it are just
    as local); False when the name is taken."""
    if _ip("link", "add", name, "type", "dummy").returncode == 0:
        return True
    return _ip("link", "add", name, "type", "bridge").returncode == 0


def _configure(host: NodeHost) -> None:
    for address in (host.node_ip, host.dns_ip):
        _ip("addr", "replace", f"{address}/32", "dev", host.host_link)
    up = _ip("link", "set", host.host_link, "up")
    if up.returncode != 0:
        raise KubeprovError(f"cannot bring up {host.host_link}: {up.stderr.strip()}")


def claim(directory: Path) -> NodeHost:
    """This folder's slot (the one it had, if still ours or free again), its dummy interface up."""
    directory = directory.resolve()
    known = NodeHost.load(directory)
    if known is not None and (link_exists(known.host_link) or _ranges_free(known)):
        if not link_exists(known.host_link):
            _add_link(known.host_link)
        _configure(known)
        return known
    for slot in range(SLOTS):
        host = NodeHost(slot, str(directory))
        if link_exists(host.host_link) or link_exists(host.bridge) or not _ranges_free(host):
            continue
        if not _add_link(host.host_link):
            continue  # taken by a cluster starting at the same moment
        host.save()
        _configure(host)
        return host
    raise KubeprovError(f"no free dev node slot on this host (all {SLOTS} kpdev<n>-host interfaces exist)",
                        "stop other dev clusters with `kubeprov dev down --dir ...`")


def mounts_under(folder: Path) -> list[str]:
    """Mount points inside ``folder``, deepest first (the order to unmount them)."""
    prefix = f"{folder}/"
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


def release(host: NodeHost) -> list[str]:
    """Remove the slot's bridge, dummy interface, cgroups and run dir; returns what was removed."""
    from kubeprov.kubelet.runtime.manager import remove_cgroup

    removed = []
    for name in (host.bridge, host.host_link):
        if link_exists(name) and _ip("link", "del", name).returncode == 0:
            removed.append(f"interface {name}")
    remove_cgroup(host.cgroup_parent)
    table = ("ip", host.proxy_table)
    if subprocess.run(["nft", "list", "table", *table], capture_output=True, check=False).returncode == 0:
        subprocess.run(["nft", "delete", "table", *table], capture_output=True, check=False)
        removed.append(f"nft table {host.proxy_table}")
    if host.run_dir.exists():
        # only namespace pins live there; never delete through a mount
        for point in mounts_under(host.run_dir):
            subprocess.run(["umount", point], capture_output=True, check=False)
        if mounts_under(host.run_dir):
            raise KubeprovError(f"{host.run_dir} still has mounts: {', '.join(mounts_under(host.run_dir))}")
        shutil.rmtree(host.run_dir)
        removed.append(f"run dir {host.run_dir}")
    (Path(host.directory) / "node.json").unlink(missing_ok=True)
    return removed
