"""The desired state of the proxy: Services and EndpointSlices reduced to what nftables must do.

One :class:`ServicePort` per port of a Service the proxy handles (not headless, not ExternalName),
with its destinations (ClusterIP, NodePort, externalIPs, LoadBalancer ingress IPs) and its endpoints:
slices are joined to their Service by label ``kubernetes.io/service-name`` and to its ports by port name
and protocol. As kube-proxy does, the usable endpoints are the ready ones, or, when none is ready, the
serving-and-terminating ones (so connections drain during a rolling update instead of failing).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_AFFINITY_TIMEOUT = 10800
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
# a Service carrying this label is served by another proxy (kube-proxy leaves it alone too)
SERVICE_PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"


@dataclass(frozen=True, order=True)
class Endpoint:
    ip: str
    port: int
    node: str = ""
    ready: bool = True
    serving: bool = True
    terminating: bool = False


@dataclass(frozen=True)
class ServicePort:
    namespace: str
    name: str
    port_name: str
    protocol: str  # nft spelling: tcp, udp, sctp
    cluster_ip: str
    port: int
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    load_balancer_ips: tuple[str, ...] = ()
    affinity_timeout: int = 0  # seconds; 0: no ClientIP affinity
    external_local: bool = False
    internal_local: bool = False
    # loadBalancerSourceRanges: only these clients may use the LoadBalancer addresses (empty: everyone)
    source_ranges: tuple[str, ...] = ()
    health_check_node_port: int = 0  # LoadBalancer with externalTrafficPolicy Local: where its health is served
    endpoints: tuple[Endpoint, ...] = field(default=())  # every endpoint of the port, sorted

    @property
    def key(self) -> str:
        """``ns/name/proto/port-name`` (the port number when unnamed): names its chains."""
        return f"{self.namespace}/{self.name}/{self.protocol}/{self.port_name or self.port}"

    @property
    def external_destinations(self) -> tuple[str, ...]:
        return self.external_ips + self.load_balancer_ips

    @property
    def has_external(self) -> bool:
        return bool(self.node_port or self.external_destinations)

    def cluster_endpoints(self) -> tuple[Endpoint, ...]:
        return usable(self.endpoints)

    def local_endpoints(self, node: str) -> tuple[Endpoint, ...]:
        return usable(e for e in self.endpoints if e.node == node)


def usable(endpoints: Iterable[Endpoint]) -> tuple[Endpoint, ...]:
    """Ready endpoints, or the serving terminating ones when none is ready."""
    endpoints = list(endpoints)
    ready = [e for e in endpoints if e.ready and not e.terminating]
    if ready:
        return tuple(sorted(ready))
    return tuple(sorted(e for e in endpoints if e.serving and e.terminating))


def handled(svc: Obj) -> bool:
    """Whether the proxy programs this Service: it needs a ClusterIP (headless and ExternalName are DNS only)
    and no other proxy named by label ``service.kubernetes.io/service-proxy-name``."""
    if SERVICE_PROXY_NAME_LABEL in ((svc.get("metadata") or {}).get("labels") or {}):
        return False
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return False
    cluster_ip = spec.get("clusterIP") or ""
    return bool(cluster_ip) and cluster_ip != "None" and ":" not in cluster_ip


def _endpoint_conditions(endpoint: Obj) -> tuple[bool, bool, bool]:
    """(ready, serving, terminating); an unset ready or serving means true, as the API documents."""
    conditions = endpoint.get("conditions") or {}
    ready = conditions.get("ready")
    ready = True if ready is None else bool(ready)
    serving = conditions.get("serving")
    serving = ready if serving is None else bool(serving)
    return ready, serving, bool(conditions.get("terminating"))


def slice_endpoints(slices: Iterable[Obj], port_name: str, protocol: str) -> tuple[Endpoint, ...]:
    """The endpoints of one Service port found in the Service's IPv4 slices (one per address and port)."""
    found: dict[tuple[str, int], Endpoint] = {}
    for eps in slices:
        if eps.get("addressType", "IPv4") != "IPv4":
            continue
        numbers = [p.get("port") for p in eps.get("ports") or []
                   if (p.get("name") or "") == port_name and p.get("protocol", "TCP") == protocol
                   and isinstance(p.get("port"), int)]
        for endpoint in eps.get("endpoints") or []:
            ready, serving, terminating = _endpoint_conditions(endpoint)
            for address in (endpoint.get("addresses") or [])[:1]:  # kube-proxy uses the first address
                for number in numbers:
                    found.setdefault((address, number), Endpoint(address, number, endpoint.get("nodeName") or "",
                                                                 ready, serving, terminating))
    return tuple(sorted(found.values()))


