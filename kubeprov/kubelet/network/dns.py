"""A pod's ``/etc/resolv.conf`` and ``/etc/hosts``, in the kubelet's formats and by its dnsPolicy rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Pod = dict[str, Any]

MAX_NAMESERVERS = 3
MAX_SEARCH_PATHS = 32
MAX_SEARCH_CHARS = 2048
HOSTNAME_MAX = 63


@dataclass(frozen=True)
class ResolvConf:
    """Parsed or built resolv.conf; ``render`` gives the kubelet's layout (search, nameservers, options)."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def render(self) -> str:
        lines = []
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        lines.extend(f"nameserver {server}" for server in self.nameservers)
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "".join(line + "\n" for line in lines)


def parse_resolv_conf(text: str) -> ResolvConf:
    """The node's resolv.conf (the last ``search``/``domain`` line wins, as in glibc)."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        fields = raw.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            servers.append(fields[1])
        elif fields[0] in ("search", "domain"):
            searches = fields[1:]
        elif fields[0] == "options":
            options.extend(fields[1:])
    return ResolvConf(tuple(servers), tuple(searches), tuple(options))


@dataclass(frozen=True)
class ClusterDNS:
    """The kubelet's clusterDNS / clusterDomain settings and the node's own resolver configuration."""

    servers: tuple[str, ...] = ()
    domain: str = "cluster.local"
    host: ResolvConf = field(default_factory=ResolvConf)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def _merge_options(base: list[str], extra: list[dict[str, Any]]) -> list[str]:
    """dnsConfig.options override the base ones by name (``ndots:5`` + ``{name: ndots, value: 2}`` -> ``ndots:2``)."""
    merged: dict[str, str | None] = {}
    for option in base:
        name, _, value = option.partition(":")
        merged[name] = value if _ else None
    for option in extra:
        value = option.get("value")
        merged[option.get("name", "")] = None if value is None else str(value)
    return [name if value is None else f"{name}:{value}" for name, value in merged.items() if name]


def effective_policy(pod: Pod, dns: ClusterDNS) -> str:
    """ClusterFirst, Default or None after the hostNetwork rules (ClusterFirst on the host network is Default)."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    host_net = bool(spec.get("hostNetwork"))
    if policy == "ClusterFirstWithHostNet":
        policy = "ClusterFirst"
    elif policy == "ClusterFirst" and host_net:
        policy = "Default"
    if policy == "ClusterFirst" and not dns.servers:
        return "Default"  # the kubelet falls back to the node's resolver when no cluster DNS is configured
    return policy


def resolv_conf(pod: Pod, dns: ClusterDNS) -> ResolvConf:
    """The pod's resolv.conf by dnsPolicy, with spec.dnsConfig merged in and the kubelet's limits applied."""
    spec = pod.get("spec") or {}
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    policy = effective_policy(pod, dns)
    if policy == "ClusterFirst":
        servers = list(dns.servers)
        searches = [f"{namespace}.svc.{dns.domain}", f"svc.{dns.domain}", dns.domain, *dns.host.searches]
        options = ["ndots:5"]
    elif policy == "None":
        servers, searches, options = [], [], []
    else:
        servers, searches, options = list(dns.host.nameservers), list(dns.host.searches), list(dns.host.options)
    config = spec.get("dnsConfig") or {}
    servers = _dedupe([*servers, *(config.get("nameservers") or [])])[:MAX_NAMESERVERS]
    searches = _limit_searches(_dedupe([*searches, *(config.get("searches") or [])]))
    options = _merge_options(options, config.get("options") or [])
    return ResolvConf(tuple(servers), tuple(searches), tuple(options))


def _limit_searches(searches: list[str]) -> list[str]:
    kept: list[str] = []
    for search in searches[:MAX_SEARCH_PATHS]:
        if len(" ".join([*kept, search])) > MAX_SEARCH_CHARS:
            break
        kept.append(search)
    return kept


def pod_hostname(pod: Pod) -> tuple[str, str]:
    """(hostname, FQDN or ''): spec.hostname or the pod name cut to 63 characters; FQDN when a subdomain is set."""
    spec = pod.get("spec") or {}
    meta = pod.get("metadata") or {}
    hostname = (spec.get("hostname") or meta.get("name", ""))[:HOSTNAME_MAX].rstrip("-.")
    subdomain = spec.get("subdomain") or ""
    return hostname, "" if not subdomain else f"{hostname}.{subdomain}.{meta.get('namespace') or 'default'}.svc"


def hosts_file(pod: Pod, pod_ips: list[str], cluster_domain: str = "cluster.local", node_hosts: str = "") -> str:
    """The kubelet-managed /etc/hosts: localhost entries, the pod's own names, then spec.hostAliases.

    hostNetwork pods get the node's hosts file instead of the pod entries, under the kubelet's host-network header.
    """
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork"):
        text = "# Kubernetes-managed hosts file (host network).\n" + node_hosts
        if text and not text.endswith("\n"):
            text += "\n"
    else:
        text = ("# Kubernetes-managed hosts file.\n"
                "127.0.0.1\tlocalhost\n"
                "::1\tlocalhost ip6-localhost ip6-loopback\n"
                "fe00::0\tip6-localnet\n"
                "fe00::0\tip6-mcastprefix\n"
                "fe00::1\tip6-allnodes\n"
                "fe00::2\tip6-allrouters\n")
        hostname, fqdn = pod_hostname(pod)
        for ip in pod_ips:
            text += f"{ip}\t{fqdn}.{cluster_domain}\t{hostname}\n" if fqdn else f"{ip}\t{hostname}\n"
    aliases = spec.get("hostAliases") or []
    if aliases:
        text += "\n# Entries added by HostAliases.\n"
        for alias in aliases:
            text += f"{alias.get('ip', '')}\t" + "\t".join(alias.get("hostnames") or []) + "\n"
    return text
