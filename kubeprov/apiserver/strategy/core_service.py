"""Services and Endpoints.

ClusterIP and NodePort allocation happen elsewhere (after defaulting, before validation); this
module defaults the policy fields, keeps ``clusterIP``/``clusterIPs`` in sync, carries allocated
values over on update (``kubectl apply`` omits them) and validates everything else.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from kubeprov.api.fielderrors import (
    ErrorType,
    FieldError,
    Path,
    duplicate,
    forbidden,
    go_json,
    go_quote,
    invalid,
    not_supported,
    required,
    type_invalid,
)
from kubeprov.api.names import name_is_dns1035_label
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_list,
    as_map,
    as_str,
    check_list,
    check_str,
    cidr_errors,
    default,
    default_str,
    dns_label,
    dns_subdomain,
    enum,
    go_invalid,
    go_str_list,
    go_value_error,
    ip_errors,
    is_int,
    labels_map,
    maps,
    msgs_to_errors,
    parse_ip,
    port_num_errors,
    port_num_or_name,
    qualified_name,
    sub,
)

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
PROTOCOLS = ("SCTP", "TCP", "UDP")
IP_FAMILIES = ("IPv4", "IPv6")
IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
MAX_CLIENT_IP_AFFINITY_SECONDS = 86400
DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800


def externally_accessible(spec: Obj) -> bool:
    """NodePort and LoadBalancer services, and ClusterIP services with external IPs."""
    stype = spec.get("type")
    return stype in ("LoadBalancer", "NodePort") or (stype == "ClusterIP" and bool(as_list(spec.get("externalIPs"))))


def is_headless(spec: Obj) -> bool:
    ips = as_list(spec.get("clusterIPs"))
    return len(ips) == 1 and ips[0] == "None"


def non_special_ip_errors(value: str, path: Path) -> list[FieldError]:
    """``ValidateNonSpecialIP``: no unspecified, loopback or link-local addresses."""
    ip = parse_ip(value)
    if ip is None:
        return [invalid(path, value, "must be a valid IP address")]
    errs: list[FieldError] = []
    if ip.is_unspecified:
        errs.append(invalid(path, value, f"may not be unspecified ({value})"))
    if ip.is_loopback:
        errs.append(invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    if ip.is_link_local:
        errs.append(invalid(path, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    link_local_multicast = (
        ip in ipaddress.ip_network("224.0.0.0/24")
        if ip.version == 4
        else ip.packed[0] == 0xFF and ip.packed[1] & 0x0F == 0x02
    )
    if link_local_multicast:
        errs.append(invalid(path, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
    return errs


def go_service_port_key(port: Obj) -> str:
    """``%#v`` of the (protocol, port) ``core.ServicePort`` key Kubernetes reports duplicates with."""
    number = port.get("port")
    return (
        f'core.ServicePort{{Name:"", Protocol:{go_quote(as_str(port.get("protocol")))}, AppProtocol:(*string)(nil), '
        f'Port:{number if is_int(number) else 0}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, '
        "NodePort:0}"
    )


def _port_key(port: Obj) -> tuple[Any, Any, Any]:
    return (port.get("name") or "", port.get("port"), port.get("protocol") or "TCP")


