"""The service proxy's one config file (YAML, rendered from templates/proxy.yaml.j2)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import ClassVar

from kubeprov.component import ComponentConfig
from kubeprov.errors import KubeprovError


@dataclass
class ProxyConfig(ComponentConfig):
    what: ClassVar[str] = "service proxy"

    kubeconfig: str = ""
    # the Node's name (for externalTrafficPolicy/internalTrafficPolicy Local); empty = this machine's hostname
    node_name: str = ""
    # the pod network: traffic to a ClusterIP from outside it is masqueraded (empty: only with masquerade_all)
    cluster_cidr: str = ""
    # where NodePorts answer: CIDRs or addresses; empty = every local address of the node but loopback
    nodeport_addresses: list[str] = field(default_factory=list)
    masquerade_all: bool = False
    # seconds between full resyncs, and the least time between two syncs (changes are batched meanwhile)
    sync_period: float = 30.0
    min_sync_period: float = 1.0
    health_port: int = 10256
    health_bind_address: str = "127.0.0.1"
    # where the healthCheckNodePort of LoadBalancer Services with externalTrafficPolicy Local is served
    service_health_bind_address: str = "0.0.0.0"
    # our rules live in this table (family ip) and nowhere else
    table: str = "kubeprov-proxy"
    # the nft command line (tests: ["ip", "netns", "exec", NS, "nft"])
    nft: list[str] = field(default_factory=lambda: ["nft"])
    log_level: str = "info"

    def validate(self, source: str = "config") -> None:
        if self.cluster_cidr:
            try:
                ipaddress.IPv4Network(self.cluster_cidr, strict=False)
            except ValueError:
                raise KubeprovError(f"{source}: cluster_cidr {self.cluster_cidr!r} is not an IPv4 CIDR") from None
        for entry in self.nodeport_addresses:
            try:
                ipaddress.IPv4Network(str(entry), strict=False)
            except ValueError:
                raise KubeprovError(f"{source}: nodeport_addresses entry {entry!r} is not an IPv4 address or CIDR"
                                    ) from None
        for name in ("health_bind_address", "service_health_bind_address"):
            try:
                ipaddress.ip_address(getattr(self, name))
            except ValueError:
                raise KubeprovError(f"{source}: {name} must be an IP address") from None
        if not self.sync_period > 0 or self.min_sync_period < 0:
            raise KubeprovError(f"{source}: sync_period must be > 0 and min_sync_period >= 0")
        if not isinstance(self.health_port, int) or not 0 <= self.health_port <= 65535:
            raise KubeprovError(f"{source}: health_port must be a port number (0 for any free port)")
        if not self.table or not self.table.replace("-", "").replace("_", "").isalnum():
            raise KubeprovError(f"{source}: table must be a name of letters, digits, '-' and '_'")
        if not self.nft or not all(isinstance(a, str) for a in self.nft):
            raise KubeprovError(f"{source}: nft must be a non-empty list of strings (the command line)")

    @property
    def name(self) -> str:
        return self.node_name or socket.gethostname().lower()
