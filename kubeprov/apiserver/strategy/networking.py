"""networking.k8s.io/v1: Ingresses, IngressClasses and NetworkPolicies."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from kubeprov.api.fielderrors import (
    FieldError,
    Path,
    forbidden,
    invalid,
    not_supported,
    required,
    too_long,
    type_invalid,
)
from kubeprov.api.names import is_dns1123_subdomain, name_is_dns1035_label, name_is_dns_subdomain, regex_error
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_list,
    as_map,
    as_str,
    check_list,
    cidr_errors,
    dns_label,
    dns_subdomain,
    go_invalid,
    go_str_list,
    immutable,
    is_int,
    label_selector,
    maps,
    msgs_to_errors,
    parse_cidr,
    parse_ip,
    path_segment_name,
    port_name_errors,
    port_num_errors,
    sub,
)

PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
_INVALID_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_SUFFIXES = ("/..", "/.")
_HTTP_PATH_FMT = r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+"
_HTTP_PATH = re.compile("^" + _HTTP_PATH_FMT + "$")
_WILDCARD_FMT = "\\*\\." + "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_WILDCARD = re.compile("^" + _WILDCARD_FMT + "$")
_WILDCARD_MSG = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must "
    "consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character"
)
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def wildcard_subdomain_errors(value: str) -> list[str]:
    """``IsWildcardDNS1123Subdomain``."""
    errs: list[str] = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _WILDCARD.match(value) or "\n" in value:
        errs.append(regex_error(_WILDCARD_MSG, _WILDCARD_FMT, "*.example.com"))
    return errs


def domain_prefixed_path(value: str, path: Path) -> list[FieldError]:
    """``IsDomainPrefixedPath``: ``example.com/some-path``."""
    if not value:
        return [required(path, "")]
    host, sep, rest = value.partition("/")
    if not sep or not host or not rest:
        return [invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    errs = msgs_to_errors(path, host, is_dns1123_subdomain(host))
    if not _HTTP_PATH.match(rest):
        errs.append(invalid(path, rest, regex_error("Invalid path", _HTTP_PATH_FMT)))
    return errs


def _typed_local_ref(ref: Obj, path: Path) -> list[FieldError]:
    """``validateIngressTypedLocalObjectReference``."""
    errs: list[FieldError] = []
    group = ref.get("apiGroup")
    if group is not None:
        errs.extend(dns_subdomain(as_str(group), path.child("apiGroup")))
    for key in ("kind", "name"):
        value = as_str(ref.get(key))
        if not value:
            errs.append(required(path.child(key), f"{key} is required"))
        else:
            errs.extend(msgs_to_errors(path.child(key), value, path_segment_name(value)))
    return errs


def _backend_errors(backend: Any, path: Path) -> list[FieldError]:
    """``validateIngressBackend``."""
    backend = as_map(backend)
    resource, service = backend.get("resource"), backend.get("service")
    if resource is not None and service is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if isinstance(resource, dict):
        return _typed_local_ref(resource, path.child("resource"))
    if not isinstance(service, dict):
        return [invalid(path, "", "resource or service backend is required")]
    errs: list[FieldError] = []
    name = as_str(service.get("name"))
    if not name:
        errs.append(required(path.child("service", "name"), ""))
    else:
        errs.extend(msgs_to_errors(path.child("service", "name"), name, name_is_dns1035_label(name, False)))
    port = as_map(service.get("port"))
    port_name, number = as_str(port.get("name")), port.get("number")
    has_number = is_int(number) and number != 0
    if port_name and has_number:
        errs.append(invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        errs.extend(msgs_to_errors(path.child("service", "port", "name"), port_name, port_name_errors(port_name)))
    elif has_number:
        errs.extend(msgs_to_errors(path.child("service", "port", "number"), number, port_num_errors(number)))
    else:
        errs.append(required(path, "port name or number is required"))
    return errs


def _http_path_errors(http_path: Obj, path: Path) -> list[FieldError]:
    """``validateHTTPIngressPath``."""
    path_type = http_path.get("pathType")
    if path_type is None:
        return [required(path.child("pathType"), "pathType must be specified")]
    value = as_str(http_path.get("path"))
    errs: list[FieldError] = []
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.append(invalid(path.child("path"), value, "must be an absolute path"))
        if value:
            errs.extend(
                invalid(path.child("path"), value, f"must not contain '{seq}'")
                for seq in _INVALID_SEQUENCES
                if seq in value
            )
            errs.extend(
                invalid(path.child("path"), value, f"cannot end with '{suffix}'")
                for suffix in _INVALID_SUFFIXES
                if value.endswith(suffix)
            )
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.append(invalid(path.child("path"), value, "must be an absolute path"))
    else:
        errs.append(not_supported(path.child("pathType"), path_type, PATH_TYPES))
    errs.extend(_backend_errors(http_path.get("backend"), path.child("backend")))
    return errs


def _host_errors(host: str, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    if parse_ip(host) is not None:
        errs.append(invalid(path, host, "must be a DNS name, not an IP address"))
    if "*" in host:
        errs.extend(msgs_to_errors(path, host, wildcard_subdomain_errors(host)))
    else:
        errs.extend(dns_subdomain(host, path))
    return errs


class IngressStrategy(Strategy):
    """``Ingress``."""

    kind = "Ingress"
    has_status = True
    initial_status: ClassVar[Obj | None] = {"loadBalancer": {}}

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        rules = check_list(spec, "rules", path.child("rules"), errs)
        if not rules and spec.get("defaultBackend") is None:
            errs.append(
                go_invalid(
                    path,
                    go_str_list(spec.get("rules"), "[]networking.IngressRule") if not rules else "",
                    "either `defaultBackend` or `rules` must be specified",
                )
            )
        if spec.get("defaultBackend") is not None:
            errs.extend(_backend_errors(spec["defaultBackend"], path.child("defaultBackend")))
        for i, rule in enumerate(rules):
            rpath = path.child("rules").index(i)
            if not isinstance(rule, dict):
                errs.append(type_invalid(rpath, rule, "must be an object"))
                continue
            host = as_str(rule.get("host"))
            if host:
                errs.extend(_host_errors(host, rpath.child("host")))
            http = rule.get("http")
            if isinstance(http, dict):
                paths = as_list(http.get("paths"))
                if not paths:
                    errs.append(required(rpath.child("http", "paths"), ""))
                for j, http_path in maps(paths):
                    errs.extend(_http_path_errors(http_path, rpath.child("http", "paths").index(j)))
        for i, tls in maps(spec.get("tls")):
            tpath = path.child("tls").index(i)
            for j, host in enumerate(as_list(tls.get("hosts"))):
                host = as_str(host)
                hpath = tpath.child("hosts").index(j)
                if "*" in host:
                    errs.extend(msgs_to_errors(hpath, host, wildcard_subdomain_errors(host)))
                else:
                    errs.extend(dns_subdomain(host, hpath))
            secret = as_str(tls.get("secretName"))
            if secret:
                errs.extend(msgs_to_errors(tpath.child("secretName"), secret, name_is_dns_subdomain(secret, False)))
        class_name = spec.get("ingressClassName")
        if class_name is not None:
            errs.extend(
                msgs_to_errors(
                    path.child("ingressClassName"), class_name, name_is_dns_subdomain(as_str(class_name), False)
                )
            )
        annotation = as_map(as_map(obj.get("metadata")).get("annotations")).get(INGRESS_CLASS_ANNOTATION)
        if old is None and annotation is not None and class_name is not None and annotation != class_name:
            errs.append(
                invalid(
                    Path("annotations", INGRESS_CLASS_ANNOTATION),
                    annotation,
                    "must match `ingressClassName` when both are specified",
                )
            )
        return errs

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        path = Path("status", "loadBalancer", "ingress")
        for i, ingress in maps(as_map(as_map(new.get("status")).get("loadBalancer")).get("ingress")):
            ip = as_str(ingress.get("ip"))
            if ip and parse_ip(ip) is None:
                errs.append(invalid(path.index(i).child("ip"), ip, "must be a valid IP address"))
            hostname = as_str(ingress.get("hostname"))
            if hostname:
                errs.extend(dns_subdomain(hostname, path.index(i).child("hostname")))
                if parse_ip(hostname) is not None:
                    errs.append(
                        invalid(path.index(i).child("hostname"), hostname, "must be a DNS name, not an IP address")
                    )
        return errs


class IngressClassStrategy(Strategy):
    """``IngressClass``: names the controller (immutable) that implements the class."""

    kind = "IngressClass"

    def set_defaults(self, obj: Obj) -> None:
        params = as_map(obj.get("spec")).get("parameters")
        if isinstance(params, dict) and params.get("scope") is None:
            params["scope"] = "Cluster"

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        controller = as_str(spec.get("controller"))
        if len(controller) > 250:
            errs.append(too_long(path.child("controller"), 250))
        errs.extend(domain_prefixed_path(controller, path.child("controller")))
        params = spec.get("parameters")
        if isinstance(params, dict):
            ppath = path.child("parameters")
            errs.extend(_typed_local_ref(params, ppath))
            scope = params.get("scope")
            if scope is None:
                errs.append(required(ppath.child("scope"), ""))
            elif scope not in ("Cluster", "Namespace"):
                errs.append(not_supported(ppath.child("scope"), scope, ("Cluster", "Namespace")))
            elif scope == "Namespace" and params.get("namespace") is None:
                errs.append(required(ppath.child("namespace"), "`parameters.scope` is set to 'Namespace'"))
            elif scope == "Namespace":
                errs.extend(dns_label(as_str(params.get("namespace")), ppath.child("namespace")))
            elif params.get("namespace") is not None:
                errs.append(forbidden(ppath.child("namespace"), "`parameters.scope` is set to 'Cluster'"))
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        return immutable(
            as_map(new.get("spec")).get("controller"),
            as_map(old.get("spec")).get("controller"),
            Path("spec", "controller"),
        )


def _network_policy_port(port: Obj, path: Path) -> list[FieldError]:
    """``ValidateNetworkPolicyPort``."""
    errs: list[FieldError] = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in ("TCP", "UDP", "SCTP"):
        errs.append(not_supported(path.child("protocol"), protocol, ("TCP", "UDP", "SCTP")))
    number, end = port.get("port"), port.get("endPort")
    if number is not None:
        if is_int(number):
            errs.extend(msgs_to_errors(path.child("port"), number, port_num_errors(number)))
            if end is not None:
                if is_int(end) and end < number:
                    errs.append(invalid(path.child("endPort"), number, "must be greater than or equal to `port`"))
                errs.extend(msgs_to_errors(path.child("endPort"), end, port_num_errors(end if is_int(end) else 0)))
        else:
            if end is not None:
                errs.append(invalid(path.child("endPort"), end, "may not be specified when `port` is non-numeric"))
            errs.extend(msgs_to_errors(path.child("port"), number, port_name_errors(as_str(number))))
    elif end is not None:
        errs.append(invalid(path.child("endPort"), end, "may not be specified when `port` is not specified"))
    return errs


def _network_policy_peer(peer: Obj, path: Path) -> list[FieldError]:
    """``ValidateNetworkPolicyPeer``."""
    errs: list[FieldError] = []
    count = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            count += 1
            sel_errs, _ = label_selector(peer[key], path.child(key))
            errs.extend(sel_errs)
    block = peer.get("ipBlock")
    if block is not None:
        count += 1
        bpath = path.child("ipBlock")
        cidr = as_str(as_map(block).get("cidr"))
        if not cidr:
            errs.append(required(bpath.child("cidr"), ""))
        else:
            errs.extend(cidr_errors(cidr, bpath.child("cidr")))
            network = parse_cidr(cidr)
            for i, except_cidr in enumerate(as_list(as_map(block).get("except"))):
                epath = bpath.child("except").index(i)
                except_errs = cidr_errors(except_cidr, epath)
                errs.extend(except_errs)
                inner = parse_cidr(except_cidr)
                if network is not None and inner is not None and not except_errs:
                    if (
                        inner.version != network.version
                        or not inner.subnet_of(network)
                        or inner.prefixlen <= network.prefixlen
                    ):  # type: ignore[arg-type]
                        errs.append(invalid(epath, except_cidr, "must be a strict subset of `cidr`"))
    if count == 0:
        errs.append(required(path, "must specify a peer"))
    elif count > 1 and block is not None:
        errs.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


class NetworkPolicyStrategy(Strategy):
    """``NetworkPolicy``: policyTypes default from the rules present."""

    kind = "NetworkPolicy"
    tracks_generation = True

    def set_defaults(self, obj: Obj) -> None:
        spec = sub(obj, "spec")
        if spec is None:
            return
        for direction in ("ingress", "egress"):
            for _, rule in maps(spec.get(direction)):
                for _, port in maps(rule.get("ports")):
                    if port.get("protocol") is None:
                        port["protocol"] = "TCP"
        if not as_list(spec.get("policyTypes")):
            spec["policyTypes"] = ["Ingress"]
            if as_list(spec.get("egress")):
                spec["policyTypes"].append("Egress")

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs, _ = label_selector(spec.get("podSelector", {}), path.child("podSelector"))
        for direction, peers in (("ingress", "from"), ("egress", "to")):
            for i, rule in maps(spec.get(direction)):
                rpath = path.child(direction).index(i)
                for j, port in maps(rule.get("ports")):
                    errs.extend(_network_policy_port(port, rpath.child("ports").index(j)))
                for j, peer in maps(rule.get(peers)):
                    errs.extend(_network_policy_peer(peer, rpath.child(peers).index(j)))
        types = as_list(spec.get("policyTypes"))
        if len(types) > 2:
            errs.append(
                go_invalid(
                    path.child("policyTypes"),
                    go_str_list(types, "[]networking.PolicyType"),
                    "may not specify more than two policyTypes",
                )
            )
            return errs
        for i, ptype in enumerate(types):
            if ptype not in ("Ingress", "Egress"):
                errs.append(not_supported(path.child("policyTypes").index(i), ptype, ("Ingress", "Egress")))
        return errs
