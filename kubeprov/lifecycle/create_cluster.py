"""The create phases that talk to the running cluster: health gates, bootstrap objects, node labels,
the image registry's seed and the closing kubeconfig note."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from rich.text import Text

from kubeprov.errors import KubeprovError
from kubeprov.lifecycle import health
from kubeprov.lifecycle.bootstrap import bootstrap_objects, ensure_objects
from kubeprov.lifecycle.create_context import admin_kubeconfig, plan, ref
from kubeprov.lifecycle.create_install import install
from kubeprov.machinefiles.plan import CONTROL_PLANE_LABEL
from kubeprov.phases import Context, PhaseResult

T = TypeVar("T")
ETCD_TIMEOUT = 90.0
APISERVER_TIMEOUT = 120.0
NODES_TIMEOUT = 180.0


async def _until(check: Callable[[], Awaitable[tuple[bool, T]]], timeout: float,
                 interval: float = 1.0) -> tuple[bool, T]:
    """Phases run on the runner's event loop, so the waits are coroutines."""
    deadline = time.monotonic() + timeout
    while True:
        ok, value = await check()
        if ok or time.monotonic() >= deadline:
            return ok, value
        await asyncio.sleep(interval)


async def wait_etcd(ctx: Context) -> PhaseResult:
    cluster_plan = plan(ctx)
    pki = ref(ctx).state.pki_dir

    async def check() -> tuple[bool, list[health.EtcdMemberHealth]]:
        members = await health.etcd_members(cluster_plan, pki)
        return all(m.healthy for m in members) and any(m.leader for m in members), members

    ok, members = await _until(check, ETCD_TIMEOUT)
    if not ok:
        problems = "; ".join(f"{m.name}: {m.error or 'no leader'}" for m in members if not m.healthy)
        raise KubeprovError(f"etcd is not healthy after {ETCD_TIMEOUT:g}s: {problems or 'no member is leader'}",
                            "see `journalctl -u kubeprov-etcd` on the machines named")
    leader = next(m.name for m in members if m.leader)
    return PhaseResult(changed=False, message=f"{len(members)} members healthy, leader {leader}")


async def wait_apiservers(ctx: Context) -> PhaseResult:
    cluster_plan = plan(ctx)
    ca = ref(ctx).state.pki_dir / "ca.crt"

    async def check() -> tuple[bool, list[health.Probe]]:
        probes = await health.apiservers(cluster_plan, ca)
        return all(p.ok for p in probes), probes

    ok, probes = await _until(check, APISERVER_TIMEOUT)
    if not ok:
        problems = "; ".join(f"{p.name} ({p.url}): {p.detail}" for p in probes if not p.ok)
        raise KubeprovError(f"API servers not ready after {APISERVER_TIMEOUT:g}s: {problems}",
                            "see `journalctl -u kubeprov-apiserver` (or kubeprov-haproxy) on the machines named")
    return PhaseResult(changed=False, message=f"{len(probes)} endpoints ready")


async def bootstrap(ctx: Context) -> PhaseResult:
    cluster = ref(ctx)
    objects = bootstrap_objects(cluster.stack.name, plan(ctx).api_endpoint,
                                (cluster.state.pki_dir / "ca.crt").read_bytes(), str(cluster.stack.network.dns_ip))
    created = await ensure_objects(admin_kubeconfig(ctx), objects)
    return PhaseResult(changed=bool(created), message=", ".join(created))


def plan_bootstrap(ctx: Context) -> list[str]:
    return ["ConfigMap kube-public/cluster-info", "ClusterRole and ClusterRoleBinding kubeprov:cluster-dns",
            f"Service kube-system/kube-dns at {ref(ctx).stack.network.dns_ip}"]


async def wait_nodes(ctx: Context) -> PhaseResult:
    cluster_plan = plan(ctx)
    wanted = {n.name for n in cluster_plan.nodes}

    async def check() -> tuple[bool, list[health.NodeHealth]]:
        nodes = await health.nodes(admin_kubeconfig(ctx), "kubeprov-create")
        return wanted <= {n.name for n in nodes if n.ready}, nodes

    ok, nodes = await _until(check, NODES_TIMEOUT, 2.0)
    if not ok:
        ready = {n.name for n in nodes if n.ready}
        raise KubeprovError(f"nodes not Ready after {NODES_TIMEOUT:g}s: {', '.join(sorted(wanted - ready))}",
                            "see `journalctl -u kubeprov-kubelet` on those machines")
    labelled = await _label_control_plane(ctx, [n.name for n in cluster_plan.nodes if n.control_plane])
    message = f"{len(wanted)} nodes Ready" + (f", labelled {', '.join(labelled)}" if labelled else "")
    return PhaseResult(changed=bool(labelled), message=message)


async def _label_control_plane(ctx: Context, names: list[str]) -> list[str]:
    """The role label is set with admin rights, as `kubeadm init` marks its control plane."""
    from kubeprov.api.client import ApiClient

    labelled = []
    async with ApiClient.from_kubeconfig(admin_kubeconfig(ctx), user_agent="kubeprov-create") as client:
        for name in names:
            node = await client.get("v1", "nodes", name)
            if CONTROL_PLANE_LABEL not in ((node.get("metadata") or {}).get("labels") or {}):
                await client.patch("v1", "nodes", name, {"metadata": {"labels": {CONTROL_PLANE_LABEL: ""}}})
                labelled.append(name)
    return labelled


async def addons(ctx: Context) -> PhaseResult:
    cluster_plan = plan(ctx)
    if cluster_plan.registry_address is None:
        return PhaseResult(changed=False, message="no cluster registry for this provider")
    result = install("registry")(ctx)
    from kubeprov.lifecycle.devregistry import seed

    pushed = await asyncio.to_thread(seed, cluster_plan.registry_address)
    if pushed:
        ctx.console.print(Text(f"    pushed the test images to {cluster_plan.registry_address}", style="dim"))
    return PhaseResult(changed=result.changed or pushed, message="images seeded" if pushed else result.message)


def plan_addons(ctx: Context) -> list[str]:
    return ["the image registry on the load balancer (or only) machine, seeded with busybox:1, web:1 and web:2"]


def kubeconfig(ctx: Context) -> PhaseResult:
    path = admin_kubeconfig(ctx)
    if not ctx.dry_run:
        ctx.console.print(Text.assemble("    admin kubeconfig: ", (str(path), "bold")))
        ctx.console.print(Text(f"    try: kubectl --kubeconfig {path} get nodes"))
    return PhaseResult(changed=False)
