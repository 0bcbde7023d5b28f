"""The machines a stack asks for, named and (when known in advance) addressed.

Providers create these machines and the installer configures them, so both agree on names through
this one plan. Cloud addresses are only known after provisioning and stay None here.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from kubeprov.stack.model import SshHost, Stack

MachineRole = Literal["control-plane", "etcd", "worker", "load-balancer"]

# Local machines: the host bridge takes index 1, the load balancer 2, other machines start at 10.
LOCAL_BRIDGE_INDEX = 1
LOCAL_LB_INDEX = 2
LOCAL_FIRST_MACHINE_INDEX = 10
# Debian cloud images log in as "admin" and use sudo.
CLOUD_SSH_USER = "admin"
DEFAULT_SSH_KEY = Path("~/.ssh/id_ed25519")
_ROLE_ORDER: dict[str, int] = {"control-plane": 0, "etcd": 1, "worker": 2, "load-balancer": 3}


@dataclass(frozen=True)
class PlannedMachine:
    """One machine of the cluster as the stack describes it, before it exists."""

    name: str
    role: MachineRole
    pool: str | None = None
    address: str | None = None  # None when only known after provisioning (clouds)
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    ssh_port: int = 22
    ssh_user: str = "root"
    ssh_key: Path = DEFAULT_SSH_KEY  # private key, as written (``~`` not expanded)
    become: bool = False


def local_capacity(subnet: ipaddress.IPv4Network) -> int:
    """How many machines (besides the load balancer) fit in a local machine subnet."""
    last_usable = subnet.num_addresses - 2  # the broadcast address is not usable
    return max(0, last_usable - LOCAL_FIRST_MACHINE_INDEX + 1)


def local_bridge_address(subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The host's address on the local bridge, the gateway of local machines."""
    return subnet.network_address + LOCAL_BRIDGE_INDEX


def machine_count(stack: Stack) -> int:
    """Machines other than the load balancer: control plane, external etcd and workers."""
    etcd = stack.control_plane.etcd_members if stack.control_plane.external_etcd else 0
    return stack.control_plane.count + etcd + sum(pool.count for pool in stack.workers)


def ssh_host_names(stack_name: str, hosts: Sequence[SshHost]) -> list[str]:
    """Each host's name, in host order: the given one, else derived like cloud machine names."""
    seen: Counter[tuple[str, str | None]] = Counter()
    names = []
    for host in hosts:
        group = (host.role, host.pool if host.role == "worker" else None)
        seen[group] += 1
        names.append(host.name or _default_name(stack_name, host.role, host.pool, seen[group]))
    return names


def _default_name(stack_name: str, role: str, pool: str | None, number: int) -> str:
    if role == "control-plane":
        return f"{stack_name}-cp-{number}"
    if role == "etcd":
        return f"{stack_name}-etcd-{number}"
    if role == "load-balancer":
        return f"{stack_name}-lb" if number == 1 else f"{stack_name}-lb-{number}"
    return f"{stack_name}-{pool or 'worker'}-{number}"


def plan_machines(stack: Stack) -> list[PlannedMachine]:
    """Every machine in the order control plane, etcd, workers (pool by pool), load balancer."""
    if stack.provider.type == "ssh":
        return _ssh_machines(stack)
    machines = _generic_machines(stack)
    if stack.provider.type == "local":
        return _with_local_addresses(machines, stack.network.machine_subnet)
    return _with_cloud_login(machines, stack)


def _generic_machines(stack: Stack) -> list[PlannedMachine]:
    name = stack.name
    plan = [
        PlannedMachine(_default_name(name, "control-plane", None, i), "control-plane")
        for i in range(1, stack.control_plane.count + 1)
    ]
    if stack.control_plane.external_etcd:
        plan += [
            PlannedMachine(_default_name(name, "etcd", None, i), "etcd")
            for i in range(1, stack.control_plane.etcd_members + 1)
        ]
    for pool in stack.workers:
        plan += [
            PlannedMachine(
                _default_name(name, "worker", pool.name, i),
                "worker",
                pool=pool.name,
                labels=dict(pool.labels),
                taints=[taint.model_dump() for taint in pool.taints],
            )
            for i in range(1, pool.count + 1)
        ]
    if stack.control_plane.count > 1:
        plan.append(PlannedMachine(_default_name(name, "load-balancer", None, 1), "load-balancer"))
    return plan


def _with_local_addresses(
    machines: list[PlannedMachine], subnet: ipaddress.IPv4Network
) -> list[PlannedMachine]:
    placed = []
    index = LOCAL_FIRST_MACHINE_INDEX
    for machine in machines:
        if machine.role == "load-balancer":
            address = subnet.network_address + LOCAL_LB_INDEX
        else:
            address = subnet.network_address + index
            index += 1
        placed.append(replace(machine, address=str(address)))
    return placed


def _with_cloud_login(machines: list[PlannedMachine], stack: Stack) -> list[PlannedMachine]:
    public_key: Path = stack.provider.ssh_key  # type: ignore[union-attr]  # aws and gcp only
    private_key = public_key.with_suffix("") if public_key.suffix == ".pub" else public_key
    return [replace(m, ssh_user=CLOUD_SSH_USER, ssh_key=private_key, become=True) for m in machines]


def _ssh_machines(stack: Stack) -> list[PlannedMachine]:
    hosts = stack.provider.hosts  # type: ignore[union-attr]  # ssh only
    pools = {pool.name: pool for pool in stack.workers}
    plan = []
    for host, name in zip(hosts, ssh_host_names(stack.name, hosts), strict=True):
        pool = pools.get(host.pool or "") if host.role == "worker" else None
        plan.append(
            PlannedMachine(
                name=name,
                role=host.role,
                pool=host.pool if host.role == "worker" else None,
                address=host.address,
                labels=dict(pool.labels) if pool else {},
                taints=[taint.model_dump() for taint in pool.taints] if pool else [],
                ssh_port=host.port,
                ssh_user=host.user,
                ssh_key=host.key,
                become=host.become,
            )
        )
    pool_order = {name: i for i, name in enumerate(pools)}
    return sorted(plan, key=lambda m: (_ROLE_ORDER[m.role], pool_order.get(m.pool or "", len(pool_order))))
