"""What every cluster has from its first start: system namespaces, the `kubernetes` Service and its
endpoints (every API server adds itself), and the default RBAC policy. Idempotent and safe when
several API servers start at once."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

from kubeprov.api.status import StatusError
from kubeprov.apiserver.request_info import RequestInfo
from kubeprov.apiserver.resources import Registry
from kubeprov.apiserver.rest.call import Call
from kubeprov.apiserver.rest.negotiate import Accept
from kubeprov.apiserver.rest.objects import Objects

log = logging.getLogger("kubeprov.apiserver.bootstrap")
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
MANAGER = "kube-apiserver"


def internal_call(registry: Registry, api_version: str, resource: str, namespace: str = "", name: str = "",
                  verb: str = "create") -> Call:
    group, _, version = api_version.rpartition("/")
    rt = registry.get(group, version, resource)
    if rt is None:
        raise KeyError(f"{api_version} {resource} is not served")
    info = RequestInfo(True, "", verb, "apis" if group else "api", group, version, namespace, resource, "", name)
    return Call(info=info, rt=rt, query={"fieldManager": MANAGER}, accept=Accept(), user_agent=MANAGER)


async def ensure(objects: Objects, registry: Registry, obj: dict[str, Any], resource: str) -> bool:
    """Create ``obj`` unless it exists; True when this call created it."""
    meta = obj["metadata"]
    call = internal_call(registry, obj["apiVersion"], resource, meta.get("namespace", ""), meta["name"])
    # look first: a create would run side effects (address allocation) for an object that exists
    if await objects.store.get_kv(call.rt, meta.get("namespace", ""), meta["name"]) is not None:
        return False
    try:
        await objects.create(call, obj)
        return True
    except StatusError as err:
        if err.reason == "AlreadyExists":
            return False
        raise


async def bootstrap(objects: Objects, registry: Registry, *, service_cidr: str, advertise_address: str,
                    port: int, policy: Iterable[dict[str, Any]] = ()) -> None:
    for name in SYSTEM_NAMESPACES:
        await ensure(objects, registry, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                     "namespaces")
    first_ip = str(ipaddress.ip_network(service_cidr.split(",")[0].strip()).network_address + 1)
    await ensure(objects, registry, {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": first_ip, "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
    }, "services")
    if ipaddress.ip_address(advertise_address).is_loopback:
        # Kubernetes refuses loopback endpoints: a server reachable only on loopback is not advertised
        log.info("advertise address %s is loopback; not adding it to the kubernetes endpoints", advertise_address)
    else:
        await add_endpoint(objects, registry, advertise_address, port)
    for obj in policy:
        resource = {"ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings",
                    "Role": "roles", "RoleBinding": "rolebindings"}[obj["kind"]]
        await ensure(objects, registry, obj, resource)


async def add_endpoint(objects: Objects, registry: Registry, address: str, port: int) -> None:
    """Put this API server into the `kubernetes` endpoints (HA: each server adds its own address)."""
    wanted = {"apiVersion": "v1", "kind": "Endpoints",
              "metadata": {"name": "kubernetes", "namespace": "default",
                           "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
              "subsets": [{"addresses": [{"ip": address}],
                           "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}
    if await ensure(objects, registry, wanted, "endpoints"):
        return
    call = internal_call(registry, "v1", "endpoints", "default", "kubernetes", verb="update")

    async def add(current: dict[str, Any]) -> dict[str, Any] | None:
        subsets = current.get("subsets") or []
        addresses = [a for s in subsets for a in s.get("addresses") or []]
        if any(a.get("ip") == address for a in addresses):
            return None
        addresses = sorted([*addresses, {"ip": address}], key=lambda a: a.get("ip", ""))
        current["subsets"] = [{"addresses": addresses,
                               "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]
        return current

    await objects.store.update(call.rt, "default", "kubernetes", add)
