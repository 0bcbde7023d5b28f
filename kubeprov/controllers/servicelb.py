"""LoadBalancer addresses from configured pools (controller ``service-lb-ipam``), for clusters without a cloud.

A Service of type LoadBalancer without ``spec.loadBalancerClass`` gets ``status.loadBalancer.ingress[0].ip``
from ``load_balancer_pools`` (CIDRs, whose network and broadcast addresses are skipped, or ``first-last``
ranges): ``spec.loadBalancerIP`` when set (it must be in a pool and free), else the address it already
holds, else the lowest free one. The service proxy then routes that address like the ClusterIP. An
address is freed when its Service goes away, changes type or gets a class (its ingress is cleared);
when nothing is free the Service gets a Warning event ``AllocationFailed`` and is tried again later.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import Any

from kubeprov.controllers.base import Controller, Obj, key_of, meta, split_key

IPv4 = ipaddress.IPv4Address
RETRY_EXHAUSTED = 30.0


class Pools:
    """The configured address ranges, in order; membership and the lowest free address."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.ranges: list[tuple[IPv4, IPv4]] = [parse_range(e) for e in entries]

    def __contains__(self, ip: str) -> bool:
        try:
            address = IPv4(ip)
        except ValueError:
            return False
        return any(first <= address <= last for first, last in self.ranges)

    def addresses(self) -> Iterator[str]:
        for first, last in self.ranges:
            for n in range(int(first), int(last) + 1):
                yield str(IPv4(n))

    def first_free(self, used: set[str]) -> str | None:
        return next((ip for ip in self.addresses() if ip not in used), None)


def parse_range(entry: str) -> tuple[IPv4, IPv4]:
    """``10.0.0.0/24`` (its usable hosts) or ``10.0.0.10-10.0.0.20``; ValueError says what is wrong."""
    text = str(entry).strip()
    if "-" in text:
        first_text, _, last_text = text.partition("-")
        try:
            first, last = IPv4(first_text.strip()), IPv4(last_text.strip())
        except ValueError:
            raise ValueError(f"load balancer pool {entry!r} is not a range of IPv4 addresses") from None
        if last < first:
            raise ValueError(f"load balancer pool {entry!r} ends before it starts")
        return first, last
    try:
        network = ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        raise ValueError(f"load balancer pool {entry!r} is not an IPv4 CIDR or first-last range") from None
    if network.prefixlen >= 31:
        return network[0], network[-1]
    return network[1], network[-2]


def is_ours(svc: Obj) -> bool:
    spec = svc.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass") \
        and not meta(svc).get("deletionTimestamp")


def ingress_ips(svc: Obj) -> list[str]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i["ip"] for i in ingress if i.get("ip")]


class ServiceLBController(Controller):
    name = "service-lb-ipam"
    uses_manager_identity = True  # no system:controller role of its own: it writes only services/status
    conflict_retry = 0.5

    @classmethod
    def options(cls, config: Any) -> dict[str, Any] | None:
        pools = list(getattr(config, "load_balancer_pools", None) or [])
        return {"pools": pools} if pools else None

    def __init__(self, *args: Any, pools: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pools = Pools(pools)
        # key -> address written but maybe not yet seen by the informer (so no address is handed out twice)
        self.assigned: dict[str, str] = {}
        self.services = self.informer("v1", "services")
        self.services.add_handler(on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new),
                                  on_delete=self._enqueue)

    def _enqueue(self, svc: Obj) -> None:
        if self.wants(meta(svc).get("namespace", "")):
            self.enqueue(key_of(svc))

    def used(self, except_key: str) -> set[str]:
        """Pool addresses held by LoadBalancer services other than ``except_key``."""
        used = {ip for k, ip in self.assigned.items() if k != except_key}
        for svc in self.services.list():
            if key_of(svc) != except_key and is_ours(svc):
                used.update(ip for ip in ingress_ips(svc) if ip in self.pools)
        return used

    def choose(self, svc: Obj, used: set[str]) -> tuple[str | None, str]:
        """(address, "") or (None, why not)."""
        wanted = (svc.get("spec") or {}).get("loadBalancerIP") or ""
        if wanted:
            if wanted not in self.pools:
                return None, f"loadBalancerIP {wanted} is not in any address pool"
            if wanted in used:
                return None, f"loadBalancerIP {wanted} is already in use by another service"
            return wanted, ""
        key = key_of(svc)
        for ip in ingress_ips(svc) + ([self.assigned[key]] if key in self.assigned else []):
            if ip in self.pools and ip not in used:
                return ip, ""
        free = self.pools.first_free(used)
        if free is None:
            return None, "no available IP in the address pools"
        return free, ""

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        svc = self.services.get(namespace, name)
        if svc is None:
            self.assigned.pop(key, None)
            return
        if not is_ours(svc):
            await self._release(key, svc)
            return
        ip, problem = self.choose(svc, self.used(key))
        if ip is None:
            self.event(svc, "Warning", "AllocationFailed", f"Failed to allocate IP for \"{key}\": {problem}")
            self.queue.add_after(key, RETRY_EXHAUSTED)
            return
        self.assigned[key] = ip
        if ingress_ips(svc) == [ip]:
            return
        status = dict(svc.get("status") or {})
        status["loadBalancer"] = {"ingress": [{"ip": ip, "ipMode": "VIP"}]}
        if await self.write_status(svc, status, "v1", "services", conflict_retry=self.conflict_retry) is not None:
            self.event(svc, "Normal", "IPAllocated", f"Assigned IP [\"{ip}\"]")

    async def _release(self, key: str, svc: Obj) -> None:
        """Free the service's pool address; clear an ingress we wrote (a class's own controller writes its own)."""
        had = self.assigned.pop(key, None)
        spec = svc.get("spec") or {}
        if spec.get("loadBalancerClass") and spec.get("type") == "LoadBalancer":
            return
        ips = ingress_ips(svc)
        if not ips or not (had in ips or all(ip in self.pools for ip in ips)):
            return
        status = dict(svc.get("status") or {})
        status["loadBalancer"] = {}
        await self.write_status(svc, status, "v1", "services", conflict_retry=self.conflict_retry)
