"""The DNS server's one config file (YAML, rendered from templates/dns.yaml.j2)."""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml

from kubeprov.component import ComponentConfig
from kubeprov.dns.records import POD_MODES
from kubeprov.errors import KubeprovError


@dataclass
class DnsConfig(ComponentConfig):
    what: ClassVar[str] = "DNS"

    kubeconfig: str = ""
    # node-local: a link-local address every pod's resolv.conf names (0 = any free port, tests)
    listen_address: str = "169.254.20.10"
    port: int = 53
    cluster_domain: str = "cluster.local"
    ttl: int = 5
    # "insecure" (CoreDNS `pods insecure`: the address comes from the name), "verified" or "disabled"
    pods: str = "insecure"
    # host:port (port 53 when left out) of servers for names outside the cluster; empty: REFUSED
    upstreams: list[str] = field(default_factory=list)
    upstream_timeout: float = 2.0
    # the largest UDP answer we send, whatever a client's EDNS0 size says
    max_udp_size: int = 1232
    tcp_idle_timeout: float = 10.0
    health_port: int = 8081
    health_bind_address: str = "127.0.0.1"
    log_level: str = "info"

    @classmethod
    def prepare(cls, names: dict[str, Any]) -> dict[str, Any]:
        if names.get("upstreams") is None:  # `upstreams:` with nothing after it means none
            names.pop("upstreams", None)
        return names

    def validate(self, source: str = "config") -> None:
        try:
            ipaddress.ip_address(self.listen_address)
        except ValueError:
            raise KubeprovError(f"{source}: listen_address must be an IP address") from None
        for name in ("port", "health_port"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 65535:
                raise KubeprovError(f"{source}: {name} must be a port number (0 for any free port)")
        if not self.cluster_domain.strip("."):
            raise KubeprovError(f"{source}: cluster_domain must not be empty")
        if not isinstance(self.ttl, int) or self.ttl < 0:
            raise KubeprovError(f"{source}: ttl must be a number of seconds")
        if self.pods not in POD_MODES:
            raise KubeprovError(f"{source}: pods must be one of {', '.join(POD_MODES)}")
        if not 512 <= self.max_udp_size <= 65535:
            raise KubeprovError(f"{source}: max_udp_size must be between 512 and 65535")
        for upstream in self.upstreams:
            parse_upstream(upstream, source)

    def upstream_addresses(self) -> list[tuple[str, int]]:
        return [parse_upstream(u) for u in self.upstreams]

    def dump(self) -> str:
        return yaml.safe_dump(dataclasses.asdict(self), sort_keys=True)


def parse_upstream(text: str, source: str = "config") -> tuple[str, int]:
    """``1.1.1.1``, ``1.1.1.1:5353``, ``[2001:db8::1]:53`` -> (host, port)."""
    host, port = str(text), 53
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:]) if rest[1:].isdigit() else -1
    elif host.count(":") == 1:
        host, _, p = host.partition(":")
        port = int(p) if p.isdigit() else -1
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise KubeprovError(f"{source}: upstream {text!r} is not an IP address[:port]") from None
    if not 0 < port <= 65535:
        raise KubeprovError(f"{source}: upstream {text!r} has a bad port")
    return host, port
