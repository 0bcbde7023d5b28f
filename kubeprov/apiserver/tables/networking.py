"""Printers of networking.k8s.io/v1 and discovery.k8s.io/v1: ingresses, classes, policies, endpoint slices."""

from __future__ import annotations

from datetime import datetime

from kubeprov.apiserver.tables.age import since
from kubeprov.apiserver.tables.common import (
    AGE,
    NAME,
    NONE,
    Column,
    Printer,
    creation,
    format_label_selector,
    get,
    more_list,
    name_of,
)


def ingress_hosts(rules: list[dict]) -> str:
    """Up to three hosts; ``+ N more...`` counts every rule past the third, as kubectl does."""
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
            break
        if rule.get("host"):
            hosts.append(rule["host"])
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - 3} more..." if more else text


def _ingress_cells(ing: dict, now: datetime) -> list:
    spec = ing.get("spec") or {}
    found = {i.get("ip") or i.get("hostname") for i in get(ing, "status", "loadBalancer", "ingress", default=[])}
    address = ",".join(sorted(a for a in found if a))
    ports = "80, 443" if spec.get("tls") else "80"
    return [name_of(ing), spec.get("ingressClassName") or NONE, ingress_hosts(spec.get("rules") or []), address,
            ports, since(creation(ing), now)]


INGRESS = Printer(
    (NAME, Column("Class", description="The name of the IngressClass resource that should be used for additional "
                  "configuration"),
     Column("Hosts", description="Hosts that incoming requests are matched against before the ingress rule"),
     Column("Address", description="Address is a list containing ingress points for the load-balancer"),
     Column("Ports", description="Ports of TLS configurations that open"), AGE),
    _ingress_cells,
)


def _ingress_class_parameters(ic: dict) -> str:
    params = get(ic, "spec", "parameters")
    if not params:
        return NONE
    kind = params.get("kind", "")
    if params.get("apiGroup"):
        kind = f"{kind}.{params['apiGroup']}"
    return f"{kind}/{params.get('name', '')}"


INGRESS_CLASS = Printer(
    (NAME, Column("Controller", description="Controller that is responsible for handling this class"),
     Column("Parameters", description="A reference to a resource with additional parameters"), AGE),
    lambda ic, now: [name_of(ic), get(ic, "spec", "controller", default=""), _ingress_class_parameters(ic),
                     since(creation(ic), now)],
)

NETWORK_POLICY = Printer(
    (NAME, Column("Pod-Selector", description="Selects the pods to which this policy applies."), AGE),
    lambda np, now: [name_of(np), format_label_selector(get(np, "spec", "podSelector")), since(creation(np), now)],
)


def slice_ports(ports: list[dict]) -> str:
    shown = []
    for port in ports:
        if port.get("port") is not None:
            shown.append(str(port["port"]))
        elif port.get("name") is not None:
            shown.append(port["name"])
        else:
            shown.append("*")
    return more_list(shown, len(ports))


def slice_endpoints(endpoints: list[dict]) -> str:
    addresses = [a for e in endpoints for a in e.get("addresses") or []]
    return more_list(addresses, len(addresses))


ENDPOINT_SLICE = Printer(
    (NAME, Column("AddressType", description="The type of address carried by this slice."),
     Column("Ports", description="Ports exposed by the endpoints in this slice."),
     Column("Endpoints", description="Addresses of the endpoints in this slice."), AGE),
    lambda es, now: [name_of(es), es.get("addressType", ""), slice_ports(es.get("ports") or []),
                     slice_endpoints(es.get("endpoints") or []), since(creation(es), now)],
)
