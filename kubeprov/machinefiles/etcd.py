"""An etcd member: its config (static bootstrap from the planned members), certificates and unit."""

from __future__ import annotations

from kubeprov.machinefiles import paths
from kubeprov.machinefiles.plan import ClusterPlan
from kubeprov.machinefiles.sources import Sources
from kubeprov.machinefiles.tree import MachineTree
from kubeprov.providers.base import Machine
from kubeprov.render import render

CONFIG = f"{paths.ETC}/etcd.yaml"


def add_etcd(tree: MachineTree, plan: ClusterPlan, machine: Machine, src: Sources) -> None:
    pki = paths.PKI
    files = [
        tree.copy(f"{pki}/etcd/ca.crt", src.cert("etcd/ca.crt")),
        tree.copy(f"{pki}/etcd/server.crt", src.cert(f"etcd/server-{machine.name}.crt")),
        tree.copy(f"{pki}/etcd/server.key", src.cert(f"etcd/server-{machine.name}.key"), 0o600),
        tree.copy(f"{pki}/etcd/peer.crt", src.cert(f"etcd/peer-{machine.name}.crt")),
        tree.copy(f"{pki}/etcd/peer.key", src.cert(f"etcd/peer-{machine.name}.key"), 0o600),
    ]
    health = [
        tree.copy(f"{pki}/etcd/healthcheck-client.crt", src.cert("etcd/healthcheck-client.crt")),
        tree.copy(f"{pki}/etcd/healthcheck-client.key", src.cert("etcd/healthcheck-client.key"), 0o600),
    ]
    initial = ",".join(f"{m.name}=https://{m.address}:2380" for m in plan.etcd)
    files.append(tree.add(CONFIG, render(
        "etcd.yaml.j2", name=machine.name, data_dir=f"{paths.DATA}/etcd", address=machine.address,
        initial_cluster=initial, initial_cluster_state="new", token=f"kubeprov-{plan.stack.name}", pki=pki)))
    tree.service("kubeprov-etcd.service", "etcd", f"etcd member {machine.name}",
                 [f"{paths.ETCD_BINARY} --config-file {CONFIG}"], files,
                 health={"url": f"https://{machine.address}:2379/health", "ca": f"{pki}/etcd/ca.crt",
                         "cert": health[0], "key": health[1]})