def _load_balancer_ips(svc: Obj) -> tuple[str, ...]:
    if (svc.get("spec") or {}).get("type") != "LoadBalancer":
        return ()
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return tuple(sorted({i["ip"] for i in ingress if i.get("ip") and ":" not in i["ip"]}))


def _source_ranges(svc: Obj) -> tuple[str, ...]:
    spec = svc.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return ()
    ranges = set()
    for entry in spec.get("loadBalancerSourceRanges") or []:
        try:
            ranges.add(str(ipaddress.IPv4Network(str(entry).strip(), strict=False)))
        except ValueError:
            continue  # IPv6 or malformed (the API server validates these)
    return tuple(sorted(ranges))


def service_ports(svc: Obj, slices: Iterable[Obj]) -> list[ServicePort]:
    """The ServicePorts of one Service (empty when the proxy does not handle it)."""
    if not handled(svc):
        return []
    meta = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    slices = list(slices)
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        affinity = int(config.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    kind = spec.get("type", "ClusterIP")
    external_local = spec.get("externalTrafficPolicy") == "Local" and kind in ("NodePort", "LoadBalancer")
    out = []
    for port in spec.get("ports") or []:
        protocol = port.get("protocol", "TCP")
        if protocol not in PROTOCOLS or not isinstance(port.get("port"), int):
            continue
        name = port.get("name") or ""
        node_port = port.get("nodePort") if kind in ("NodePort", "LoadBalancer") else 0
        health_port = spec.get("healthCheckNodePort") if kind == "LoadBalancer" and external_local else 0
        out.append(ServicePort(
            namespace=meta.get("namespace", ""), name=meta.get("name", ""), port_name=name,
            protocol=PROTOCOLS[protocol], cluster_ip=spec["clusterIP"], port=port["port"],
            node_port=node_port if isinstance(node_port, int) else 0,
            external_ips=tuple(sorted(ip for ip in spec.get("externalIPs") or [] if ":" not in ip)),
            load_balancer_ips=_load_balancer_ips(svc), affinity_timeout=affinity, source_ranges=_source_ranges(svc),
            health_check_node_port=health_port if isinstance(health_port, int) else 0,
            external_local=external_local, internal_local=spec.get("internalTrafficPolicy") == "Local",
            endpoints=slice_endpoints(slices, name, protocol)))
    return out


def slice_service(eps: Obj) -> str:
    """``namespace/service`` of an EndpointSlice ("" when it names none)."""
    meta = eps.get("metadata") or {}
    svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return f"{meta.get('namespace', '')}/{svc}" if svc else ""


def build(services: Iterable[Obj], slices: Iterable[Obj]) -> list[ServicePort]:
    """Every ServicePort of ``services`` with its endpoints from ``slices``, sorted by key."""
    by_service: dict[str, list[Obj]] = {}
    for eps in slices:
        key = slice_service(eps)
        if key:
            by_service.setdefault(key, []).append(eps)
    out: list[ServicePort] = []
    for svc in services:
        meta = svc.get("metadata") or {}
        out += service_ports(svc, by_service.get(f"{meta.get('namespace', '')}/{meta.get('name', '')}", []))
    return sorted(out, key=lambda p: p.key)


def health_checks(ports: Iterable[ServicePort], node: str) -> dict[int, tuple[str, str, int]]:
    """healthCheckNodePort -> (namespace, name, local endpoint addresses of the Service on ``node``)."""
    found: dict[int, tuple[str, str, set[str]]] = {}
    for port in ports:
        if not port.health_check_node_port:
            continue
        entry = found.setdefault(port.health_check_node_port, (port.namespace, port.name, set()))
        entry[2].update(e.ip for e in port.local_endpoints(node))
    return {number: (ns, name, len(ips)) for number, (ns, name, ips) in found.items()}
