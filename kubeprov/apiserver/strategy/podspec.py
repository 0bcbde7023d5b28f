"""Pod specs: ``SetDefaults_PodSpec``/``SetDefaults_Pod`` and ``ValidatePodSpec``.

Used by Pods and, through pod templates, by every workload controller. Pod-only behaviour
(requests defaulted from limits, ``enableServiceLinks``, hostNetwork host ports) is switched on
with ``is_pod``.
"""

from __future__ import annotations

from typing import Any

from kubeprov.api.fielderrors import (
    FieldError,
    Path,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    type_invalid,
)
from kubeprov.api.names import name_is_dns_subdomain
from kubeprov.apiserver.strategy.containers import (
    containers_errors,
    default_container,
    default_requests_from_limits,
    ephemeral_containers_errors,
    id_range,
    init_containers_errors,
    resource_requirements,
    seccomp_profile,
)
from kubeprov.apiserver.strategy.util import (
    MAX_INT32,
    Obj,
    as_list,
    as_map,
    as_str,
    canonicalize_resources,
    check_int,
    check_list,
    check_str,
    default,
    default_str,
    dns_label,
    dns_subdomain,
    enum,
    inclusive_range_error,
    ip_errors,
    is_int,
    label_selector,
    label_value,
    labels_map,
    maps,
    msgs_to_errors,
    qualified_name,
)
from kubeprov.apiserver.strategy.volumes import default_volume, volumes_errors

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
PREEMPTION_POLICIES = ("PreemptLowerPriority", "Never")
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


# --------------------------------------------------------------------------- defaults


def default_pod_spec(spec: Any, *, is_pod: bool) -> None:
    """Defaults of a pod spec; ``is_pod`` adds what only real Pods get."""
    if not isinstance(spec, dict):
        return
    default_str(spec, "dnsPolicy", "ClusterFirst")
    default_str(spec, "restartPolicy", "Always")
    default(spec, "securityContext", {})
    default(spec, "terminationGracePeriodSeconds", 30)
    default_str(spec, "schedulerName", "default-scheduler")
    for _, volume in maps(spec.get("volumes")):
        default_volume(volume)
    for key in CONTAINER_LISTS:
        for _, container in maps(spec.get(key)):
            default_container(container)
    if isinstance(spec.get("overhead"), dict):
        canonicalize_resources(spec, "overhead")
    if not is_pod:
        return
    for key in ("containers", "initContainers"):
        for _, container in maps(spec.get(key)):
            default_requests_from_limits(container)
    default(spec, "enableServiceLinks", True)
    if spec.get("hostNetwork") is True:
        for key in ("containers", "initContainers"):
            for _, container in maps(spec.get(key)):
                for _, port in maps(container.get("ports")):
                    if port.get("hostPort") in (None, 0):
                        port["hostPort"] = port.get("containerPort")


# --------------------------------------------------------------------------- validation


