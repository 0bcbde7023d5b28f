"""The catalogue: every CA, certificate and kubeconfig a :class:`PkiSpec` calls for.

This is the one place that knows file names, subjects, SANs and usages; generation only walks it.
Names double as stable ids (``apiserver``, ``etcd/server-cp-1``, ``kubeconfig/admin.conf``): a
certificate's id is its path under the PKI folder without ``.crt``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from kubeprov.errors import KubeprovError
from kubeprov.pki.certs import CLIENT_AUTH, SERVER_AUTH, IPAddress, LeafProfile
from kubeprov.pki.spec import NodeSpec, PkiSpec

SA_KEY = "sa.key"
SA_PUB = "sa.pub"
KUBECONFIG_PREFIX = "kubeconfig/"
DNS_USER = "kubeprov:cluster-dns"

CLUSTER_CA = "ca"
ETCD_CA = "etcd/ca"
FRONT_PROXY_CA = "front-proxy-ca"

# Machine names end up in file names; keep them to what a DNS label or hostname may hold.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_LOOPBACK = ipaddress.ip_address("127.0.0.1")


@dataclass(frozen=True)
class CaEntry:
    name: str
    common_name: str

    @property
    def cert_file(self) -> str:
        return f"{self.name}.crt"

    @property
    def key_file(self) -> str:
        return f"{self.name}.key"


@dataclass(frozen=True)
class LeafEntry:
    name: str
    ca: str
    profile: LeafProfile

    @property
    def cert_file(self) -> str:
        return f"{self.name}.crt"

    @property
    def key_file(self) -> str:
        return f"{self.name}.key"


@dataclass(frozen=True)
class KubeconfigEntry:
    file: str
    profile: LeafProfile
    ca: str = CLUSTER_CA

    @property
    def name(self) -> str:
        return KUBECONFIG_PREFIX + self.file

    @property
    def user(self) -> str:
        return self.profile.common_name


@dataclass(frozen=True)
class Layout:
    cluster_name: str
    api_endpoint: str
    cas: tuple[CaEntry, ...]
    leaves: tuple[LeafEntry, ...]
    kubeconfigs: tuple[KubeconfigEntry, ...]


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _unique_ips(items: Iterable[IPAddress]) -> tuple[IPAddress, ...]:
    return tuple(dict.fromkeys(items))


def _check_name(name: str, what: str) -> str:
    if not _SAFE_NAME.match(name):
        raise KubeprovError(
            f"{what} name {name!r} cannot be used in certificate file names",
            "use letters, digits, '.', '-' and '_' only, starting with a letter or digit",
        )
    return name


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def _check_dns(name: str, origin: str) -> str:
    if not name or not name.isascii() or any(c.isspace() or c in "/:@" for c in name):
        raise KubeprovError(f"{origin} {name!r} is neither an IP address nor a DNS name")
    return name


def split_addresses(addresses: Iterable[str], origin: str) -> tuple[tuple[str, ...], tuple[IPAddress, ...]]:
    """Sort addresses into DNS names and IPs, since a SAN entry must say which it is."""
    dns: list[str] = []
    ips: list[IPAddress] = []
    for address in addresses:
        ip = _parse_ip(address)
        if ip is not None:
            ips.append(ip)
        else:
            dns.append(_check_dns(address.strip(), origin))
    return _unique(dns), _unique_ips(ips)


def endpoint_host(api_endpoint: str) -> str:
    """The host part of ``https://HOST:PORT`` (IPv6 brackets removed)."""
    text = api_endpoint if "//" in api_endpoint else f"//{api_endpoint}"
    try:
        host = urlsplit(text).hostname
    except ValueError:
        host = None
    if not host:
        raise KubeprovError(f"the API endpoint {api_endpoint!r} has no host", "write it as https://HOST:PORT")
    return host


def service_ips(service_cidr: str) -> tuple[IPAddress, ...]:
    """The first host of each service range: the address of the ``kubernetes`` Service."""
    ips: list[IPAddress] = []
    for part in service_cidr.split(","):
        try:
            net = ipaddress.ip_network(part.strip(), strict=False)
        except ValueError as exc:
            raise KubeprovError(
                f"the service CIDR {part.strip()!r} is not a network", "e.g. 10.96.0.0/12"
            ) from exc
        if net.num_addresses < 2:
            raise KubeprovError(f"the service CIDR {net} is too small to hold the kubernetes Service")
        ips.append(net.network_address + 1)
    return tuple(ips)


