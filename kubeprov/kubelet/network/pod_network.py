"""A pod's sandbox network: its own namespace, ``lo`` up, an address from the node's podCIDR, its hostPorts.

``setup`` and ``teardown`` are idempotent so the pod worker can call them on every sync and after a crash:
teardown always runs the chain's DEL (host-local releases by container id, portmap drops its chains, bridge
removes the veth) even when the namespace or the cached result is already gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeprov.kubelet.network import netns
from kubeprov.kubelet.network.cni import (
    DEFAULT_CNI_PATH,
    CniError,
    CniRunner,
    Invocation,
    bridge_conflist,
    loopback_conflist,
)

Pod = dict[str, Any]


@dataclass(frozen=True)
class NetworkConfig:
    """The node's pod network settings (from the kubelet config and the Node's spec.podCIDRs)."""

    pod_cidrs: tuple[str, ...]
    bridge: str = "kubeprov0"
    network_name: str = "kubeprov"
    cni_path: Path = DEFAULT_CNI_PATH
    netns_dir: Path = netns.DEFAULT_NETNS_DIR
    ipam_dir: Path = Path("/var/lib/kubeprov/cni/networks")
    cache_dir: Path = Path("/var/lib/kubeprov/cni/cache")
    ip_masq: bool = True
    hairpin: bool = True
    mtu: int = 0
    ifname: str = "eth0"


def sandbox_id(pod: Pod) -> str:
    """The sandbox (and CNI container) id: the pod's uid, stable across kubelet restarts."""
    uid = (pod.get("metadata") or {}).get("uid", "")
    if not uid:
        raise ValueError("pod has no metadata.uid")
    return uid


def host_network(pod: Pod) -> bool:
    return bool((pod.get("spec") or {}).get("hostNetwork"))


def port_mappings(pod: Pod) -> list[dict[str, Any]]:
    """Every container port with a hostPort, as portmap's runtimeConfig wants it."""
    mappings = []
    spec = pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for port in container.get("ports") or []:
            if not port.get("hostPort"):
                continue
            mapping = {"hostPort": int(port["hostPort"]), "containerPort": int(port["containerPort"]),
                       "protocol": str(port.get("protocol") or "TCP").lower()}
            if port.get("hostIP"):
                mapping["hostIP"] = port["hostIP"]
            mappings.append(mapping)
    return mappings


class PodNetwork:
    """Sets up and tears down pod sandboxes' networks on this node."""

    def __init__(self, config: NetworkConfig) -> None:
        self.config = config
        self.runner = CniRunner(config.cni_path, config.cache_dir)
        self.conflist = bridge_conflist(config.network_name, config.bridge, list(config.pod_cidrs), config.ipam_dir,
                                        ip_masq=config.ip_masq, hairpin=config.hairpin, mtu=config.mtu)
        self.loopback = loopback_conflist()

    def netns_path(self, pod: Pod) -> Path:
        return self.config.netns_dir / sandbox_id(pod)

    def _invocation(self, pod: Pod, ifname: str) -> Invocation:
        meta = pod.get("metadata") or {}
        args = {"IgnoreUnknown": "1", "K8S_POD_NAMESPACE": meta.get("namespace", ""),
                "K8S_POD_NAME": meta.get("name", ""), "K8S_POD_INFRA_CONTAINER_ID": sandbox_id(pod),
                "K8S_POD_UID": sandbox_id(pod)}
        return Invocation(sandbox_id(pod), str(self.netns_path(pod)), ifname, args,
                          {"portMappings": port_mappings(pod)})

    async def setup(self, pod: Pod) -> str:
        """Make the pod's network and return its IP ('' for hostNetwork pods, which use the node's)."""
        if host_network(pod):
            return ""
        sid = sandbox_id(pod)
        inv = self._invocation(pod, self.config.ifname)
        cached = self.runner.cached(self.conflist["name"], sid, self.config.ifname)
        if cached is not None and cached.ips and netns.exists(sid, self.config.netns_dir):
            # Not CNI CHECK: Debian's portmap fails CHECK on IPv4-only results (it looks for an IPv6 chain).
            return cached.ipv4 or cached.ips[0]
        # A half-made sandbox (crash between steps): undo it all, then start clean.
        await self.teardown(pod)
        netns.create(sid, self.config.netns_dir)
        try:
            await self.runner.add(self.loopback, self._invocation(pod, "lo"))
            result = await self.runner.add(self.conflist, inv)
        except BaseException:
            await self.teardown(pod)
            raise
        if not result.ips:
            await self.teardown(pod)
            raise CniError(self.conflist["name"], "ADD", "plugin chain returned no IP address")
        return result.ipv4 or result.ips[0]

    async def teardown(self, pod: Pod) -> None:
        """Release everything ``setup`` made; safe to call any number of times and after a crash."""
        if host_network(pod):
            return
        sid = sandbox_id(pod)
        inv = self._invocation(pod, self.config.ifname)
        if not netns.exists(sid, self.config.netns_dir):
            inv = Invocation(inv.container_id, "", inv.ifname, inv.args, inv.runtime_config)
        try:
            await self.runner.delete(self.conflist, inv)
        finally:  # a failed DEL (e.g. a NAT chain someone removed) must not leave the namespace pinned
            self.runner.cache_dir.joinpath(f"{self.loopback['name']}-{sid}-lo.json").unlink(missing_ok=True)
            netns.delete(sid, self.config.netns_dir)

    def pod_ip(self, pod: Pod) -> str:
        """The IP from the cached result ('' when the sandbox has none), e.g. after a kubelet restart."""
        cached = self.runner.cached(self.conflist["name"], sandbox_id(pod), self.config.ifname)
        if cached is None or not cached.ips:
            return ""
        return cached.ipv4 or cached.ips[0]
