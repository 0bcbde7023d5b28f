"""Probes of a running cluster from the operator's host: etcd members, apiservers (each and through the
endpoint) and nodes. The create command's wait-* phases and `kubeprov status` share them."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from kubeprov.etcd.client import EtcdClient, EtcdTLS
from kubeprov.machinefiles.plan import ClusterPlan


@dataclass(frozen=True)
class EtcdMemberHealth:
    name: str
    endpoint: str
    healthy: bool
    leader: bool = False
    db_size: int = 0
    version: str = ""
    error: str = ""


@dataclass(frozen=True)
class Probe:
    name: str
    url: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class NodeHealth:
    name: str
    ready: bool
    version: str
    roles: str
    taints: int


async def etcd_members(plan: ClusterPlan, pki: Path, timeout: float = 3.0) -> list[EtcdMemberHealth]:
    tls = EtcdTLS(pki / "etcd/ca.crt", pki / "etcd/healthcheck-client.crt", pki / "etcd/healthcheck-client.key")

    async def one(client: EtcdClient, name: str, endpoint: str) -> EtcdMemberHealth:
        try:
            status = await asyncio.wait_for(client.status(endpoint), timeout)
        except Exception as exc:  # any failure is this member's problem, reported as such
            return EtcdMemberHealth(name, endpoint, False, error=str(exc) or type(exc).__name__)
        errors = status.get("errors") or []
        return EtcdMemberHealth(name, endpoint, not errors and bool(status["leader"]),
                                leader=status["leader"] == status["member_id"], db_size=status["dbSize"],
                                version=status["version"], error="; ".join(map(str, errors)))

    async with EtcdClient(plan.etcd_endpoints, tls, timeout=timeout) as client:
        return list(await asyncio.gather(*(one(client, m.name, f"https://{m.address}:2379") for m in plan.etcd)))


async def apiservers(plan: ClusterPlan, ca_file: Path, timeout: float = 3.0) -> list[Probe]:
    """Each apiserver's /readyz, then the endpoint's (the load balancer when there is one)."""
    port = plan.stack.network.api_server_port
    targets = [(m.name, f"https://{m.address}:{port}") for m in plan.apiservers]
    if plan.balancer is not None or plan.api_endpoint not in {url for _, url in targets}:
        targets.append(("endpoint", plan.api_endpoint))
    context = ssl.create_default_context(cafile=str(ca_file))

    async def one(session: aiohttp.ClientSession, name: str, url: str) -> Probe:
        try:
            async with session.get(f"{url}/readyz", ssl=context) as answer:
                text = (await answer.text()).strip()
                return Probe(name, url, answer.status == 200, "" if answer.status == 200 else text[-200:])
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return Probe(name, url, False, str(exc) or type(exc).__name__)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        return list(await asyncio.gather(*(one(session, name, url) for name, url in targets)))


async def nodes(kubeconfig: Path, user_agent: str, timeout: float = 10.0) -> list[NodeHealth]:
    """Every Node's health, by name."""
    from kubeprov.api.client import ApiClient

    async with ApiClient.from_kubeconfig(kubeconfig, user_agent=user_agent) as client:
        items, _ = await asyncio.wait_for(client.list_all("v1", "nodes"), timeout)
    return sorted((node_health(n) for n in items), key=lambda n: n.name)


def node_health(node: dict[str, Any]) -> NodeHealth:
    meta, status = node.get("metadata") or {}, node.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    roles = ",".join(sorted(k.removeprefix("node-role.kubernetes.io/") for k in meta.get("labels") or {}
                            if k.startswith("node-role.kubernetes.io/"))) or "<none>"
    return NodeHealth(meta.get("name", ""), ready, (status.get("nodeInfo") or {}).get("kubeletVersion", ""), roles,
                      len((node.get("spec") or {}).get("taints") or []))