def _apiserver(spec: PkiSpec) -> LeafProfile:
    domain = spec.cluster_domain.strip(".")
    dns = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{domain}"]
    dns += ["localhost", *(_check_name(n.name, "control-plane node") for n in spec.control_plane)]
    ips: list[IPAddress] = [*service_ips(spec.service_cidr), _LOOPBACK]
    extra = [a for n in spec.control_plane for a in n.addresses]
    extra += [*spec.extra_apiserver_sans, endpoint_host(spec.api_endpoint)]
    more_dns, more_ips = split_addresses(extra, "apiserver SAN")
    return LeafProfile(
        common_name="kube-apiserver",
        dns_names=_unique([*dns, *more_dns]),
        ip_addresses=_unique_ips([*ips, *more_ips]),
        usages=(SERVER_AUTH,),
    )


def _client(cn: str, *orgs: str) -> LeafProfile:
    return LeafProfile(common_name=cn, organizations=orgs, usages=(CLIENT_AUTH,))


def _etcd_member(member: NodeSpec) -> list[LeafEntry]:
    name = _check_name(member.name, "etcd member")
    dns, ips = split_addresses(member.addresses, f"address of etcd member {name}")
    both = (SERVER_AUTH, CLIENT_AUTH)
    server = LeafProfile(
        common_name=name,
        dns_names=_unique([name, "localhost", *dns]),
        ip_addresses=_unique_ips([_LOOPBACK, *ips]),
        usages=both,
    )
    peer = LeafProfile(common_name=name, dns_names=_unique([name, *dns]), ip_addresses=ips, usages=both)
    return [LeafEntry(f"etcd/server-{name}", ETCD_CA, server), LeafEntry(f"etcd/peer-{name}", ETCD_CA, peer)]


def _kubelet_serving(node: NodeSpec) -> LeafEntry:
    name = _check_name(node.name, "node")
    dns, ips = split_addresses(node.addresses, f"address of node {name}")
    profile = LeafProfile(
        common_name=f"system:node:{name}",
        organizations=("system:nodes",),
        dns_names=_unique([name, *dns]),
        ip_addresses=ips,
        usages=(SERVER_AUTH,),
    )
    return LeafEntry(f"nodes/{name}/kubelet", CLUSTER_CA, profile)


def _check_unique(names: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise KubeprovError(f"{what} {name!r} is listed twice", "machine names must be unique")
        seen.add(name)


def layout_for(spec: PkiSpec) -> Layout:
    """Everything ``spec`` needs; raises :class:`KubeprovError` on an unusable spec before any write."""
    if not spec.cluster_name.strip():
        raise KubeprovError("the cluster name is empty")
    for days, what in ((spec.ca_validity_days, "CA validity"), (spec.validity_days, "certificate validity")):
        if days < 1:
            raise KubeprovError(f"{what} must be at least 1 day, got {days}")
    _check_unique((n.name for n in spec.etcd_members), "etcd member")
    _check_unique((n.name for n in spec.nodes), "node")
    _check_unique((n.name for n in spec.control_plane), "control-plane node")
    if not spec.control_plane:
        raise KubeprovError("the PKI needs at least one control-plane node")

    prefix = f"kubeprov-{spec.cluster_name}"
    cas = (
        CaEntry(CLUSTER_CA, f"{prefix}-ca"),
        CaEntry(ETCD_CA, f"{prefix}-etcd-ca"),
        CaEntry(FRONT_PROXY_CA, f"{prefix}-front-proxy-ca"),
    )
    leaves = [
        LeafEntry("apiserver", CLUSTER_CA, _apiserver(spec)),
        LeafEntry(
            "apiserver-kubelet-client", CLUSTER_CA, _client("kube-apiserver-kubelet-client", "system:masters")
        ),
        LeafEntry("apiserver-etcd-client", ETCD_CA, _client("kube-apiserver-etcd-client")),
        LeafEntry("front-proxy-client", FRONT_PROXY_CA, _client("front-proxy-client")),
        LeafEntry("etcd/healthcheck-client", ETCD_CA, _client("kube-etcd-healthcheck-client")),
    ]
    for member in spec.etcd_members:
        leaves += _etcd_member(member)
    leaves += [_kubelet_serving(node) for node in spec.nodes]

    kubeconfigs = [
        KubeconfigEntry("admin.conf", _client("kubernetes-admin", "system:masters")),
        KubeconfigEntry("controller-manager.conf", _client("system:kube-controller-manager")),
        KubeconfigEntry("scheduler.conf", _client("system:kube-scheduler")),
        KubeconfigEntry("proxy.conf", _client("system:kube-proxy")),
        # the node-local cluster DNS runs outside pods, as this user (read-only RBAC made at bootstrap)
        KubeconfigEntry("dns.conf", _client(DNS_USER)),
    ]
    kubeconfigs += [
        KubeconfigEntry(f"kubelet-{n.name}.conf", _client(f"system:node:{n.name}", "system:nodes"))
        for n in spec.nodes
    ]
    return Layout(spec.cluster_name, spec.api_endpoint, cas, tuple(leaves), tuple(kubeconfigs))
