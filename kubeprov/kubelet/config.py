"""The kubelet's one config file (YAML), rendered from templates/kubelet.yaml.j2."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kubeprov.component import ComponentConfig
from kubeprov.errors import KubeprovError


@dataclass
class KubeletConfig(ComponentConfig):
    what: ClassVar[str] = "kubelet"

    kubeconfig: str = ""
    # the Node's name; empty = this machine's hostname (lower-cased, as the kubelet does)
    node_name: str = ""
    # InternalIP of the Node; empty = the address of the interface with the default route
    node_ip: str = ""
    node_labels: dict[str, str] = field(default_factory=dict)
    # images, containers, volumes and CNI state live under root_dir; namespaces, runc state under run_dir
    root_dir: str = "/var/lib/kubeprov/kubelet"
    run_dir: str = "/run/kubeprov"
    cgroup_parent: str = "/kubeprov"
    # the pod network: Node.spec.podCIDR when set, else this
    pod_cidr: str = ""
    cni_bridge: str = "kubeprov0"
    cni_network: str = "kubeprov"
    cluster_dns: list[str] = field(default_factory=list)
    cluster_domain: str = "cluster.local"
    # registry name -> URL or {server, mirrors} (see kubelet/images/hosts.py)
    registries: dict[str, Any] = field(default_factory=dict)
    max_pods: int = 110
    node_status_update_frequency: float = 60.0
    node_lease_renew_interval: float = 10.0
    node_lease_duration_seconds: int = 40
    # how often a pod worker looks at its containers when nothing else wakes it
    pod_sync_interval: float = 1.0
    log_level: str = "info"

    def validate(self, source: str = "config") -> None:
        if self.pod_cidr:
            try:
                ipaddress.ip_network(self.pod_cidr)
            except ValueError:
                raise KubeprovError(f"{source}: pod_cidr {self.pod_cidr!r} is not a CIDR") from None
        if self.max_pods < 1:
            raise KubeprovError(f"{source}: max_pods must be at least 1")
        if not self.node_lease_renew_interval > 0 or not self.node_status_update_frequency > 0:
            raise KubeprovError(f"{source}: node_lease_renew_interval and node_status_update_frequency must be > 0")
        if self.node_lease_duration_seconds <= self.node_lease_renew_interval:
            raise KubeprovError(f"{source}: node_lease_duration_seconds must exceed node_lease_renew_interval")

    @property
    def name(self) -> str:
        return self.node_name or socket.gethostname().lower()
