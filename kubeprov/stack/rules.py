"""Rules that relate several fields of a stack, each reported as an :class:`Issue` at one field.

Every rule names the field paths it reads; when one of them failed validation the rule is skipped,
so a typo in ``network.machineSubnet`` still lets the rules about pods, services and workers run.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from kubeprov.stack.errors import Issue, Loc
from kubeprov.stack.fields import BRIDGE_MAX
from kubeprov.stack.machines import local_capacity, machine_count, plan_machines, ssh_host_names
from kubeprov.stack.messages import closest

if TYPE_CHECKING:
    from kubeprov.stack.model import Network, SshProvider, Stack

Rule = Callable[["Stack"], Iterator[Issue]]
# Pool names that would give worker machines the names of control-plane or etcd machines.
RESERVED_POOL_NAMES = ("cp", "etcd")
MAX_MACHINE_NAME = 63


def _certificates(stack: Stack) -> Iterator[Issue]:
    certs = stack.certificates
    if certs.validity_days >= certs.ca_validity_days:
        yield Issue(
            ("certificates", "validityDays"),
            f"certificates valid for {certs.validity_days} days would outlive their CA "
            f"({certs.ca_validity_days} days)",
            "make validityDays smaller than caValidityDays",
        )


def _etcd(stack: Stack) -> Iterator[Issue]:
    etcd = stack.control_plane.etcd
    if etcd.mode == "stacked" and etcd.count is not None:
        yield Issue(
            ("controlPlane", "etcd", "count"),
            "etcd count only applies to external etcd: "
            "stacked etcd runs one member on each control-plane machine",
            "remove count, or set mode: external",
        )


def _pod_service_overlap(stack: Stack) -> Iterator[Issue]:
    net = stack.network
    if net.pod_cidr.overlaps(net.service_cidr):
        yield Issue(
            ("network", "podCIDR"),
            f"podCIDR {net.pod_cidr} overlaps serviceCIDR {net.service_cidr}",
            "choose ranges that do not overlap, e.g. podCIDR 10.244.0.0/16 and serviceCIDR 10.96.0.0/12",
        )


def _api_server_port(stack: Stack) -> Iterator[Issue]:
    net = stack.network
    first, last = net.node_ports
    if first <= net.api_server_port <= last:
        yield Issue(
            ("network", "apiServerPort"),
            f"apiServerPort {net.api_server_port} is inside nodePortRange {net.node_port_range}",
            "use a port outside the NodePort range, e.g. 6443",
        )


def _dns(stack: Stack) -> Iterator[Issue]:
    yield from _dns_address(stack.network)


def _dns_address(net: Network) -> Iterator[Issue]:
    reserved = {net.service_cidr.network_address, net.first_service_ip, net.service_cidr.broadcast_address}
    if net.dns_address is None:
        if net.dns_ip not in net.service_cidr:
            yield Issue(
                ("network", "serviceCIDR"),
                f"serviceCIDR {net.service_cidr} has no 10th address for the cluster DNS",
                "use a larger range, or set network.dnsAddress",
            )
        return
    if net.dns_address not in net.service_cidr:
        yield Issue(
            ("network", "dnsAddress"),
            f"dnsAddress {net.dns_address} is outside serviceCIDR {net.service_cidr}",
            f"use an address inside {net.service_cidr}, e.g. {net.service_cidr.network_address + 10}",
        )
    elif net.dns_address in reserved:
        yield Issue(
            ("network", "dnsAddress"),
            f"dnsAddress {net.dns_address} is reserved "
            "(network or broadcast address, or the address of the kubernetes service)",
            f"use another address, e.g. {net.service_cidr.network_address + 10}",
        )


def _workers(stack: Stack) -> Iterator[Issue]:
    seen: dict[str, int] = {}
    for index, pool in enumerate(stack.workers):
        if pool.name in seen:
            yield Issue(
                ("workers", index, "name"),
                f"pool name '{pool.name}' is already used by workers[{seen[pool.name]}]",
                "give every pool its own name",
            )
        seen.setdefault(pool.name, index)
        if pool.name in RESERVED_POOL_NAMES:
            yield Issue(
                ("workers", index, "name"),
                f"pool name '{pool.name}' would give workers the names of {pool.name} machines",
                f"rename the pool, e.g. '{pool.name}-workers'",
            )


def _bridge(stack: Stack) -> Iterator[Issue]:
    provider = stack.provider
    if provider.type != "local" or provider.bridge is None or len(provider.bridge) <= BRIDGE_MAX:
        return
    yield Issue(
        ("name",),
        f"the default bridge name '{provider.bridge}' is longer than {BRIDGE_MAX} characters",
        f"set provider.bridge to a name of at most {BRIDGE_MAX} characters, or shorten the stack name",
    )


def _cloud_zone(stack: Stack) -> Iterator[Issue]:
    provider = stack.provider
    if provider.type not in ("aws", "gcp") or not provider.zone:
        return
    if not provider.zone.startswith(provider.region):
        example = provider.region + ("a" if provider.type == "aws" else "-b")
        yield Issue(
            ("provider", "zone"),
            f"zone '{provider.zone}' is not in region '{provider.region}'",
            f"use a zone of {provider.region}, e.g. {example}",
        )


def _machine_range(stack: Stack) -> tuple[Loc, ipaddress.IPv4Network] | None:
    """Where the machines' own addresses come from, for providers that choose them."""
    provider = stack.provider
    if provider.type == "local":
        return ("network", "machineSubnet"), stack.network.machine_subnet
    if provider.type == "aws":
        return ("provider", "vpcCidr"), provider.vpc_cidr
    if provider.type == "gcp":
        return ("provider", "subnetCidr"), provider.subnet_cidr
    return None


