"""Service ClusterIPs and NodePorts: a bitmap per range in etcd, changed only by compare-and-swap,
so two API servers (or two concurrent creates) can never hand out the same address or port."""

from __future__ import annotations

import base64
import ipaddress
import json
import random

from kubeprov.api import status
from kubeprov.api.fielderrors import invalid
from kubeprov.api.status import StatusError
from kubeprov.apiserver.storage.keys import INTERNAL_GROUP, REGISTRY
from kubeprov.etcd import EtcdClient

RETRIES = 64


class RangeFull(Exception):
    pass


class BitmapAllocator:
    """Offsets 0..size-1 of one range; the bitmap lives at one etcd key."""

    def __init__(self, client: EtcdClient, name: str, size: int, range_text: str) -> None:
        self.client = client
        self.key = f"{REGISTRY}{INTERNAL_GROUP}/ranges/{name}"
        self.size = size
        self.range_text = range_text

    async def _read(self) -> tuple[bytearray, int]:
        kv = await self.client.get(self.key)
        if kv is None:
            return bytearray((self.size + 7) // 8), 0
        doc = json.loads(kv.value)
        bits = bytearray(base64.b64decode(doc["data"]))
        if doc.get("range") != self.range_text or len(bits) != (self.size + 7) // 8:
            # the range changed (reconfiguration): keep offsets that still fit
            resized = bytearray((self.size + 7) // 8)
            resized[: min(len(bits), len(resized))] = bits[: len(resized)]
            bits = resized
        return bits, kv.mod_revision

    async def _write(self, bits: bytearray, revision: int) -> bool:
        value = json.dumps({"range": self.range_text, "data": base64.b64encode(bytes(bits)).decode()}).encode()
        if revision == 0:
            created, _, _ = await self.client.create(self.key, value)
            return created
        ok, _, _ = await self.client.update_if(self.key, value, revision)
        return ok

    @staticmethod
    def _taken(bits: bytearray, offset: int) -> bool:
        return bool(bits[offset // 8] & (1 << (offset % 8)))

    async def allocate(self, offset: int | None = None) -> int:
        """A specific offset (False if taken) or any free one, chosen at random like Kubernetes."""
        for _ in range(RETRIES):
            bits, revision = await self._read()
            if offset is not None:
                if self._taken(bits, offset):
                    raise ValueError("already allocated")
                chosen = offset
            else:
                start = random.randrange(self.size)
                chosen = next((o for o in (*range(start, self.size), *range(0, start))
                               if not self._taken(bits, o)), -1)
                if chosen < 0:
                    raise RangeFull(self.range_text)
            bits[chosen // 8] |= 1 << (chosen % 8)
            if await self._write(bits, revision):
                return chosen
        raise StatusError(status.service_unavailable(f"could not allocate from {self.range_text}: too much contention"))

    async def release(self, offset: int) -> None:
        for _ in range(RETRIES):
            bits, revision = await self._read()
            if revision == 0 or not self._taken(bits, offset):
                return
            bits[offset // 8] &= ~(1 << (offset % 8)) & 0xFF
            if await self._write(bits, revision):
                return


class ServiceAllocator:
    """ClusterIP and NodePort bookkeeping around Service create, update and delete."""

    def __init__(self, client: EtcdClient, service_cidr: str, node_ports: str) -> None:
        self.network = ipaddress.ip_network(service_cidr.split(",")[0].strip())
        # the network address is never handed out; the first host (x.x.x.1) is the kubernetes Service's
        self.ips = BitmapAllocator(client, "serviceips", self.network.num_addresses - 2, str(self.network))
        low, high = (int(p) for p in node_ports.split("-"))
        self.port_low, self.port_high = low, high
        self.ports = BitmapAllocator(client, "servicenodeports", high - low + 1, node_ports)

    def _offset(self, ip: str) -> int | None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if addr not in self.network:
            return None
        offset = int(addr) - int(self.network.network_address) - 1
        return offset if 0 <= offset < self.ips.size else None

    async def allocate(self, svc: dict, old: dict | None = None) -> list[tuple[str, int]]:
        """Fill in clusterIP(s) and nodePorts; returns what was taken, for rollback on failure."""
        spec = svc.setdefault("spec", {})
        taken: list[tuple[str, int]] = []
        name = svc["metadata"].get("name", "")
        try:
            svc_type = spec.get("type", "ClusterIP")
            if svc_type != "ExternalName" and old is None:
                wanted = spec.get("clusterIP") or ""
                if wanted != "None":
                    if wanted:
                        offset = self._offset(wanted)
                        if offset is None:
                            raise self._invalid(name, "spec.clusterIPs", [wanted],
                                                f"failed to allocate IP {wanted}: the provided IP ({wanted}) is "
                                                f"not in the valid range. The range of valid IPs is {self.network}")
                        try:
                            await self.ips.allocate(offset)
                        except ValueError:
                            raise self._invalid(name, "spec.clusterIPs", [wanted],
                                                f"failed to allocate IP {wanted}: provided IP is already "
                                                "allocated") from None
                    else:
                        try:
                            offset = await self.ips.allocate()
                        except RangeFull:
                            raise StatusError(status.internal_error(
                                "failed to allocate a serviceIP: range is full")) from None
                        wanted = str(self.network.network_address + offset + 1)
                    taken.append(("ip", offset))
                    spec["clusterIP"] = wanted
                    spec["clusterIPs"] = [wanted]
            if svc_type in ("NodePort", "LoadBalancer"):
                old_spec = (old or {}).get("spec") or {}
                old_ports = {p.get("nodePort") for p in old_spec.get("ports") or []}
                for index, port in enumerate(spec.get("ports") or []):
                    port["nodePort"] = await self._node_port(name, f"spec.ports[{index}].nodePort",
                                                             port.get("nodePort"), old_ports, taken)
                # kube-proxy answers load balancers' health checks there, for services that keep client IPs
                if svc_type == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local":
                    spec["healthCheckNodePort"] = await self._node_port(
                        name, "spec.healthCheckNodePort", spec.get("healthCheckNodePort"),
                        {old_spec.get("healthCheckNodePort")}, taken)
        except BaseException:
            await self.rollback(taken)
            raise
        return taken

    async def _node_port(self, name: str, field: str, node_port: int | None, held: set[int | None],
                         taken: list[tuple[str, int]]) -> int:
        """The port asked for (taken now unless the old object ``held`` it) or a free one."""
        if node_port and node_port in held:
            return int(node_port)
        if node_port:
            if not self.port_low <= int(node_port) <= self.port_high:
                raise self._invalid(name, field, node_port, f"provided port is not in the valid range. The range "
                                    f"of valid ports is {self.port_low}-{self.port_high}")
            try:
                await self.ports.allocate(int(node_port) - self.port_low)
            except ValueError:
                raise self._invalid(name, field, node_port, "provided port is already allocated") from None
            taken.append(("port", int(node_port) - self.port_low))
            return int(node_port)
        try:
            offset = await self.ports.allocate()
        except RangeFull:
            raise StatusError(status.internal_error("failed to allocate a nodePort: range is full")) from None
        taken.append(("port", offset))
        return self.port_low + offset

    async def rollback(self, taken: list[tuple[str, int]]) -> None:
        for kind, offset in taken:
            await (self.ips if kind == "ip" else self.ports).release(offset)

    async def release(self, svc: dict, keep: dict | None = None) -> None:
        """Give back what ``svc`` holds and ``keep`` (the updated service) no longer uses."""
        spec = svc.get("spec") or {}
        kept_spec = (keep or {}).get("spec") or {}
        if keep is None:
            for ip in spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []):
                offset = self._offset(ip)
                if offset is not None:
                    await self.ips.release(offset)
        kept_ports = {p.get("nodePort") for p in kept_spec.get("ports") or []} | {kept_spec.get("healthCheckNodePort")}
        held = [p.get("nodePort") for p in spec.get("ports") or []] + [spec.get("healthCheckNodePort")]
        for node_port in held:
            if node_port and node_port not in kept_ports and self.port_low <= int(node_port) <= self.port_high:
                await self.ports.release(int(node_port) - self.port_low)

    @staticmethod
    def _invalid(name: str, field: str, value: object, detail: str) -> StatusError:
        return StatusError(status.invalid("Service", "", name, [invalid(field, value, detail)]))
