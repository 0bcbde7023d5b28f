"""Field types of stack files that carry their own checks: names, labels, addresses, networks.

Each check raises an error with a plain message and a fix, so the loader can report it as is.
``WithJsonSchema`` keeps the published schema close to the rules for editors.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from kubeprov.stack.errors import invalid
from kubeprov.stack.messages import describe

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_LABEL_PATTERN = DNS_LABEL_RE.pattern
_LABEL_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$")
_PORT_RANGE_RE = re.compile(r"^(\d+)-(\d+)$")

CLUSTER_NAME_MAX = 40
BRIDGE_MAX = 15


def dns_label_problem(value: str, max_length: int = 63) -> str | None:
    """Why ``value`` is not a DNS-1123 label (the form of Kubernetes object and host names), or None."""
    if not value:
        return "must not be empty"
    if len(value) > max_length:
        return f"'{value}' is {len(value)} characters long, the limit is {max_length}"
    if not DNS_LABEL_RE.match(value):
        return (
            f"'{value}' is not a DNS-1123 label: only lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return None


def _suggest_label(value: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")
    return cleaned or "my-cluster"


def _check_dns_label(value: str, max_length: int) -> str:
    problem = dns_label_problem(value, max_length)
    if problem:
        suggestion = _suggest_label(value)[:max_length].strip("-")
        raise invalid(problem, f"use a name such as '{suggestion}'")
    return value


def _dns_label(value: str) -> str:
    return _check_dns_label(value, 63)


def _cluster_name(value: str) -> str:
    return _check_dns_label(value, CLUSTER_NAME_MAX)


def dns_subdomain_problem(value: str) -> str | None:
    """Why ``value`` is not a DNS-1123 subdomain (dot-separated labels, at most 253 characters)."""
    if not value or len(value) > 253:
        return f"'{value}' must be 1 to 253 characters long"
    for part in value.split("."):
        if dns_label_problem(part) is not None:
            return f"'{value}' is not a DNS name: each dot-separated part must be a DNS-1123 label"
    return None


def _dns_subdomain(value: str) -> str:
    problem = dns_subdomain_problem(value)
    if problem:
        raise invalid(problem, "use lowercase letters, digits, '-' and '.', for example cluster.local")
    return value


def label_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be a Kubernetes label value (empty is allowed), or None."""
    if len(value) > 63:
        return f"label value '{value}' is longer than 63 characters"
    if value and not _LABEL_NAME_RE.match(value):
        return (
            f"'{value}' is not a valid label value: use letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit"
        )
    return None


def _label_value(value: str) -> str:
    problem = label_value_problem(value)
    if problem:
        raise invalid(problem, "shorten it or replace the other characters with '-'")
    return value