def _machine_network(stack: Stack) -> Iterator[Issue]:
    """Machine addresses must not collide with pod or service addresses, or routing breaks."""
    provider, net = stack.provider, stack.network
    ranges = {"podCIDR": net.pod_cidr, "serviceCIDR": net.service_cidr}
    machine_range = _machine_range(stack)
    if machine_range is not None:
        loc, subnet = machine_range
        key = str(loc[-1])
        for other, cidr in ranges.items():
            if subnet.overlaps(cidr):
                yield Issue(loc, f"{key} {subnet} overlaps {other} {cidr}", f"choose a {key} outside {cidr}")
    if provider.type == "ssh":
        for index, host in enumerate(provider.hosts):
            try:
                address = ipaddress.ip_address(host.address)
            except ValueError:
                continue
            for other, cidr in ranges.items():
                if address in cidr:
                    yield Issue(
                        ("provider", "hosts", index, "address"),
                        f"address {address} is inside {other} {cidr}",
                        f"change network.{other} so it does not contain the machines' addresses",
                    )


def _ssh_hosts(stack: Stack) -> Iterator[Issue]:
    provider = stack.provider
    if provider.type != "ssh":
        return
    yield from _ssh_pools(stack, provider)
    yield from _ssh_counts(stack, provider)
    yield from _ssh_duplicates(stack, provider)


def _ssh_pools(stack: Stack, provider: SshProvider) -> Iterator[Issue]:
    pools = [pool.name for pool in stack.workers]
    for index, host in enumerate(provider.hosts):
        loc = ("provider", "hosts", index, "pool")
        if host.role != "worker":
            if host.pool is not None:
                yield Issue(loc, f"a {host.role} host does not belong to a worker pool", "remove pool")
            continue
        if host.pool is None:
            choice = f"one of: {', '.join(pools)}" if pools else "a name, and declare that pool under workers"
            yield Issue(loc, "a worker host needs a pool", f"add pool: {choice}")
        elif host.pool not in pools:
            close = closest(host.pool, pools)
            guess = f"; did you mean '{close}'?" if close else ""
            known = f"use one of: {', '.join(pools)}, or " if pools else ""
            yield Issue(
                loc,
                f"there is no worker pool named '{host.pool}'{guess}",
                f"{known}add a pool '{host.pool}' under workers",
            )


def _ssh_counts(stack: Stack, provider: SshProvider) -> Iterator[Issue]:
    def hosts_with(role: str) -> int:
        return sum(1 for host in provider.hosts if host.role == role)

    wanted = stack.control_plane.count
    have = hosts_with("control-plane")
    if have != wanted:
        yield Issue(
            ("controlPlane", "count"),
            f"controlPlane.count is {wanted} but provider.hosts lists {have} control-plane host(s)",
            f"list exactly {wanted} host(s) with role: control-plane (count may be 1, 3 or 5)",
        )
    etcd_hosts = hosts_with("etcd")
    if stack.control_plane.external_etcd:
        members = stack.control_plane.etcd_members
        if etcd_hosts != members:
            yield Issue(
                ("controlPlane", "etcd", "count"),
                f"external etcd has {members} member(s) but provider.hosts lists {etcd_hosts} etcd host(s)",
                f"list exactly {members} host(s) with role: etcd, or set count to 1, 3, 5 or 7 to match",
            )
    elif etcd_hosts:
        index = next(i for i, host in enumerate(provider.hosts) if host.role == "etcd")
        yield Issue(
            ("provider", "hosts", index, "role"),
            "hosts with role etcd need external etcd",
            "set controlPlane.etcd.mode: external, or give the host another role",
        )
    for index, pool in enumerate(stack.workers):
        listed = sum(1 for host in provider.hosts if host.role == "worker" and host.pool == pool.name)
        if listed != pool.count:
            yield Issue(
                ("workers", index, "count"),
                f"pool '{pool.name}' has count {pool.count} "
                f"but provider.hosts lists {listed} worker host(s) in it",
                f"set count to {listed}, or list {pool.count} host(s) with role: worker, pool: {pool.name}",
            )
    balancers = [i for i, host in enumerate(provider.hosts) if host.role == "load-balancer"]
    for index in balancers[1:]:
        yield Issue(
            ("provider", "hosts", index, "role"),
            "only one load-balancer host is supported",
            "keep one host with role: load-balancer",
        )
    if wanted > 1 and not balancers and not stack.control_plane.endpoint:
        yield Issue(
            ("provider", "hosts"),
            f"{wanted} control-plane hosts need one API address but no host has role: load-balancer",
            "add a host with role: load-balancer, or set controlPlane.endpoint to your own load balancer",
        )


