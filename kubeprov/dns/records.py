"""The cluster zone: which names exist and what they answer, built from Services and EndpointSlices.

Follows the Kubernetes DNS-Based Service Discovery specification (schema 1.1.0):

- ``<svc>.<ns>.svc.<zone>``: A/AAAA with the ClusterIP(s); for a headless service (clusterIP None) the
  addresses of its ready endpoints (all of them with ``publishNotReadyAddresses``); CNAME to
  ``spec.externalName`` for an ExternalName service;
- ``<hostname>.<svc>.<ns>.svc.<zone>`` for every endpoint of a headless service: its ``hostname`` (a
  StatefulSet pod's name under its governing service) or, without one, its dashed IP as CoreDNS does;
- ``_<port>._<proto>.<svc>.<ns>.svc.<zone>`` SRV for named ports: one target, the service name, for a
  ClusterIP service; one per endpoint (its hostname name) for a headless one;
- PTR for ClusterIPs and headless endpoint IPs (``in-addr.arpa`` / ``ip6.arpa``);
- ``<a-b-c-d>.<ns>.pod.<zone>`` A (AAAA for dashed IPv6): "pods insecure" like CoreDNS, the address is
  read from the name without checking a pod has it; ``pods: verified`` checks the pod informer instead;
- ``dns-version.<zone>`` TXT "1.1.0"; SOA and NS at the apex.

Unknown names in the zone are NXDOMAIN and known names asked for another type NODATA (NOERROR, no
answers), both with the zone's SOA in the authority section so resolvers cache the negative answer.
Names below a known name (``svc.<zone>``, ``<ns>.svc.<zone>``) exist as empty non-terminals.

Each service's records are recomputed on its own when the service or one of its slices changes, so an
update costs the size of that service, not of the cluster.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubeprov.dns.wire import RR, Rcode, Type, normalize_name

__all__ = ["SCHEMA_VERSION", "Lookup", "Zone", "service_records"]

Obj = dict[str, Any]
SCHEMA_VERSION = "1.1.0"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
POD_MODES = ("insecure", "verified", "disabled")


@dataclass
class Lookup:
    """What the zone says about one question."""

    rcode: int = Rcode.NOERROR
    answers: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)


def _address_type(ip: str) -> int:
    return Type.AAAA if ipaddress.ip_address(ip).version == 6 else Type.A


def dashed(ip: str) -> str:
    """The dashed spelling of an address used in names (10.1.2.3 -> 10-1-2-3, fd00::1 -> fd00--1)."""
    return ip.replace(".", "-").replace(":", "-")


def undashed(label: str) -> str | None:
    """The address a dashed label names, or None."""
    for candidate in (label.replace("-", "."), label.replace("-", ":")):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def _ready_endpoints(service: Obj, slices: list[Obj]) -> list[tuple[str, str, Obj]]:
    """(ip, hostname label, slice) per usable endpoint address of a headless service, deduplicated."""
    publish_all = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    seen: set[str] = set()
    out = []
    for eps in sorted(slices, key=lambda s: s["metadata"]["name"]):
        if eps.get("addressType") not in ("IPv4", "IPv6"):
            continue
        for endpoint in eps.get("endpoints") or []:
            ready = (endpoint.get("conditions") or {}).get("ready")
            if not publish_all and ready is False:
                continue
            for ip in (endpoint.get("addresses") or [])[:1]:  # the spec: consumers use the first address
                try:
                    ip = str(ipaddress.ip_address(ip))
                except ValueError:
                    continue
                if ip in seen:
                    continue
                seen.add(ip)
                host = normalize_name(endpoint.get("hostname") or "") or dashed(ip)
                out.append((ip, host, eps))
    return out


def service_records(service: Obj, slices: list[Obj], domain: str, ttl: int) -> list[RR]:
    """Every record one service contributes (forward names and PTRs)."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    fqdn = normalize_name(f"{meta['name']}.{meta['namespace']}.svc.{domain}")
    if spec.get("type") == "ExternalName":
        target = normalize_name(spec.get("externalName") or "")
        return [RR(fqdn, Type.CNAME, ttl, target)] if target else []
    records: list[RR] = []
    cluster_ips = [ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")]) if ip]
    if cluster_ips and cluster_ips[0] != "None":
        for ip in cluster_ips:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                continue
            records.append(RR(fqdn, _address_type(ip), ttl, str(addr)))
            records.append(RR(addr.reverse_pointer, Type.PTR, ttl, fqdn))
        for port in spec.get("ports") or []:
            if port.get("name"):
                proto = (port.get("protocol") or "TCP").lower()
                records.append(RR(f"_{port['name'].lower()}._{proto}.{fqdn}", Type.SRV, ttl,
                                  (0, 100, int(port["port"]), fqdn)))
        return records
    endpoints = _ready_endpoints(service, slices)
    srv: dict[str, list[tuple[int, str]]] = {}
    for ip, host, eps in endpoints:
        host_fqdn = f"{host}.{fqdn}"
        records.append(RR(fqdn, _address_type(ip), ttl, ip))
        records.append(RR(host_fqdn, _address_type(ip), ttl, ip))
        records.append(RR(ipaddress.ip_address(ip).reverse_pointer, Type.PTR, ttl, host_fqdn))
        for port in eps.get("ports") or []:
            if port.get("name") and port.get("port") is not None:
                proto = (port.get("protocol") or "TCP").lower()
                srv.setdefault(f"_{port['name'].lower()}._{proto}.{fqdn}", []).append((int(port["port"]), host_fqdn))
    for name, targets in srv.items():
        weight = max(1, 100 // len(targets))
        records += [RR(name, Type.SRV, ttl, (0, weight, port, target)) for port, target in targets]
    return records


class Zone:
    """The records of one cluster domain plus the reverse names it owns.

    ``pod_exists(namespace, ip)`` is consulted in ``verified`` pod mode only.
    """

    def __init__(self, domain: str = "cluster.local", ttl: int = 5, pods: str = "insecure",
                 pod_exists: Callable[[str, str], bool] | None = None) -> None:
        if pods not in POD_MODES:
            raise ValueError(f"pods must be one of {', '.join(POD_MODES)}")
        self.domain = normalize_name(domain)
        self.ttl = ttl
        self.pods = pods
        self.pod_exists = pod_exists
        self._records: dict[str, list[RR]] = {}
        self._names: Counter[str] = Counter()  # records at or below each name of the zone
        self._by_service: dict[tuple[str, str], list[RR]] = {}
        self.soa = RR(self.domain, Type.SOA, ttl, (f"ns.dns.{self.domain}", f"hostmaster.{self.domain}",
                                                   1, 7200, 1800, 86400, ttl))

    # -- updates ------------------------------------------------------------------------------

    def set_service(self, namespace: str, name: str, service: Obj | None, slices: list[Obj]) -> None:
        """Replace what the service ``namespace/name`` contributes (None: it is gone)."""
        new = service_records(service, slices, self.domain, self.ttl) if service is not None else []
        old = self._by_service.pop((namespace, name), [])
        for rr in old:
            self._remove(rr)
        for rr in new:
            self._add(rr)
        if new:
            self._by_service[(namespace, name)] = new

    def _add(self, rr: RR) -> None:
        self._records.setdefault(rr.name, []).append(rr)
        for suffix in self._suffixes(rr.name):
            self._names[suffix] += 1

    def _remove(self, rr: RR) -> None:
        at = self._records.get(rr.name, [])
        at.remove(rr)
        if not at:
            del self._records[rr.name]
        for suffix in self._suffixes(rr.name):
            self._names[suffix] -= 1
            if not self._names[suffix]:
                del self._names[suffix]

    def _suffixes(self, name: str) -> list[str]:
        if not self.contains(name):
            return []
        labels = name.split(".")
        depth = len(self.domain.split("."))
        return [".".join(labels[i:]) for i in range(len(labels) - depth)]

    # -- questions ----------------------------------------------------------------------------

    def contains(self, name: str) -> bool:
        """Whether ``name`` (normalized) is the cluster domain or below it."""
        return name == self.domain or name.endswith("." + self.domain)

    def owns_reverse(self, name: str) -> bool:
        """Whether ``name`` is a reverse name (PTR) of a service or endpoint address we know."""
        return name in self._records and not self.contains(name)

    @property
    def sizes(self) -> dict[str, int]:
        return {"services": len(self._by_service), "names": len(self._records),
                "records": sum(len(v) for v in self._records.values())}

    def lookup(self, qname: str, qtype: int) -> Lookup:
        """The answer to one question about a name in the zone or a reverse name we own."""
        name = normalize_name(qname)
        if name == self.domain:
            return self._apex(qtype)
        if name == f"dns-version.{self.domain}":
            return self._filter(name, qtype, [RR(name, Type.TXT, self.ttl, (SCHEMA_VERSION,))])
        pod = self._pod(name)
        if pod is not None:
            return self._filter(name, qtype, pod) if pod or self._exists(name) else self._nxdomain()
        records = self._records.get(name)
        if records:
            return self._filter(name, qtype, records)
        if self._exists(name):
            return self._nodata()
        return self._nxdomain()

    def _exists(self, name: str) -> bool:
        return (self._names.get(name, 0) > 0 or name in (f"svc.{self.domain}", f"pod.{self.domain}")
                or (name.endswith(f".pod.{self.domain}") and name.count(".") == self.domain.count(".") + 2))

    def _pod(self, name: str) -> list[RR] | None:
        """Records for ``<dashed-ip>.<ns>.pod.<zone>`` (None: not a pod name)."""
        suffix = f".pod.{self.domain}"
        if self.pods == "disabled" or not name.endswith(suffix):
            return None
        labels = name[: -len(suffix)].split(".")
        if len(labels) != 2:
            return None if len(labels) != 1 else []
        ip = undashed(labels[0])
        if ip is None:
            return []
        if self.pods == "verified" and not (self.pod_exists and self.pod_exists(labels[1], ip)):
            return []
        return [RR(name, _address_type(ip), self.ttl, ip)]

    def _apex(self, qtype: int) -> Lookup:
        ns = RR(self.domain, Type.NS, self.ttl, f"ns.dns.{self.domain}")
        return self._filter(self.domain, qtype, [self.soa, ns])

    def _filter(self, name: str, qtype: int, records: list[RR]) -> Lookup:
        if qtype == Type.ANY:
            return Lookup(answers=list(records))
        cname = [rr for rr in records if rr.type == Type.CNAME]
        if cname and qtype != Type.CNAME:
            return Lookup(answers=cname)  # the target is outside the zone; the client follows it
        answers = [rr for rr in records if rr.type == qtype]
        return Lookup(answers=answers) if answers else self._nodata()

    def _nodata(self) -> Lookup:
        return Lookup(Rcode.NOERROR, [], [self.soa])

    def _nxdomain(self) -> Lookup:
        return Lookup(Rcode.NXDOMAIN, [], [self.soa])
