"""The API load balancer: haproxy in front of every apiserver, checking each one's /readyz."""

from __future__ import annotations

from kubeprov.machinefiles import paths
from kubeprov.machinefiles.plan import ClusterPlan
from kubeprov.machinefiles.tree import MachineTree
from kubeprov.render import render

CONFIG = f"{paths.ETC}/haproxy.cfg"


def add_load_balancer(tree: MachineTree, plan: ClusterPlan) -> None:
    port = plan.stack.network.api_server_port
    config = tree.add(CONFIG, render(
        "haproxy.cfg.j2", cluster=plan.stack.name, bind_address="0.0.0.0", port=port,
        servers=[{"name": m.name, "address": m.address} for m in plan.apiservers]))
    tree.service("kubeprov-haproxy.service", "load-balancer", "API load balancer (haproxy)",
                 [f"{paths.HAPROXY_BINARY} -Ws -f {config}"], [config], health={"port": port})