def _ssh_duplicates(stack: Stack, provider: SshProvider) -> Iterator[Issue]:
    # default names are compared too: an explicit name may equal another host's default name
    names = ssh_host_names(stack.name, provider.hosts)
    first_name: dict[str, int] = {}
    first_address: dict[str, int] = {}
    for index, (host, name) in enumerate(zip(provider.hosts, names, strict=True)):
        if name in first_name:
            yield Issue(
                ("provider", "hosts", index, "name"),
                f"machine name '{name}' is already used by provider.hosts[{first_name[name]}]",
                "give every host its own name",
            )
        first_name.setdefault(name, index)
        address = host.address.lower()
        if address in first_address:
            yield Issue(
                ("provider", "hosts", index, "address"),
                f"address '{host.address}' is already used by provider.hosts[{first_address[address]}]",
                "list each machine once, with its own address",
            )
        first_address.setdefault(address, index)


def _machines(stack: Stack) -> Iterator[Issue]:
    """Machine names become host and node names, so they must stay valid DNS labels."""
    if stack.provider.type == "local":
        room = local_capacity(stack.network.machine_subnet)
        needed = machine_count(stack)
        if needed > room:
            yield Issue(
                ("network", "machineSubnet"),
                f"machineSubnet {stack.network.machine_subnet} has room for {room} machines "
                f"but the stack has {needed}",
                f"use a larger machineSubnet, at least a /{_prefix_for(needed)}",
            )
            return
    pools = [pool.name for pool in stack.workers]
    for machine in plan_machines(stack):
        if len(machine.name) > MAX_MACHINE_NAME:
            in_pool = machine.pool in pools and stack.provider.type != "ssh"
            loc: Loc = ("workers", pools.index(machine.pool), "name") if in_pool else ("name",)
            yield Issue(
                loc,
                f"machine name '{machine.name}' would be longer than {MAX_MACHINE_NAME} characters",
                "shorten the stack or pool name",
            )
            return


def _prefix_for(machines: int) -> int:
    """The longest prefix whose local subnet holds ``machines`` machines."""
    prefix = 28
    while prefix > 16 and local_capacity(ipaddress.IPv4Network(f"10.0.0.0/{prefix}")) < machines:
        prefix -= 1
    return prefix


def _reads(*paths: str) -> tuple[Loc, ...]:
    """Field paths a rule reads, written 'workers.*.count' ('*' is any list index)."""
    return tuple(tuple(path.split(".")) for path in paths)


_PROVIDER, _NAME, _CONTROL_PLANE = "provider", "name", "controlPlane"
_POOLS = ("workers.*.name", "workers.*.count")
# (field paths read, rule): a rule is skipped when a path it reads is broken
RULES: tuple[tuple[tuple[Loc, ...], Rule], ...] = (
    (_reads("certificates"), _certificates),
    (_reads("controlPlane.etcd"), _etcd),
    (_reads("network.podCIDR", "network.serviceCIDR"), _pod_service_overlap),
    (_reads("network.serviceCIDR", "network.dnsAddress"), _dns),
    (_reads("network.apiServerPort", "network.nodePortRange"), _api_server_port),
    (_reads("workers.*.name"), _workers),
    (_reads(_PROVIDER, _NAME), _bridge),
    (_reads(_PROVIDER), _cloud_zone),
    (_reads(_PROVIDER, "network.podCIDR", "network.serviceCIDR", "network.machineSubnet"), _machine_network),
    (_reads(_PROVIDER, _CONTROL_PLANE, _NAME, *_POOLS), _ssh_hosts),
    (_reads(_PROVIDER, _CONTROL_PLANE, _NAME, "network.machineSubnet", *_POOLS), _machines),
)


def _overlaps(read: Loc, broken: Loc) -> bool:
    """True when one path contains the other ('*' in ``read`` matches any list index)."""
    return all(r == b or (r == "*" and isinstance(b, int)) for r, b in zip(read, broken, strict=False))


def check_stack(stack: Stack, broken: frozenset[Loc] = frozenset()) -> list[Issue]:
    """Every broken rule of ``stack``, leaving out rules that read a field listed in ``broken``.

    ``broken`` holds fields that failed validation and were replaced by defaults, so a rule
    reading them would judge values the user never wrote.
    """
    return [
        issue
        for reads, rule in RULES
        if not any(_overlaps(read, bad) for read in reads for bad in broken)
        for issue in rule(stack)
    ]