class ServiceStrategy(Strategy):
    """``Service``."""

    kind = "Service"
    has_status = True
    initial_status = {"loadBalancer": {}}
    name_validator = staticmethod(name_is_dns1035_label)

    # ------------------------------------------------------------------ defaults

    def set_defaults(self, obj: Obj) -> None:
        spec = sub(obj, "spec")
        if spec is None:
            return
        default_str(spec, "sessionAffinity", "None")
        if spec.get("sessionAffinity") == "None":
            spec.pop("sessionAffinityConfig", None)
        if spec.get("sessionAffinity") == "ClientIP":
            timeout = as_map(as_map(spec.get("sessionAffinityConfig")).get("clientIP")).get("timeoutSeconds")
            if timeout is None:
                spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_AFFINITY_SECONDS}}
        default_str(spec, "type", "ClusterIP")
        for _, port in maps(spec.get("ports")):
            default_str(port, "protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
        if externally_accessible(spec):
            default_str(spec, "externalTrafficPolicy", "Cluster")
        if spec.get("type") in ("ClusterIP", "NodePort", "LoadBalancer"):
            default(spec, "internalTrafficPolicy", "Cluster")
        if spec.get("type") == "LoadBalancer":
            default(spec, "allocateLoadBalancerNodePorts", True)
            for _, ingress in maps(as_map(as_map(obj.get("status")).get("loadBalancer")).get("ingress")):
                if ingress.get("ip") and ingress.get("ipMode") is None:
                    ingress["ipMode"] = "VIP"
        cluster_ip, cluster_ips = spec.get("clusterIP"), spec.get("clusterIPs")
        if isinstance(cluster_ip, str) and cluster_ip and not cluster_ips:
            spec["clusterIPs"] = [cluster_ip]
        if spec.get("type") != "ExternalName":
            self._default_ip_families(spec)

    @staticmethod
    def _default_ip_families(spec: Obj) -> None:
        """The allocator's ``initIPFamilyFields`` for this single-stack IPv4 cluster."""
        headless_selectorless = spec.get("clusterIP") == "None" and not as_map(spec.get("selector"))
        default(spec, "ipFamilyPolicy", "RequireDualStack" if headless_selectorless else "SingleStack")
        families = spec.get("ipFamilies")
        if families is None:
            families = spec["ipFamilies"] = []
        if not isinstance(families, list):
            return
        for i, ip in enumerate(as_list(spec.get("clusterIPs"))):
            parsed = parse_ip(ip) if ip != "None" else None
            if parsed is None:
                break
            if i >= len(families):
                families.append("IPv6" if parsed.version == 6 else "IPv4")
        if not families:
            families.append("IPv4")
        if headless_selectorless and len(families) < 2 and spec.get("ipFamilyPolicy") != "SingleStack":
            families.append("IPv6" if families[0] == "IPv4" else "IPv4")

    def on_update(self, new: Obj, old: Obj) -> None:
        """Carry allocated values over when the update omits them (``patchAllocatedValues``)."""
        spec, old_spec = as_map(new.get("spec")), as_map(old.get("spec"))
        if not spec or not old_spec:
            return
        if old_spec.get("type") != "ExternalName" and spec.get("type") != "ExternalName":
            if not spec.get("clusterIP") and old_spec.get("clusterIP"):
                spec["clusterIP"] = old_spec["clusterIP"]
                if spec.get("clusterIPs") in (None, [], [spec["clusterIP"]]):
                    spec["clusterIPs"] = copy.deepcopy(old_spec.get("clusterIPs"))
            if (
                not spec.get("clusterIPs")
                and old_spec.get("clusterIPs")
                and spec.get("clusterIP") == old_spec.get("clusterIP")
            ):
                spec["clusterIPs"] = copy.deepcopy(old_spec["clusterIPs"])
            for key in ("ipFamilies", "ipFamilyPolicy"):
                if spec.get(key) is None and old_spec.get(key) is not None:
                    spec[key] = copy.deepcopy(old_spec[key])
        if spec.get("type") in ("NodePort", "LoadBalancer") and old_spec.get("type") in ("NodePort", "LoadBalancer"):
            old_ports = {_port_key(p): p.get("nodePort") for _, p in maps(old_spec.get("ports"))}
            old_by_port = {
                (p.get("port"), p.get("protocol") or "TCP"): p.get("nodePort") for _, p in maps(old_spec.get("ports"))
            }
            for _, port in maps(spec.get("ports")):
                if port.get("nodePort") in (None, 0):
                    node_port = old_ports.get(_port_key(port)) or old_by_port.get(
                        (port.get("port"), port.get("protocol"))
                    )
                    if node_port:
                        port["nodePort"] = node_port
            if spec.get("healthCheckNodePort") in (None, 0) and old_spec.get("healthCheckNodePort"):
                if spec.get("externalTrafficPolicy") == "Local" and spec.get("type") == "LoadBalancer":
                    spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]
        # dropTypeDependentFields: a service that no longer needs its health check port gives it back
        needs_health = spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"
        if not needs_health and spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort"):
            spec.pop("healthCheckNodePort", None)

    # ------------------------------------------------------------------ validation

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec_value = obj.get("spec")
        if spec_value is not None and not isinstance(spec_value, dict):
            return [type_invalid(Path("spec"), spec_value, "must be an object")]
        spec = as_map(spec_value)
        path = Path("spec")
        errs: list[FieldError] = []
        stype = spec.get("type")
        headless = is_headless(spec)
        ports = check_list(spec, "ports", path.child("ports"), errs)
        if not ports and not headless and stype != "ExternalName":
            errs.append(required(path.child("ports"), ""))
        cluster_ips = as_list(spec.get("clusterIPs"))
        if stype in ("LoadBalancer", "NodePort") and headless:
            errs.append(
                invalid(
                    path.child("clusterIPs").index(0), cluster_ips[0], f"may not be set to 'None' for {stype} services"
                )
            )
        if stype == "ExternalName":
            if cluster_ips:
                errs.append(forbidden(path.child("clusterIPs"), "may not be set for ExternalName services"))
            if as_list(spec.get("ipFamilies")):
                errs.append(forbidden(path.child("ipFamilies"), "may not be set for ExternalName services"))
            if spec.get("ipFamilyPolicy") is not None:
                errs.append(forbidden(path.child("ipFamilyPolicy"), "may not be set for ExternalName services"))
            cname = as_str(spec.get("externalName")).removesuffix(".")
            if cname:
                errs.extend(dns_subdomain(cname, path.child("externalName")))
            else:
                errs.append(required(path.child("externalName"), ""))
        names: set[str] = set()
        for i, port in enumerate(ports):
            ppath = path.child("ports").index(i)
            if not isinstance(port, dict):
                errs.append(type_invalid(ppath, port, "must be an object"))
                continue
            errs.extend(self._port_errors(port, len(ports) > 1, names, ppath))
        if spec.get("selector") is not None:
            errs.extend(labels_map(spec.get("selector"), path.child("selector")))
        affinity = spec.get("sessionAffinity")
        enum(affinity, path.child("sessionAffinity"), ("ClientIP", "None"), errs)
        if affinity == "ClientIP":
            errs.extend(self._affinity_config(spec.get("sessionAffinityConfig"), path.child("sessionAffinityConfig")))
        elif affinity == "None" and spec.get("sessionAffinityConfig") is not None:
            errs.append(forbidden(path.child("sessionAffinityConfig"), "must not be set when session affinity is None"))
        errs.extend(self._cluster_ip_errors(spec, path))
        for i, ip in enumerate(as_list(spec.get("externalIPs"))):
            ipath = path.child("externalIPs").index(i)
            ip_errs = ip_errors(ip, ipath)
            errs.extend(ip_errs or non_special_ip_errors(ip, ipath))
        enum(stype, path.child("type"), SERVICE_TYPES, errs)
        seen_node_ports: set[str] = set()
        seen_ports: set[str] = set()
        for i, port in maps(ports):
            ppath = path.child("ports").index(i)
            node_port = port.get("nodePort")
            if stype == "ClusterIP" and node_port not in (None, 0):
                errs.append(forbidden(ppath.child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
            if node_port not in (None, 0):
                key = go_json([port.get("protocol"), node_port])
                if key in seen_node_ports:
                    errs.append(duplicate(ppath.child("nodePort"), node_port))
                seen_node_ports.add(key)
            key = go_json([port.get("protocol"), port.get("port")])
            if key in seen_ports:
                errs.append(go_value_error(ErrorType.DUPLICATE, ppath, go_service_port_key(port), ""))
            seen_ports.add(key)
        ranges = as_list(spec.get("loadBalancerSourceRanges"))
        if ranges:
            rpath = path.child("LoadBalancerSourceRanges")
            if stype != "LoadBalancer":
                errs.append(forbidden(rpath, "may only be used when `type` is 'LoadBalancer'"))
            for i, value in enumerate(ranges):
                errs.extend(cidr_errors(as_str(value).strip(), rpath.index(i)))
        if spec.get("allocateLoadBalancerNodePorts") is not None and stype != "LoadBalancer":
            errs.append(
                forbidden(path.child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'")
            )
        if stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
            errs.append(required(Path("allocateLoadBalancerNodePorts"), ""))
        errs.extend(self._traffic_policy_errors(spec, path))
        return errs

    def _port_errors(self, port: Obj, require_name: bool, names: set[str], path: Path) -> list[FieldError]:
        """``validateServicePort``."""
        errs: list[FieldError] = []
        name = check_str(port, "name", path.child("name"), errs)
        if require_name and not name:
            errs.append(required(path.child("name"), ""))
        elif name:
            errs.extend(dns_label(name, path.child("name")))
            if name in names:
                errs.append(duplicate(path.child("name"), name))
            names.add(name)
        number = port.get("port", 0)
        if not is_int(number):
            errs.append(type_invalid(path.child("port"), number, "must be an integer"))
        else:
            errs.extend(msgs_to_errors(path.child("port"), number, port_num_errors(number)))
        enum(port.get("protocol"), path.child("protocol"), PROTOCOLS, errs)
        errs.extend(port_num_or_name(port.get("targetPort", 0), path.child("targetPort")))
        app_protocol = port.get("appProtocol")
        if app_protocol is not None:
            errs.extend(qualified_name(as_str(app_protocol), path.child("appProtocol")))
        return errs

    @staticmethod
    def _affinity_config(config: Any, path: Path) -> list[FieldError]:
        detail = "when session affinity type is ClientIP"
        if not isinstance(config, dict):
            return [required(path, detail)]
        client_ip = config.get("clientIP")
        if not isinstance(client_ip, dict):
            return [required(path.child("clientIP"), detail)]
        timeout = client_ip.get("timeoutSeconds")
        tpath = path.child("clientIP", "timeoutSeconds")
        if timeout is None:
            return [required(tpath, detail)]
        if not is_int(timeout) or not 0 < timeout <= MAX_CLIENT_IP_AFFINITY_SECONDS:
            return [invalid(tpath, timeout, f"must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}")]
        return []

    @staticmethod
    def _cluster_ip_errors(spec: Obj, path: Path) -> list[FieldError]:
        """``ValidateServiceClusterIPsRelatedFields``."""
        if spec.get("type") == "ExternalName":
            return []
        errs: list[FieldError] = []
        ips_path = path.child("clusterIPs")
        cluster_ip = as_str(spec.get("clusterIP"))
        cluster_ips = as_list(spec.get("clusterIPs"))
        if cluster_ip:
            if not cluster_ips:
                errs.append(required(ips_path, ""))
            elif cluster_ips[0] != cluster_ip:
                errs.append(go_invalid(ips_path, go_str_list(cluster_ips), "first value must match `clusterIP`"))
        elif cluster_ips:
            errs.append(
                go_invalid(ips_path, go_str_list(cluster_ips), "must be empty when `clusterIP` is not specified")
            )
        families = as_list(spec.get("ipFamilies"))
        seen: set[Any] = set()
        for i, family in enumerate(families):
            if family not in IP_FAMILIES:
                errs.append(not_supported(path.child("ipFamilies").index(i), family, IP_FAMILIES))
            if isinstance(family, (str, int)) and family in seen:
                errs.append(duplicate(path.child("ipFamilies").index(i), family))
            if isinstance(family, (str, int)):
                seen.add(family)
        policy = spec.get("ipFamilyPolicy")
        if policy is not None and policy not in IP_FAMILY_POLICIES:
            errs.append(not_supported(path.child("ipFamilyPolicy"), policy, IP_FAMILY_POLICIES))
        bad = False
        for i, ip in enumerate(cluster_ips):
            if i == 0 and ip == "None":
                if len(cluster_ips) > 1:
                    bad = True
                    errs.append(
                        go_invalid(ips_path, go_str_list(cluster_ips), "'None' must be the first and only value")
                    )
                continue
            ip_errs = ip_errors(ip, ips_path.index(i))
            bad = bad or bool(ip_errs)
            errs.extend(ip_errs)
        if len(cluster_ips) > 2:
            errs.append(go_invalid(ips_path, go_str_list(cluster_ips), "may only hold up to 2 values"))
        if bad:
            return errs
        if len(cluster_ips) > 1:
            versions = [parse_ip(ip).version for ip in cluster_ips[:2]]  # type: ignore[union-attr]
            if versions[0] == versions[1]:
                errs.append(
                    go_invalid(ips_path, go_str_list(cluster_ips), "may specify no more than one IP for each IP family")
                )
        if not is_headless(spec):
            for i, (ip, family) in enumerate(zip(cluster_ips, families, strict=False)):
                parsed = parse_ip(ip)
                if parsed is None:
                    continue
                if family == "IPv4" and parsed.version == 6:
                    errs.append(
                        invalid(ips_path.index(i), ip, f"expected an IPv4 value as indicated by `ipFamilies[{i}]`")
                    )
                if family == "IPv6" and parsed.version == 4:
                    errs.append(
                        invalid(ips_path.index(i), ip, f"expected an IPv6 value as indicated by `ipFamilies[{i}]`")
                    )
        return errs

    @staticmethod
    def _traffic_policy_errors(spec: Obj, path: Path) -> list[FieldError]:
        errs: list[FieldError] = []
        external = spec.get("externalTrafficPolicy")
        if not externally_accessible(spec):
            if external not in (None, ""):
                errs.append(
                    invalid(
                        path.child("externalTrafficPolicy"),
                        external,
                        "may only be set for externally-accessible services",
                    )
                )
        else:
            enum(external, path.child("externalTrafficPolicy"), ("Cluster", "Local"), errs)
        health = spec.get("healthCheckNodePort")
        needs_health = spec.get("type") == "LoadBalancer" and external == "Local"
        if not needs_health:
            if health not in (None, 0):
                errs.append(
                    invalid(
                        path.child("healthCheckNodePort"),
                        health,
                        "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
                    )
                )
        elif is_int(health) and health != 0:
            errs.extend(msgs_to_errors(path.child("healthCheckNodePort"), health, port_num_errors(health)))
        internal = spec.get("internalTrafficPolicy")
        if internal is None:
            if spec.get("type") in ("NodePort", "LoadBalancer", "ClusterIP"):
                errs.append(required(path.child("internalTrafficPolicy"), ""))
        elif internal not in ("Cluster", "Local"):
            errs.append(not_supported(path.child("internalTrafficPolicy"), internal, ("Cluster", "Local")))
        distribution = spec.get("trafficDistribution")
        if distribution is not None and distribution != "PreferClose":
            errs.append(not_supported(path.child("trafficDistribution"), distribution, ("PreferClose",)))
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        """``validateUpgradeDowngradeClusterIPs``/``IPFamilies``: allocated IPs stay put."""
        spec, old_spec = as_map(new.get("spec")), as_map(old.get("spec"))
        if "ExternalName" in (spec.get("type"), old_spec.get("type")):
            return []
        errs: list[FieldError] = []
        ips, old_ips = as_list(spec.get("clusterIPs")), as_list(old_spec.get("clusterIPs"))
        ips_path = Path("spec", "clusterIPs")
        if not (is_headless(spec) and is_headless(old_spec)):
            if len(ips) == len(old_ips):
                for i, ip in enumerate(old_ips):
                    if ip != ips[i]:
                        errs.append(go_invalid(ips_path.index(i), go_str_list(ips), "may not change once set"))
            elif len(old_ips) > len(ips):
                if not ips:
                    errs.append(go_invalid(ips_path.index(0), go_str_list(ips), "primary clusterIP can not be unset"))
                elif ips[0] != old_ips[0]:
                    errs.append(go_invalid(ips_path.index(0), go_str_list(ips), "may not change once set"))
                if len(ips) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
                    errs.append(
                        invalid(
                            Path("spec", "ipFamilyPolicy"),
                            spec.get("ipFamilyPolicy"),
                            "must be set to 'SingleStack' when releasing the secondary clusterIP",
                        )
                    )
            elif old_ips and ips[0] != old_ips[0]:
                errs.append(go_invalid(ips_path.index(0), go_str_list(ips), "may not change once set"))
        if is_headless(spec) == is_headless(old_spec) and not is_headless(spec):
            fams, old_fams = as_list(spec.get("ipFamilies")), as_list(old_spec.get("ipFamilies"))
            fam_path = Path("spec", "ipFamilies").index(0)
            if len(fams) == len(old_fams):
                if fams != old_fams:
                    errs.append(invalid(fam_path, fams, "may not change once set"))
            elif fams and old_fams and fams[0] != old_fams[0]:
                errs.append(go_invalid(fam_path, go_str_list(ips), "may not change once set"))
        return errs

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        spec = as_map(new.get("spec"))
        path = Path("status", "loadBalancer", "ingress")
        ingresses = as_list(as_map(as_map(new.get("status")).get("loadBalancer")).get("ingress"))
        if ingresses and spec.get("type") != "LoadBalancer":
            return [forbidden(path, "may only be used when `spec.type` is 'LoadBalancer'")]
        for i, ingress in maps(ingresses):
            if as_str(ingress.get("ip")):
                errs.extend(ip_errors(ingress["ip"], path.index(i).child("ip")))
            hostname = as_str(ingress.get("hostname"))
            if hostname:
                errs.extend(dns_subdomain(hostname, path.index(i).child("hostname")))
                if parse_ip(hostname) is not None:
                    errs.append(
                        invalid(path.index(i).child("hostname"), hostname, "must be a DNS name, not an IP address")
                    )
        return errs


class EndpointsStrategy(Strategy):
    """``Endpoints``: address/port subsets, written by the endpoints controller."""

    kind = "Endpoints"

    def set_defaults(self, obj: Obj) -> None:
        for _, subset in maps(obj.get("subsets")):
            for _, port in maps(subset.get("ports")):
                default_str(port, "protocol", "TCP")

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        errs: list[FieldError] = []
        path = Path("subsets")
        for i, subset in enumerate(check_list(obj, "subsets", path, errs)):
            spath = path.index(i)
            if not isinstance(subset, dict):
                errs.append(type_invalid(spath, subset, "must be an object"))
                continue
            addresses, not_ready = as_list(subset.get("addresses")), as_list(subset.get("notReadyAddresses"))
            if not addresses and not not_ready:
                errs.append(required(spath, "must specify `addresses` or `notReadyAddresses`"))
            for key, items in (("addresses", addresses), ("notReadyAddresses", not_ready)):
                for j, address in maps(items):
                    errs.extend(self._address_errors(address, spath.child(key).index(j)))
            ports = as_list(subset.get("ports"))
            for j, port in maps(ports):
                ppath = spath.child("ports").index(j)
                name = as_str(port.get("name"))
                if len(ports) > 1 and not name:
                    errs.append(required(ppath.child("name"), ""))
                elif name:
                    errs.extend(dns_label(name, ppath.child("name")))
                number = port.get("port", 0)
                errs.extend(
                    msgs_to_errors(ppath.child("port"), number, port_num_errors(number if is_int(number) else 0))
                )
                enum(port.get("protocol"), ppath.child("protocol"), PROTOCOLS, errs)
                if port.get("appProtocol") is not None:
                    errs.extend(qualified_name(as_str(port.get("appProtocol")), ppath.child("appProtocol")))
        return errs

    @staticmethod
    def _address_errors(address: Obj, path: Path) -> list[FieldError]:
        ip = address.get("ip", "")
        errs = ip_errors(ip, path.child("ip"))
        hostname = as_str(address.get("hostname"))
        if hostname:
            errs.extend(dns_label(hostname, path.child("hostname")))
        node_name = address.get("nodeName")
        if node_name is not None:
            errs.extend(dns_subdomain(as_str(node_name), path.child("nodeName")))
        errs.extend(non_special_ip_errors(as_str(ip), path.child("ip")))
        return errs
