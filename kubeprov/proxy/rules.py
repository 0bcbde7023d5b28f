"""The nftables ruleset of the proxy, rendered from the model, and the transactions that install it.

Layout (after kube-proxy's nftables mode, in our own ``ip`` table):

* base chains ``nat-prerouting``/``nat-output`` jump to ``services``, which looks the packet up in
  map ``service-ips`` (daddr . protocol . dport -> ``goto`` a service's chain) and, for a node
  address, in ``service-nodeports`` (protocol . dport);
* ``service-<hash>-<ns/name/proto/port>`` (all endpoints) and ``local-...`` (this node's endpoints)
  spread new connections with ``numgen random mod N`` over ``endpoint-<hash>-...__ip/port`` chains,
  each a DNAT; ClientIP affinity keeps a timed set of client addresses per endpoint, checked first;
* ``external-...`` is where NodePort, externalIPs and LoadBalancer IPs enter: marked for masquerade
  (policy Cluster), or, with policy Local, sent to local endpoints only without SNAT (dropped when none);
* ``cluster-ips-check`` (after DNAT) rejects what is still addressed to a ClusterIP: a port the
  Service does not have, so clients fail at once instead of timing out;
* ``loadBalancerSourceRanges``: new connections to a LoadBalancer IP go through map ``firewall-ips``
  to ``firewall-...``, which drops clients outside the ranges (filter chains at priority -110, before DNAT);
* filter chains at priority -110 reject (icmp port-unreachable) new connections to a service without
  endpoints, through maps ``no-endpoint-services``/``no-endpoint-nodeports`` (and drop those to a
  ClusterIP with internalTrafficPolicy Local whose endpoints are all on other nodes);
* ``nat-postrouting`` masquerades packets carrying mark 0x4000 (from outside the cluster CIDR to a
  ClusterIP, NodePort traffic, and hairpin: an endpoint reaching its own service).

:func:`full_transaction` replaces the table's content in one ``nft -f`` transaction;
:func:`diff_transaction` changes only what differs between two renders (changed chains are flushed
and refilled, map elements added or deleted, chains no longer used deleted).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from kubeprov.proxy.model import Endpoint, ServicePort

MASQ_MARK = "0x4000"
SERVICE_IPS = "service-ips"
SERVICE_NODEPORTS = "service-nodeports"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
NODEPORT_IPS = "nodeport-ips"
FIREWALL_IPS = "firewall-ips"
CLUSTER_IPS = "cluster-ips"
REJECT_CHAIN = "reject-chain"
MARK_CHAIN = "mark-for-masquerade"


@dataclass(frozen=True)
class Chain:
    rules: tuple[str, ...]
    spec: str = ""  # "{ type nat hook output priority -100; }" for a base chain


@dataclass
class Ruleset:
    """What the table should hold: chains, sets/maps (name -> declaration) and their elements."""

    table: str
    chains: dict[str, Chain] = field(default_factory=dict)
    sets: dict[str, str] = field(default_factory=dict)
    elements: dict[str, dict[str, str]] = field(default_factory=dict)  # set -> key -> verdict ("" for sets)

    def element(self, set_name: str, key: str, value: str = "") -> None:
        self.elements.setdefault(set_name, {})[key] = value


@dataclass(frozen=True)
class Options:
    node_name: str
    cluster_cidr: str = ""
    masquerade_all: bool = False
    nodeport_addresses: tuple[str, ...] = ()


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest())[:8].decode()


def chain_name(prefix: str, port: ServicePort) -> str:
    return f"{prefix}-{_hash(port.key)}-{port.key}"


def endpoint_chain(port: ServicePort, endpoint: Endpoint) -> str:
    ident = f"{port.key}__{endpoint.ip}/{endpoint.port}"
    return f"endpoint-{_hash(ident)}-{ident}"


def affinity_set(port: ServicePort, endpoint: Endpoint) -> str:
    ident = f"{port.key}__{endpoint.ip}/{endpoint.port}/{port.affinity_timeout}"
    return f"affinity-{_hash(ident)}"


def _static(ruleset: Ruleset, options: Options) -> None:
    """The chains and maps every node has, whatever its services."""
    verdict_by_addr = "type ipv4_addr . inet_proto . inet_service : verdict;"
    verdict_by_port = "type inet_proto . inet_service : verdict;"
    for name, decl in ((SERVICE_IPS, verdict_by_addr), (NO_ENDPOINT_SERVICES, verdict_by_addr),
                       (FIREWALL_IPS, verdict_by_addr),
                       (SERVICE_NODEPORTS, verdict_by_port), (NO_ENDPOINT_NODEPORTS, verdict_by_port)):
        ruleset.sets[name] = f"map {name} {{ {decl} }}"
        ruleset.elements.setdefault(name, {})
    ruleset.sets[CLUSTER_IPS] = f"set {CLUSTER_IPS} {{ type ipv4_addr; }}"
    ruleset.elements.setdefault(CLUSTER_IPS, {})
    if options.nodeport_addresses:
        ruleset.sets[NODEPORT_IPS] = f"set {NODEPORT_IPS} {{ type ipv4_addr; flags interval; }}"
        for address in sorted(options.nodeport_addresses):
            ruleset.element(NODEPORT_IPS, address)
        at_node = f"ip daddr @{NODEPORT_IPS}"
    else:
        at_node = "fib daddr type local ip daddr != 127.0.0.0/8"
    lookup = "ip daddr . meta l4proto . th dport vmap"
    ruleset.chains.update({
        "filter-prerouting": Chain(("ct state new jump firewall-check",),
                                   "{ type filter hook prerouting priority -110; policy accept; }"),
        "firewall-check": Chain((f"{lookup} @{FIREWALL_IPS}",)),
        "filter-input": Chain(("ct state new jump nodeport-endpoints-check",
                               "ct state new jump service-endpoints-check"),
                              "{ type filter hook input priority -110; policy accept; }"),
        "filter-forward": Chain(("ct state new jump service-endpoints-check", "ct state new jump cluster-ips-check"),
                                "{ type filter hook forward priority -110; policy accept; }"),
        "filter-output-post-dnat": Chain(("ct state new jump cluster-ips-check",),
                                         "{ type filter hook output priority -90; policy accept; }"),
        "cluster-ips-check": Chain((f"ip daddr @{CLUSTER_IPS} reject",)),
        "filter-output": Chain(("ct state new jump nodeport-endpoints-check",
                                "ct state new jump service-endpoints-check", "ct state new jump firewall-check"),
                               "{ type filter hook output priority -110; policy accept; }"),
        "nat-prerouting": Chain(("jump services",), "{ type nat hook prerouting priority -100; policy accept; }"),
        "nat-output": Chain(("jump services",), "{ type nat hook output priority -100; policy accept; }"),
        "nat-postrouting": Chain(("jump masquerading",),
                                 "{ type nat hook postrouting priority 100; policy accept; }"),
        "masquerading": Chain((f"meta mark & {MASQ_MARK} == 0 return", f"meta mark set meta mark xor {MASQ_MARK}",
                               "masquerade fully-random")),
        MARK_CHAIN: Chain((f"meta mark set meta mark or {MASQ_MARK}",)),
        REJECT_CHAIN: Chain(("reject",)),
        "services": Chain((f"{lookup} @{SERVICE_IPS}",
                           f"{at_node} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}")),
        "service-endpoints-check": Chain((f"{lookup} @{NO_ENDPOINT_SERVICES}",)),
        "nodeport-endpoints-check": Chain((f"{at_node} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}",)),
    })


def _spread(ruleset: Ruleset, port: ServicePort, endpoints: tuple[Endpoint, ...]) -> list[str]:
    """Affinity look-ups then the random choice among ``endpoints`` (whose chains are added)."""
    rules = []
    if port.affinity_timeout:
        rules += [f"ip saddr @{affinity_set(port, e)} goto {endpoint_chain(port, e)}" for e in endpoints]
    choices = ", ".join(f"{i} : goto {endpoint_chain(port, e)}" for i, e in enumerate(endpoints))
    rules.append(f"numgen random mod {len(endpoints)} vmap {{ {choices} }}")
    for endpoint in endpoints:
        _endpoint(ruleset, port, endpoint)
    return rules


def _endpoint(ruleset: Ruleset, port: ServicePort, endpoint: Endpoint) -> None:
    rules = [f"ip saddr {endpoint.ip} jump {MARK_CHAIN}"]  # hairpin: the endpoint reaching its own service
    if port.affinity_timeout:
        name = affinity_set(port, endpoint)
        ruleset.sets[name] = (f"set {name} {{ type ipv4_addr; flags dynamic,timeout; "
                              f"timeout {port.affinity_timeout}s; }}")
        rules.append(f"update @{name} {{ ip saddr }}")
    rules.append(f"meta l4proto {port.protocol} dnat to {endpoint.ip}:{endpoint.port}")
    ruleset.chains[endpoint_chain(port, endpoint)] = Chain(tuple(rules))


def _service(ruleset: Ruleset, port: ServicePort, options: Options) -> None:
    proto = port.protocol
    at_cluster_ip = f"ip daddr {port.cluster_ip} meta l4proto {proto} th dport {port.port}"
    if options.masquerade_all:
        masq = [f"{at_cluster_ip} jump {MARK_CHAIN}"]
    elif options.cluster_cidr:
        masq = [f"{at_cluster_ip} ip saddr != {options.cluster_cidr} jump {MARK_CHAIN}"]
    else:
        masq = []
    everywhere = port.cluster_endpoints()
    local = port.local_endpoints(options.node_name)
    cluster_chain = chain_name("service", port) if everywhere else ""
    local_chain = chain_name("local", port) if local and (port.internal_local or port.external_local) else ""
    if cluster_chain:
        ruleset.chains[cluster_chain] = Chain(tuple(masq + _spread(ruleset, port, everywhere)))
    if local_chain:
        ruleset.chains[local_chain] = Chain(tuple(masq + _spread(ruleset, port, local)))

    internal = local_chain if port.internal_local else cluster_chain
    ruleset.element(CLUSTER_IPS, port.cluster_ip)
    cluster_key = f"{port.cluster_ip} . {proto} . {port.port}"
    if internal:
        ruleset.element(SERVICE_IPS, cluster_key, f"goto {internal}")
    elif port.internal_local and everywhere:  # endpoints elsewhere only: dropped, as kube-proxy does
        ruleset.element(NO_ENDPOINT_SERVICES, cluster_key, "drop")
    else:
        ruleset.element(NO_ENDPOINT_SERVICES, cluster_key, f"goto {REJECT_CHAIN}")

    if not port.has_external:
        return
    if port.source_ranges and port.load_balancer_ips:
        firewall = chain_name("firewall", port)
        ruleset.chains[firewall] = Chain((f"ip saddr != {{ {', '.join(port.source_ranges)} }} drop",))
        for ip in port.load_balancer_ips:
            ruleset.element(FIREWALL_IPS, f"{ip} . {proto} . {port.port}", f"goto {firewall}")
    external_keys = [f"{ip} . {proto} . {port.port}" for ip in port.external_destinations]
    nodeport_key = f"{proto} . {port.node_port}" if port.node_port else ""
    if port.external_local:
        rules = [f"fib saddr type local jump {MARK_CHAIN}",
                 f"fib saddr type local goto {cluster_chain or REJECT_CHAIN}"]
        if options.cluster_cidr:  # pods reaching an external address of the service are internal traffic
            rules.append(f"ip saddr {options.cluster_cidr} goto {cluster_chain or REJECT_CHAIN}")
        rules.append(f"goto {local_chain}" if local_chain else "drop")
    elif cluster_chain:
        rules = [f"jump {MARK_CHAIN}", f"goto {cluster_chain}"]
    else:
        for key in external_keys:
            ruleset.element(NO_ENDPOINT_SERVICES, key, f"goto {REJECT_CHAIN}")
        if nodeport_key:
            ruleset.element(NO_ENDPOINT_NODEPORTS, nodeport_key, f"goto {REJECT_CHAIN}")
        return
    external_chain = chain_name("external", port)
    ruleset.chains[external_chain] = Chain(tuple(rules))
    for key in external_keys:
        ruleset.element(SERVICE_IPS, key, f"goto {external_chain}")
    if nodeport_key:
        ruleset.element(SERVICE_NODEPORTS, nodeport_key, f"goto {external_chain}")


def render(ports: Iterable[ServicePort], table: str, options: Options) -> Ruleset:
    """The whole ruleset for ``ports`` (deterministic: the same input renders the same text)."""
    ruleset = Ruleset(table)
    _static(ruleset, options)
    for port in sorted(ports, key=lambda p: p.key):
        _service(ruleset, port, options)
    return ruleset


# ---- transactions -----------------------------------------------------------------------------


def _elements(table: str, set_name: str, items: dict[str, str], verb: str) -> list[str]:
    if not items:
        return []
    if verb == "delete":
        body = ", ".join(sorted(items))
    else:
        body = ", ".join(f"{k} : {v}" if v else k for k, v in sorted(items.items()))
    return [f"{verb} element ip {table} {set_name} {{ {body} }}"]


def _chain_rules(table: str, name: str, chain: Chain) -> list[str]:
    return [f"add rule ip {table} {name} {rule}" for rule in chain.rules]


def full_transaction(new: Ruleset, existing: Iterable[tuple[str, str]] = ()) -> str:
    """Replace the table's content in one atomic transaction: add it, flush it, empty its maps and sets
    (``flush table`` keeps their elements, which may point at chains), delete what ``existing`` ((kind, name)
    of the chains, sets and maps found in it) has but ``new`` does not, then add everything of ``new``.
    Wanted affinity sets keep their clients."""
    t = new.table
    lines = [f"add table ip {t}", f"flush table ip {t}"]
    existing = sorted(set(existing))
    for kind, name in existing:
        if kind in ("set", "map") and not (name in new.sets and name.startswith("affinity-")):
            lines.append(f"flush {kind} ip {t} {name}")
    lines += [f"delete chain ip {t} {name}" for kind, name in existing if kind == "chain" and name not in new.chains]
    lines += [f"delete {kind} ip {t} {name}" for kind, name in existing
              if kind in ("set", "map") and name not in new.sets]
    lines += [f"add {decl.split(' ', 1)[0]} ip {t} {decl.split(' ', 1)[1]}" for _, decl in sorted(new.sets.items())]
    lines += [f"add chain ip {t} {name} {chain.spec}".rstrip() for name, chain in sorted(new.chains.items())]
    for name, chain in sorted(new.chains.items()):
        lines += _chain_rules(t, name, chain)
    for set_name, items in sorted(new.elements.items()):
        lines += _elements(t, set_name, items, "add")
    return "\n".join(lines) + "\n"


def diff_transaction(old: Ruleset, new: Ruleset) -> str:
    """Only the changes from ``old`` (what the table holds) to ``new``; "" when there are none."""
    t = new.table
    lines: list[str] = []
    for set_name in sorted(old.elements):
        had, want = old.elements[set_name], new.elements.get(set_name, {})
        gone = {k: v for k, v in had.items() if k not in want or want[k] != v}
        if set_name in new.sets:
            lines += _elements(t, set_name, gone, "delete")
    added_sets = sorted(set(new.sets) - set(old.sets))
    lines += [f"add {new.sets[n].split(' ', 1)[0]} ip {t} {new.sets[n].split(' ', 1)[1]}" for n in added_sets]
    added = sorted(set(new.chains) - set(old.chains))
    changed = sorted(n for n in set(new.chains) & set(old.chains) if new.chains[n] != old.chains[n])
    lines += [f"add chain ip {t} {name} {new.chains[name].spec}".rstrip() for name in added]
    lines += [f"flush chain ip {t} {name}" for name in changed]
    for name in added + changed:
        lines += _chain_rules(t, name, new.chains[name])
    for set_name in sorted(new.elements):
        had, want = old.elements.get(set_name, {}), new.elements[set_name]
        lines += _elements(t, set_name, {k: v for k, v in want.items() if had.get(k) != v}, "add")
    removed = sorted(set(old.chains) - set(new.chains))
    lines += [f"flush chain ip {t} {name}" for name in removed]
    lines += [f"delete chain ip {t} {name}" for name in removed]
    for name in sorted(set(old.sets) - set(new.sets)):
        lines.append(f"delete {old.sets[name].split(' ', 1)[0]} ip {t} {name}")
    return "\n".join(lines) + "\n" if lines else ""


def changed_chains(old: Ruleset, new: Ruleset) -> list[str]:
    """Names of the chains a diff touches (added, changed or removed)."""
    names = set(old.chains) | set(new.chains)
    return sorted(n for n in names if old.chains.get(n) != new.chains.get(n))
