"""discovery.k8s.io/v1: EndpointSlices."""

from __future__ import annotations

from kubeprov.api.fielderrors import FieldError, Path, duplicate, invalid, not_supported, required, too_many
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.core_service import non_special_ip_errors
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_list,
    as_str,
    check_list,
    dns_label,
    dns_subdomain,
    immutable,
    is_int,
    maps,
    msgs_to_errors,
    parse_ip,
    port_num_errors,
    qualified_name,
)

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
PROTOCOLS = ("SCTP", "TCP", "UDP")


def _fqdn_errors(name: str, path: Path) -> list[FieldError]:
    """``IsFullyQualifiedDomainName``."""
    if not name:
        return [required(path, "")]
    name = name.removesuffix(".")
    errs = dns_subdomain(name, path)
    if errs:
        return [invalid(path, name, ",".join(e.detail for e in errs))]
    if len(name.split(".")) < 2:
        return [invalid(path, name, "should be a domain with at least two segments separated by dots")]
    return []


class EndpointSliceStrategy(Strategy):
    """``EndpointSlice``: addresses of one family; the addressType never changes."""

    kind = "EndpointSlice"

    def set_defaults(self, obj: Obj) -> None:
        for _, port in maps(obj.get("ports")):
            if port.get("name") is None:
                port["name"] = ""
            if port.get("protocol") is None:
                port["protocol"] = "TCP"

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        errs: list[FieldError] = []
        address_type = obj.get("addressType")
        if address_type not in ADDRESS_TYPES and not (old is not None and address_type == "IP"):
            errs.append(
                not_supported(Path("addressType"), address_type if address_type is not None else "", ADDRESS_TYPES)
            )
        endpoints = check_list(obj, "endpoints", Path("endpoints"), errs)
        if len(endpoints) > 1000:
            errs.append(too_many(Path("endpoints"), len(endpoints), 1000))
        for i, endpoint in maps(endpoints):
            epath = Path("endpoints").index(i)
            addresses = as_list(endpoint.get("addresses"))
            apath = epath.child("addresses")
            if not addresses:
                errs.append(required(apath, "must contain at least 1 address"))
            elif len(addresses) > 100:
                errs.append(too_many(apath, len(addresses), 100))
            for j, address in enumerate(addresses):
                errs.extend(self._address_errors(address_type, as_str(address), apath.index(j)))
            hostname = endpoint.get("hostname")
            if hostname is not None:
                errs.extend(dns_label(as_str(hostname), epath.child("hostname")))
            node_name = endpoint.get("nodeName")
            if node_name is not None:
                errs.extend(dns_subdomain(as_str(node_name), epath.child("nodeName")))
        ports = check_list(obj, "ports", Path("ports"), errs)
        if len(ports) > 20000:
            errs.append(too_many(Path("ports"), len(ports), 20000))
        names: set[str] = set()
        for i, port in maps(ports):
            ppath = Path("ports").index(i)
            name = as_str(port.get("name"))
            if name:
                errs.extend(dns_label(name, ppath.child("name")))
            if name in names:
                errs.append(duplicate(ppath.child("name"), name))
            names.add(name)
            protocol = port.get("protocol")
            if protocol is None:
                errs.append(required(ppath.child("protocol"), ""))
            elif protocol not in PROTOCOLS:
                errs.append(not_supported(ppath.child("protocol"), protocol, PROTOCOLS))
            number = port.get("port")
            if number is not None:
                errs.extend(
                    msgs_to_errors(ppath.child("port"), number, port_num_errors(number if is_int(number) else 0))
                )
            if port.get("appProtocol") is not None:
                errs.extend(qualified_name(as_str(port.get("appProtocol")), ppath.child("appProtocol")))
        return errs

    @staticmethod
    def _address_errors(address_type: object, address: str, path: Path) -> list[FieldError]:
        if address_type == "FQDN":
            return _fqdn_errors(address, path)
        ip = parse_ip(address)
        if address_type == "IPv4" and (ip is None or ip.version != 4):
            return [invalid(path, address, "must be a valid IPv4 address")]
        if address_type == "IPv6" and (ip is None or ip.version != 6):
            return [invalid(path, address, "must be a valid IPv6 address")]
        if address_type in ("IPv4", "IPv6"):
            return non_special_ip_errors(address, path)
        return []

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        if old.get("addressType") == "IP":
            return []
        return immutable(new.get("addressType"), old.get("addressType"), Path("addressType"))