def tolerations_errors(tolerations: Any, path: Path) -> list[FieldError]:
    """``ValidateTolerations``."""
    errs: list[FieldError] = []
    if tolerations is not None and not isinstance(tolerations, list):
        return [type_invalid(path, tolerations, "must be an array")]
    for i, tol in enumerate(tolerations or []):
        ipath = path.index(i)
        if not isinstance(tol, dict):
            errs.append(type_invalid(ipath, tol, "must be an object"))
            continue
        key = as_str(tol.get("key"))
        operator = as_str(tol.get("operator"))
        value = as_str(tol.get("value"))
        effect = as_str(tol.get("effect"))
        if key:
            errs.extend(qualified_name(key, ipath.child("key")))
        if not key and operator != "Exists":
            errs.append(
                invalid(
                    ipath.child("operator"),
                    operator,
                    'operator must be Exists when `key` is empty, which means "match all values and all keys"',
                )
            )
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(
                invalid(ipath.child("effect"), effect, "effect must be 'NoExecute' when `tolerationSeconds` is set")
            )
        if operator in ("Equal", ""):
            from kubeprov.api.names import is_valid_label_value

            msgs = is_valid_label_value(value)
            if msgs:
                errs.append(invalid(ipath.child("operator"), value, ";".join(msgs)))
        elif operator == "Exists":
            if value:
                errs.append(invalid(ipath.child("operator"), value, "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(not_supported(ipath.child("operator"), operator, ("Equal", "Exists")))
        if effect and effect not in TAINT_EFFECTS:
            errs.append(not_supported(ipath.child("effect"), effect, TAINT_EFFECTS))
    return errs


def node_selector_requirement(req: Obj, path: Path, *, allow_invalid_values: bool = False) -> list[FieldError]:
    """``ValidateNodeSelectorRequirement``."""
    errs: list[FieldError] = []
    operator = req.get("operator")
    values = as_list(req.get("values"))
    if operator in ("In", "NotIn"):
        if not values:
            errs.append(required(path.child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errs.append(
                forbidden(path.child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
            )
    elif operator in ("Gt", "Lt"):
        if len(values) != 1:
            errs.append(
                required(path.child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'")
            )
    else:
        errs.append(
            invalid(path.child("operator"), operator if operator is not None else "", "not a valid selector operator")
        )
    errs.extend(qualified_name(as_str(req.get("key")), path.child("key")))
    if not allow_invalid_values:
        for i, value in enumerate(values):
            errs.extend(label_value(as_str(value), path.child("values").index(i)))
    return errs


def node_selector_term(term: Obj, path: Path, *, allow_invalid_values: bool = False) -> list[FieldError]:
    """``ValidateNodeSelectorTerm``."""
    errs: list[FieldError] = []
    for j, req in maps(term.get("matchExpressions")):
        errs.extend(
            node_selector_requirement(
                req, path.child("matchExpressions").index(j), allow_invalid_values=allow_invalid_values
            )
        )
    for j, req in maps(term.get("matchFields")):
        fpath = path.child("matchFields").index(j)
        if req.get("operator") in ("In", "NotIn"):
            if len(as_list(req.get("values"))) != 1:
                errs.append(
                    required(
                        fpath.child("values"),
                        "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                    )
                )
        else:
            errs.append(invalid(fpath.child("operator"), req.get("operator", ""), "not a valid selector operator"))
        if req.get("key") != "metadata.name":
            errs.append(invalid(fpath.child("key"), req.get("key", ""), "not a valid field selector key"))
        else:
            for k, v in enumerate(as_list(req.get("values"))):
                errs.extend(msgs_to_errors(fpath.child("values").index(k), v, name_is_dns_subdomain(as_str(v), False)))
    return errs


def node_selector(selector: Any, path: Path) -> list[FieldError]:
    """``ValidateNodeSelector``: at least one term."""
    terms = as_list(as_map(selector).get("nodeSelectorTerms"))
    if not terms:
        return [required(path.child("nodeSelectorTerms"), "must have at least one node selector term")]
    errs: list[FieldError] = []
    for i, term in maps(terms):
        errs.extend(node_selector_term(term, path.child("nodeSelectorTerms").index(i)))
    return errs


def _weight(obj: Obj, path: Path, errs: list[FieldError]) -> None:
    weight = obj.get("weight")
    if not is_int(weight) or not 1 <= weight <= 100:
        errs.append(invalid(path.child("weight"), weight if weight is not None else 0, "must be in the range 1-100"))


def _pod_affinity_term(term: Obj, path: Path) -> list[FieldError]:
    errs, _ = label_selector(term.get("labelSelector"), path.child("labelSelector"))
    for name in as_list(term.get("namespaces")):
        errs.extend(dns_label(as_str(name), path.child("namespace")))
    ns_errs, _ = label_selector(term.get("namespaceSelector"), path.child("namespaceSelector"))
    errs.extend(ns_errs)
    topology = as_str(term.get("topologyKey"))
    if not topology:
        errs.append(required(path.child("topologyKey"), "can not be empty"))
    errs.extend(qualified_name(topology, path.child("topologyKey")))
    return errs


def affinity_errors(affinity: Any, path: Path) -> list[FieldError]:
    """``validateAffinity``: node affinity terms, pod (anti-)affinity terms and weights."""
    if affinity is None:
        return []
    if not isinstance(affinity, dict):
        return [type_invalid(path, affinity, "must be an object")]
    errs: list[FieldError] = []
    node = affinity.get("nodeAffinity")
    if isinstance(node, dict):
        npath = path.child("nodeAffinity")
        req = node.get("requiredDuringSchedulingIgnoredDuringExecution")
        if req is not None:
            errs.extend(node_selector(req, npath.child("requiredDuringSchedulingIgnoredDuringExecution")))
        for i, pref in maps(node.get("preferredDuringSchedulingIgnoredDuringExecution")):
            ppath = npath.child("preferredDuringSchedulingIgnoredDuringExecution").index(i)
            _weight(pref, ppath, errs)
            errs.extend(
                node_selector_term(as_map(pref.get("preference")), ppath.child("preference"), allow_invalid_values=True)
            )
    for kind in ("podAffinity", "podAntiAffinity"):
        pod = affinity.get(kind)
        if not isinstance(pod, dict):
            continue
        ppath = path.child(kind)
        for i, term in maps(pod.get("requiredDuringSchedulingIgnoredDuringExecution")):
            errs.extend(
                _pod_affinity_term(term, ppath.child("requiredDuringSchedulingIgnoredDuringExecution").index(i))
            )
        for i, weighted in maps(pod.get("preferredDuringSchedulingIgnoredDuringExecution")):
            wpath = ppath.child("preferredDuringSchedulingIgnoredDuringExecution").index(i)
            _weight(weighted, wpath, errs)
            errs.extend(_pod_affinity_term(as_map(weighted.get("podAffinityTerm")), wpath.child("podAffinityTerm")))
    return errs


def _dns_config(spec: Obj, path: Path) -> list[FieldError]:
    """``validatePodDNSConfig``."""
    config = spec.get("dnsConfig")
    if spec.get("dnsPolicy") == "None":
        if not isinstance(config, dict):
            return [required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not as_list(config.get("nameservers")):
            return [
                required(path.child("nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None")
            ]
    if not isinstance(config, dict):
        return []
    errs: list[FieldError] = []
    nameservers = as_list(config.get("nameservers"))
    if len(nameservers) > 3:
        errs.append(invalid(path.child("nameservers"), nameservers, "must not have more than 3 nameservers"))
    for i, ns in enumerate(nameservers):
        errs.extend(ip_errors(ns, path.child("nameservers").index(i)))
    searches = as_list(config.get("searches"))
    if len(searches) > 32:
        errs.append(invalid(path.child("searches"), searches, "must not have more than 32 search paths"))
    if len(" ".join(as_str(s) for s in searches)) > 2048:
        errs.append(
            invalid(
                path.child("searches"),
                searches,
                "must not have more than 2048 characters (including spaces) in the search list",
            )
        )
    for i, search in enumerate(searches):
        search = as_str(search)
        if search != ".":
            errs.extend(dns_subdomain(search.removesuffix("."), path.child("searches").index(i)))
    for i, option in enumerate(as_list(config.get("options"))):
        if not as_str(as_map(option).get("name")):
            errs.append(required(path.child("options").index(i), "must not be empty"))
    return errs


def _pod_security_context(sc: Any, path: Path) -> list[FieldError]:
    """The pod-level security context: ID ranges, fsGroupChangePolicy, seccomp, sysctls."""
    if sc is None:
        return []
    if not isinstance(sc, dict):
        return [type_invalid(path, sc, "must be an object")]
    errs: list[FieldError] = []
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        id_range(sc, key, path.child(key), errs)
    for i, group in enumerate(check_list(sc, "supplementalGroups", path.child("supplementalGroups"), errs)):
        id_range({"g": group}, "g", path.child("supplementalGroups").index(i), errs)
    policy = sc.get("fsGroupChangePolicy")
    if policy is not None and policy not in ("Always", "OnRootMismatch"):
        errs.append(not_supported(path.child("fsGroupChangePolicy"), policy, ("Always", "OnRootMismatch")))
    errs.extend(seccomp_profile(sc.get("seccompProfile"), path.child("seccompProfile")))
    for i, sysctl in maps(sc.get("sysctls")):
        if not as_str(sysctl.get("name")):
            errs.append(required(path.child("sysctls").index(i).child("name"), ""))
    return errs


def _topology_spread(constraints: Any, path: Path) -> list[FieldError]:
    """``validateTopologySpreadConstraints``."""
    errs: list[FieldError] = []
    items = list(maps(constraints))
    for n, (i, c) in enumerate(items):
        cpath = path.index(i)
        skew = c.get("maxSkew")
        if not is_int(skew) or skew <= 0:
            errs.append(invalid(cpath.child("maxSkew"), skew if skew is not None else 0, "must be greater than zero"))
        if not as_str(c.get("topologyKey")):
            errs.append(required(cpath.child("topologyKey"), "can not be empty"))
        action = c.get("whenUnsatisfiable")
        if action not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.append(
                not_supported(
                    cpath.child("whenUnsatisfiable"),
                    action if action is not None else "",
                    ("DoNotSchedule", "ScheduleAnyway"),
                )
            )
        for _, other in items[n + 1 :]:
            if other.get("topologyKey") == c.get("topologyKey") and other.get("whenUnsatisfiable") == action:
                errs.append(
                    duplicate(
                        cpath.child("{topologyKey, whenUnsatisfiable}"),
                        f"{{{as_str(c.get('topologyKey'))}, {as_str(action)}}}",
                    )
                )
                break
        min_domains = c.get("minDomains")
        if min_domains is not None:
            if not is_int(min_domains) or min_domains <= 0:
                errs.append(invalid(cpath.child("minDomains"), min_domains, "must be greater than zero"))
            if action != "DoNotSchedule":
                errs.append(
                    invalid(
                        cpath.child("minDomains"),
                        min_domains,
                        f"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {as_str(action)}",
                    )
                )
        sel_errs, _ = label_selector(c.get("labelSelector"), cpath.child("labelSelector"))
        errs.extend(sel_errs)
    return errs


def _host_network_ports(spec: Obj, path: Path, is_pod: bool) -> list[FieldError]:
    """``validatePodHostNetworkDeps``: host ports equal container ports on the host network."""
    if spec.get("hostNetwork") is not True:
        return []
    errs: list[FieldError] = []
    for i, c in maps(spec.get("containers")):
        for j, port in maps(c.get("ports")):
            host_port, container_port = port.get("hostPort", 0), port.get("containerPort", 0)
            if (is_pod or host_port not in (0, None)) and host_port != container_port:
                errs.append(
                    invalid(
                        path.child("containers").index(i).child("ports").index(j).child("hostPort"),
                        host_port,
                        "must match `containerPort` when `hostNetwork` is true",
                    )
                )
    return errs


def pod_spec_errors(spec: Any, path: Path, *, is_pod: bool, pod_name: str = "") -> list[FieldError]:
    """``ValidatePodSpec``."""
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        return [type_invalid(path, spec, "must be an object")]
    errs: list[FieldError] = []
    grace = check_int(spec, "terminationGracePeriodSeconds", path.child("terminationGracePeriodSeconds"), errs)
    if spec.get("terminationGracePeriodSeconds") is None:
        errs.append(required(path.child("terminationGracePeriodSeconds"), ""))
    host_users = as_map(spec.get("securityContext")).get("hostUsers") is not False
    volumes, verrs = volumes_errors(spec.get("volumes"), path.child("volumes"), pod_name)
    errs.extend(verrs)
    errs.extend(containers_errors(spec.get("containers"), path.child("containers"), volumes, grace, host_users))
    errs.extend(
        init_containers_errors(
            spec.get("initContainers"), spec.get("containers"), path.child("initContainers"), volumes, grace, host_users
        )
    )
    errs.extend(
        ephemeral_containers_errors(
            spec.get("ephemeralContainers"), spec, path.child("ephemeralContainers"), volumes, host_users
        )
    )
    errs.extend(_host_network_ports(spec, path, is_pod))
    enum(spec.get("restartPolicy"), path.child("restartPolicy"), RESTART_POLICIES, errs)
    enum(spec.get("dnsPolicy"), path.child("dnsPolicy"), DNS_POLICIES, errs)
    errs.extend(labels_map(spec.get("nodeSelector"), path.child("nodeSelector")))
    errs.extend(_pod_security_context(spec.get("securityContext"), path.child("securityContext")))
    for i, secret in enumerate(check_list(spec, "imagePullSecrets", path.child("imagePullSecrets"), errs)):
        if not isinstance(secret, dict) or set(secret) - {"name"}:
            errs.append(invalid(path.child("imagePullSecrets").index(i), secret, "only name may be set"))
    errs.extend(affinity_errors(spec.get("affinity"), path.child("affinity")))
    errs.extend(_dns_config(spec, path.child("dnsConfig")))
    for i, gate in maps(spec.get("readinessGates")):
        errs.extend(
            qualified_name(
                as_str(gate.get("conditionType")), path.child("readinessGates").index(i).child("conditionType")
            )
        )
    seen_gates: set[str] = set()
    for i, gate in maps(spec.get("schedulingGates")):
        name = as_str(gate.get("name"))
        errs.extend(qualified_name(name, path.child("schedulingGates").index(i)))
        if name in seen_gates:
            errs.append(duplicate(path.child("schedulingGates").index(i), name))
        seen_gates.add(name)
    errs.extend(_topology_spread(spec.get("topologySpreadConstraints"), path.child("topologySpreadConstraints")))
    for key in ("serviceAccountName", "nodeName", "priorityClassName"):
        value = check_str(spec, key, path.child(key), errs)
        if value:
            errs.extend(msgs_to_errors(path.child(key), value, name_is_dns_subdomain(value, False)))
    deadline = check_int(spec, "activeDeadlineSeconds", path.child("activeDeadlineSeconds"), errs)
    if deadline is not None and not 1 <= deadline <= MAX_INT32:
        errs.append(invalid(path.child("activeDeadlineSeconds"), deadline, inclusive_range_error(1, MAX_INT32)))
    for key in ("hostname", "subdomain"):
        value = check_str(spec, key, path.child(key), errs)
        if value:
            errs.extend(dns_label(value, path.child(key)))
    errs.extend(tolerations_errors(spec.get("tolerations"), path.child("tolerations")))
    for i, alias in maps(spec.get("hostAliases")):
        apath = path.child("hostAliases").index(i)
        errs.extend(ip_errors(alias.get("ip", ""), apath.child("ip")))
        for j, host in enumerate(as_list(alias.get("hostnames"))):
            errs.extend(dns_subdomain(as_str(host), apath.child("hostnames").index(j)))
    runtime_class = spec.get("runtimeClassName")
    if runtime_class is not None:
        errs.extend(
            msgs_to_errors(
                path.child("runtimeClassName"), runtime_class, name_is_dns_subdomain(as_str(runtime_class), False)
            )
        )
    if spec.get("preemptionPolicy") is not None:
        enum(spec.get("preemptionPolicy"), path.child("preemptionPolicy"), PREEMPTION_POLICIES, errs)
    if spec.get("overhead") is not None:
        errs.extend(resource_requirements({"limits": spec.get("overhead")}, path.child("overhead")))
    os_spec = spec.get("os")
    if isinstance(os_spec, dict):
        name = as_str(os_spec.get("name"))
        if not name:
            errs.append(required(path.child("os", "name"), "cannot be empty"))
        elif name not in ("linux", "windows"):
            errs.append(not_supported(path.child("os"), name, ("linux", "windows")))
    return errs
