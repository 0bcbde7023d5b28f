"""Who runs what in a cluster, from the stack and the provisioned machines: etcd members, apiservers,
nodes with their pod ranges, the load balancer and the image registry. Pure, so it is unit-tested."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kubeprov.errors import KubeprovError
from kubeprov.machinefiles import paths
from kubeprov.providers.base import Machine
from kubeprov.stack import Stack

CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


@dataclass(frozen=True)
class NodePlan:
    """A machine that runs a kubelet, with the /24 of the pod range its pods take addresses from."""

    machine: Machine
    pod_cidr: str
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.machine.name

    @property
    def control_plane(self) -> bool:
        return self.machine.role == "control-plane"


@dataclass(frozen=True)
class ClusterPlan:
    stack: Stack
    machines: list[Machine]
    etcd: list[Machine]
    apiservers: list[Machine]
    nodes: list[NodePlan]
    balancer: Machine | None
    registry: Machine | None
    api_endpoint: str

    @property
    def etcd_endpoints(self) -> list[str]:
        return [f"https://{m.address}:2379" for m in self.etcd]

    def node(self, name: str) -> NodePlan | None:
        return next((n for n in self.nodes if n.name == name), None)

    @property
    def registry_address(self) -> str | None:
        return f"{self.registry.address}:{paths.REGISTRY_PORT}" if self.registry else None


def _pod_ranges(stack: Stack, count: int) -> list[str]:
    pods = stack.network.pod_cidr
    if pods.prefixlen > 24:
        raise KubeprovError(f"the pod range {pods} is smaller than one /24 per node", "use a /16 such as 10.244.0.0/16")
    ranges = list(pods.subnets(new_prefix=24)) if pods.prefixlen < 24 else [pods]
    if len(ranges) < count:
        raise KubeprovError(f"the pod range {pods} has {len(ranges)} /24 blocks for {count} nodes",
                            "widen network.podCIDR")
    return [str(r) for r in ranges[:count]]


def plan_cluster(stack: Stack, machines: list[Machine]) -> ClusterPlan:
    by_role = {role: [m for m in machines if m.role == role]
               for role in ("control-plane", "etcd", "worker", "load-balancer")}
    control_plane = by_role["control-plane"]
    if not control_plane:
        raise KubeprovError("the cluster has no control-plane machine", "set controlPlane.count in the stack")
    kubelets = control_plane + by_role["worker"]
    nodes = []
    for machine, cidr in zip(kubelets, _pod_ranges(stack, len(kubelets)), strict=True):
        labels = dict(machine.labels)
        taints = list(machine.taints)
        if machine.role == "control-plane":
            # the role label is not the kubelet's to set: create labels the Nodes with admin rights (as kubeadm)
            # a lone control-plane machine also runs the workloads (stacks/single.yaml)
            if by_role["worker"]:
                taints.append(dict(CONTROL_PLANE_TAINT))
        nodes.append(NodePlan(machine, cidr, labels, taints))
    balancer = by_role["load-balancer"][0] if by_role["load-balancer"] else None
    host, port = stack.api_endpoint()
    if host is None:
        host = balancer.address if balancer else control_plane[0].address
    try:
        shown = f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        shown = host
    registry = None
    if stack.provider.type == "local":
        # machines here cannot reach public registries: the cluster brings its own
        registry = balancer or control_plane[0]
    return ClusterPlan(stack, machines, by_role["etcd"] or control_plane, control_plane, nodes, balancer, registry,
                       f"https://{shown}:{port}")
