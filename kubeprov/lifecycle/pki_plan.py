"""Turn a stack (and, once provisioned, the inventory) into the PKI the cluster needs."""

from __future__ import annotations

import ipaddress
from typing import Any

from kubeprov.errors import KubeprovError
from kubeprov.pki.spec import NodeSpec, PkiSpec
from kubeprov.stack import PlannedMachine, Stack, plan_machines


def _addresses(machine: PlannedMachine, inventory: dict[str, Any] | None) -> tuple[str, ...]:
    """The provisioned address wins over the planned one (clouds know theirs only after create)."""
    if inventory:
        for entry in inventory.get("machines", []):
            if entry.get("name") == machine.name and entry.get("address"):
                return (str(entry["address"]),)
    return (machine.address,) if machine.address else ()


def _endpoint_url(host: str) -> str:
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            return f"[{host}]"
    except ValueError:
        pass
    return host


def pki_spec_for(stack: Stack, inventory: dict[str, Any] | None = None) -> PkiSpec:
    machines = plan_machines(stack)
    nodes = {m.name: NodeSpec(m.name, _addresses(m, inventory)) for m in machines}
    missing = [name for name, node in nodes.items() if not node.addresses]
    if missing:
        raise KubeprovError(
            f"the addresses of {', '.join(missing)} are not known yet",
            f"they are assigned when `kubeprov create` provisions the {stack.provider.type} machines",
        )
    control_plane = tuple(nodes[m.name] for m in machines if m.role == "control-plane")
    external_etcd = tuple(nodes[m.name] for m in machines if m.role == "etcd")
    kubelets = tuple(nodes[m.name] for m in machines if m.role in ("control-plane", "worker"))
    balancers = [a for m in machines if m.role == "load-balancer" for a in nodes[m.name].addresses]

    host, port = stack.api_endpoint()
    if host is None:
        host = control_plane[0].addresses[0]
    extra = tuple(dict.fromkeys([*balancers, host]))
    return PkiSpec(
        cluster_name=stack.name,
        cluster_domain=stack.network.cluster_domain,
        service_cidr=str(stack.network.service_cidr),
        api_endpoint=f"https://{_endpoint_url(host)}:{port}",
        control_plane=control_plane,
        etcd_members=external_etcd or control_plane,
        nodes=kubelets,
        extra_apiserver_sans=extra,
        ca_validity_days=stack.certificates.ca_validity_days,
        validity_days=stack.certificates.validity_days,
    )