def label_key_problem(value: str) -> str | None:
    """Why ``value`` cannot be a Kubernetes label key (``[prefix/]name``), or None."""
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or dns_subdomain_problem(prefix)):
        return f"label key prefix '{prefix}' must be a DNS name such as example.com"
    if not name or len(name) > 63 or not _LABEL_NAME_RE.match(name):
        return (
            f"'{value}' is not a valid label key: the name part must be 1 to 63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return None


def _label_key(value: str) -> str:
    problem = label_key_problem(value)
    if problem:
        raise invalid(problem, "use a key such as 'tier' or 'example.com/tier'")
    return value


def _cidr(value: Any) -> Any:
    if isinstance(value, ipaddress.IPv4Network):
        return value
    if not isinstance(value, str):
        raise invalid(
            f"expected an IPv4 network, got {describe(value)}", "write ADDRESS/PREFIX, e.g. 10.244.0.0/16"
        )
    try:
        return ipaddress.IPv4Network(value)
    except ipaddress.NetmaskValueError:
        raise invalid(
            f"'{value}' has an invalid prefix length", "write it as ADDRESS/PREFIX, e.g. 10.0.0.0/16"
        ) from None
    except ValueError:
        if "/" in value:
            try:
                loose = ipaddress.IPv4Network(value, strict=False)
            except ValueError:
                pass
            else:
                raise invalid(f"'{value}' has host bits set", f"use the network address: {loose}") from None
        raise invalid(
            f"'{value}' is not an IPv4 network", "write it as ADDRESS/PREFIX, for example 10.244.0.0/16"
        ) from None


def _private_subnet(network: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    if not network.is_private or network.is_loopback or network.is_link_local:
        raise invalid(
            f"{network} is not a private IPv4 range",
            "use a range inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
        )
    if not 16 <= network.prefixlen <= 28:
        raise invalid(
            f"{network} has prefix /{network.prefixlen}", "use a prefix between /16 and /28, e.g. /24"
        )
    return network


def _ipv4_address(value: Any) -> Any:
    if isinstance(value, ipaddress.IPv4Address):
        return value
    if not isinstance(value, str):
        raise invalid(
            f"expected an IPv4 address, got {describe(value)}", "write an address such as 10.96.0.10"
        )
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise invalid(f"'{value}' is not an IPv4 address", "write four numbers such as 10.96.0.10") from None


def _host_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if re.fullmatch(r"[\d.]+", value) or dns_subdomain_problem(value.lower()):
        raise invalid(
            f"'{value}' is neither an IP address nor a DNS name",
            "use an address such as 192.0.2.10 or node1.example.com",
        )
    return value


def split_endpoint(value: str) -> tuple[str, int | None]:
    """Split ``host`` or ``host:port``; the port is None when not given."""
    host, colon, port = value.rpartition(":")
    if not colon:
        return value, None
    return host, int(port)


def _endpoint(value: str) -> str:
    fix = "write HOST or HOST:PORT, e.g. api.example.com:6443"
    host = value
    if ":" in value:
        host, _, port = value.rpartition(":")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise invalid(f"'{value}' has an invalid port '{port}'", fix)
    if not host:
        raise invalid(f"'{value}' has no host", fix)
    _host_address(host)
    return value


def _port_range(value: str) -> str:
    fix = "write FIRST-LAST with FIRST below LAST, e.g. 30000-32767"
    match = _PORT_RANGE_RE.match(value)
    if not match:
        raise invalid(f"'{value}' is not a port range", fix)
    first, last = int(match.group(1)), int(match.group(2))
    if not 1 <= first < last <= 65535:
        raise invalid(f"'{value}' is not a range of ports between 1 and 65535", fix)
    return value


def _ifname(value: str) -> str:
    if not _IFNAME_RE.match(value) or value in (".", ".."):
        raise invalid(
            f"'{value}' is not a valid network interface name: "
            f"1 to {BRIDGE_MAX} letters, digits, '-', '_' or '.'",
            "use a short name such as kp-local",
        )
    return value


def _version(value: str) -> str:
    if not _VERSION_RE.match(value):
        raise invalid(
            f"'{value}' is not a version like 0.1.0", "write MAJOR.MINOR.PATCH in quotes, e.g. '0.1.0'"
        )
    return value


def _path(value: Any) -> Any:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value:
        raise invalid(f"expected a file path, got {describe(value)}", "write a path, e.g. ~/.ssh/id_ed25519")
    return Path(value)


def _not_blank(value: str) -> str:
    if not value.strip() or any(ch.isspace() for ch in value):
        raise invalid(f"'{value}' must be a single word without spaces", "write it without spaces")
    return value


def _string_schema(pattern: str | None = None, max_length: int | None = None, fmt: str | None = None) -> Any:
    schema: dict[str, Any] = {"type": "string"}
    if pattern:
        schema["pattern"] = pattern
    if max_length:
        schema["maxLength"] = max_length
    if fmt:
        schema["format"] = fmt
    return WithJsonSchema(schema)


DnsLabel = Annotated[str, AfterValidator(_dns_label), _string_schema(_DNS_LABEL_PATTERN, 63)]
ClusterName = Annotated[
    str, AfterValidator(_cluster_name), _string_schema(_DNS_LABEL_PATTERN, CLUSTER_NAME_MAX)
]
DnsSubdomain = Annotated[str, AfterValidator(_dns_subdomain), _string_schema(max_length=253, fmt="hostname")]
LabelKey = Annotated[str, AfterValidator(_label_key), _string_schema(max_length=317)]
LabelValue = Annotated[str, AfterValidator(_label_value), _string_schema(max_length=63)]
Cidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_cidr), _string_schema(fmt="ipv4-network")]
PrivateSubnet = Annotated[
    ipaddress.IPv4Network,
    BeforeValidator(_cidr),
    AfterValidator(_private_subnet),
    _string_schema(fmt="ipv4-network"),
]
IPv4 = Annotated[ipaddress.IPv4Address, BeforeValidator(_ipv4_address), _string_schema(fmt="ipv4")]
HostAddress = Annotated[str, AfterValidator(_host_address), _string_schema()]
Endpoint = Annotated[str, AfterValidator(_endpoint), _string_schema(r"^[^:]+(:\d{1,5})?$")]
PortRange = Annotated[str, AfterValidator(_port_range), _string_schema(r"^\d{1,5}-\d{1,5}$")]
IfName = Annotated[str, AfterValidator(_ifname), _string_schema(_IFNAME_RE.pattern, BRIDGE_MAX)]
Version = Annotated[str, AfterValidator(_version), _string_schema(_VERSION_RE.pattern)]
FilePath = Annotated[Path, BeforeValidator(_path), _string_schema(fmt="path")]
Word = Annotated[str, AfterValidator(_not_blank), _string_schema(r"^\S+$")]


def matching(pattern: str, what: str, example: str) -> Any:
    """A text field that must match ``pattern``; ``what`` and ``example`` make the message."""
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.match(value):
            raise invalid(f"'{value}' is not {what}", f"use a value such as {example}")
        return value

    return Annotated[str, AfterValidator(check), _string_schema(pattern)]


def _service_range(network: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    # the API server refuses service ranges with more than 20 host bits
    if network.prefixlen < 12:
        raise invalid(
            f"{network} is too large for services", "use a prefix of /12 or longer, e.g. 10.96.0.0/12"
        )
    if network.num_addresses < 16:
        raise invalid(
            f"{network} is too small for services", "use a prefix of /28 or shorter, e.g. 10.96.0.0/12"
        )
    return network


def _pod_range(network: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    # every node gets a /24 of pod addresses
    if network.prefixlen > 24:
        raise invalid(
            f"{network} is smaller than the /24 each node takes",
            "use a prefix of /24 or shorter, e.g. 10.244.0.0/16",
        )
    return network


ServiceCidr = Annotated[Cidr, AfterValidator(_service_range)]
PodCidr = Annotated[Cidr, AfterValidator(_pod_range)]
