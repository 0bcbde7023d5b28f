"""What an object counts against a ResourceQuota: the quota evaluators of Kubernetes (pods, services,
persistent volume claims, and an object count for everything else)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubeprov.api.quantity import Quantity
from kubeprov.apiserver.admission.attributes import CREATE, UPDATE, mapping, maps, meta, sequence
from kubeprov.apiserver.admission.resources import (
    ONE,
    ResourceList,
    add_into,
    container_limits,
    container_requests,
    parse_list,
    pod_limits,
    pod_requests,
)

STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
# resources the quota system never counts
IGNORED = frozenset({
    ("", "events"), ("events.k8s.io", "events"), ("authentication.k8s.io", "tokenreviews"),
    ("authorization.k8s.io", "subjectaccessreviews"), ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "localsubjectaccessreviews"), ("authorization.k8s.io", "selfsubjectrulesreviews"),
})
# core resources whose plain name also counts objects (``configmaps: 10``)
LEGACY_COUNTS = {"configmaps": "configmaps", "secrets": "secrets", "resourcequotas": "resourcequotas",
                 "replicationcontrollers": "replicationcontrollers"}


def count_name(group: str, resource: str) -> str:
    """``count/deployments.apps``, ``count/pods``."""
    return f"count/{resource}.{group}" if group else f"count/{resource}"


def parse_count_name(name: str) -> tuple[str, str] | None:
    """(group, resource) of a ``count/`` name."""
    if not name.startswith("count/"):
        return None
    resource, _, group = name[len("count/"):].partition(".")
    return group, resource


class Evaluator:
    """Object-count evaluator: ``count/<resource>[.<group>]`` (and the legacy name) per object,
    charged on create."""

    def __init__(self, group: str, resource: str) -> None:
        self.group = group
        self.resource = resource
        self.names = {count_name(group, resource)}
        if not group and resource in LEGACY_COUNTS:
            self.names.add(LEGACY_COUNTS[resource])

    def handles(self, operation: str) -> bool:
        return operation == CREATE

    def matching_resources(self, names: list[str]) -> list[str]:
        return [n for n in names if n in self.names]

    def matches_scope(self, selector: dict, obj: dict) -> bool:
        return False  # quotas with scopes count only pods

    def constraints(self, required: list[str], obj: dict) -> str:
        return ""

    def usage(self, obj: dict) -> ResourceList:
        return {name: ONE for name in self.names}

    def matches(self, quota: dict, hard_names: list[str], obj: dict) -> bool:
        if not self.matching_resources(hard_names):
            return False
        return all(self.matches_scope(sel, obj) for sel in scope_selectors(quota))


def scope_selectors(quota: dict) -> list[dict]:
    spec = mapping(quota.get("spec"))
    selectors = [{"scopeName": s, "operator": "Exists"} for s in sequence(spec.get("scopes"))]
    selectors.extend(maps(mapping(spec.get("scopeSelector")).get("matchExpressions")))
    return selectors


# ---- pods ------------------------------------------------------------------------------------

POD_RESOURCES = frozenset({
    "count/pods", "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods",
})
# the resources whose presence a quota makes every container declare
VALIDATION_SET = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})


def _is_extended(name: str) -> bool:
    """``example.com/gpu``: a qualified name outside kubernetes.io, not a ``requests.`` name."""
    if "/" not in name or name.startswith("requests."):
        return False
    domain = name.split("/", 1)[0]
    return not (domain == "kubernetes.io" or domain.endswith(".kubernetes.io"))


def compute_usage(requests: ResourceList, limits: ResourceList) -> ResourceList:
    """``podComputeUsageHelper``: a pod's (or container's) compute usage in quota names."""
    out: ResourceList = {"pods": ONE}
    for resource in ("cpu", "memory", "ephemeral-storage"):
        if resource in requests:
            out[resource] = requests[resource]
            out[f"requests.{resource}"] = requests[resource]
        if resource in limits:
            out[f"limits.{resource}"] = limits[resource]
    for name, value in requests.items():
        if name.startswith("hugepages-"):
            out[name] = value
            out[f"requests.{name}"] = value
        if _is_extended(name):
            out[f"requests.{name}"] = value
    return out


def _parse_time(text: Any) -> datetime | None:
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def counts_compute(pod: dict, now: datetime | None = None) -> bool:
    """``QuotaV1Pod``: finished pods, and pods past their deletion grace period, use no compute."""
    if mapping(pod.get("status")).get("phase") in ("Succeeded", "Failed"):
        return False
    m = meta(pod)
    deleted, grace = _parse_time(m.get("deletionTimestamp")), m.get("deletionGracePeriodSeconds")
    if deleted is not None and isinstance(grace, int):
        return (now or datetime.now(UTC)) <= deleted + timedelta(seconds=grace)
    return True


def _all_containers(pod: dict) -> list[dict]:
    spec = mapping(pod.get("spec"))
    return maps(spec.get("initContainers")) + maps(spec.get("containers"))


def is_best_effort(pod: dict) -> bool:
    """QoS BestEffort: no container requests or limits cpu or memory."""
    for container in _all_containers(pod):
        for values in (container_requests(container), container_limits(container)):
            if any(name in ("cpu", "memory") and not q.is_zero() for name, q in values.items()):
                return False
    return True


def _uses_cross_namespace_affinity(pod: dict) -> bool:
    affinity = mapping(mapping(pod.get("spec")).get("affinity"))
    for kind in ("podAffinity", "podAntiAffinity"):
        section = mapping(affinity.get(kind))
        terms = maps(section.get("requiredDuringSchedulingIgnoredDuringExecution"))
        terms += [mapping(t.get("podAffinityTerm")) for t in
                  maps(section.get("preferredDuringSchedulingIgnoredDuringExecution"))]
        for term in terms:
            if sequence(term.get("namespaces")) or term.get("namespaceSelector") is not None:
                return True
    return False


class PodEvaluator(Evaluator):
    def __init__(self) -> None:
        super().__init__("", "pods")

    def matching_resources(self, names: list[str]) -> list[str]:
        return [n for n in names if n in POD_RESOURCES or n.startswith(("hugepages-", "requests.hugepages-"))
                or (n.startswith("requests.") and _is_extended(n[len("requests."):]))]

    def matches_scope(self, selector: dict, obj: dict) -> bool:
        scope = selector.get("scopeName")
        spec = mapping(obj.get("spec"))
        if scope in ("Terminating", "NotTerminating"):
            deadline = spec.get("activeDeadlineSeconds")
            terminating = isinstance(deadline, int) and deadline >= 0
            return terminating if scope == "Terminating" else not terminating
        if scope in ("BestEffort", "NotBestEffort"):
            return is_best_effort(obj) == (scope == "BestEffort")
        if scope == "PriorityClass":
            return _selector_matches(selector, str(spec.get("priorityClassName") or ""))
        if scope == "CrossNamespacePodAffinity":
            return _uses_cross_namespace_affinity(obj)
        return False

    def constraints(self, required: list[str], obj: dict) -> str:
        """Every container must state the cpu/memory requests and limits a quota limits."""
        wanted = set(required) & VALIDATION_SET
        missing: dict[str, set[str]] = {}
        spec = mapping(obj.get("spec"))
        for container in maps(spec.get("containers")) + maps(spec.get("initContainers")):
            present = set(compute_usage(container_requests(container), container_limits(container)))
            for name in wanted - present:
                missing.setdefault(name, set()).add(str(container.get("name", "")))
        return "; ".join(f"must specify {name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing))

    def usage(self, obj: dict) -> ResourceList:
        out: ResourceList = {"count/pods": ONE}
        if counts_compute(obj):
            add_into(out, compute_usage(pod_requests(obj, overhead=True), pod_limits(obj, overhead=True)))
        return out


def _selector_matches(selector: dict, value: str) -> bool:
    operator = selector.get("operator")
    values = [str(v) for v in sequence(selector.get("values"))]
    if operator == "Exists":
        return bool(value)
    if operator == "DoesNotExist":
        return not value
    if operator == "In":
        return value in values
    if operator == "NotIn":
        return value not in values
    return False


# ---- services --------------------------------------------------------------------------------


class ServiceEvaluator(Evaluator):
    def __init__(self) -> None:
        super().__init__("", "services")
        self.names = {"count/services", "services", "services.nodeports", "services.loadbalancers"}

    def handles(self, operation: str) -> bool:
        return operation in (CREATE, UPDATE)

    def usage(self, obj: dict) -> ResourceList:
        spec = mapping(obj.get("spec"))
        ports = maps(spec.get("ports"))
        out: ResourceList = {"count/services": ONE, "services": ONE, "services.loadbalancers": Quantity(0),
                             "services.nodeports": Quantity(0)}
        kind = spec.get("type")
        if kind == "NodePort":
            out["services.nodeports"] = Quantity(len(ports))
        elif kind == "LoadBalancer":
            if spec.get("allocateLoadBalancerNodePorts") is False:
                out["services.nodeports"] = Quantity(sum(1 for p in ports if p.get("nodePort")))
            else:
                out["services.nodeports"] = Quantity(len(ports))
            out["services.loadbalancers"] = ONE
        return out


# ---- persistent volume claims ----------------------------------------------------------------


def claim_class(claim: dict) -> str:
    annotations = mapping(meta(claim).get("annotations"))
    beta = annotations.get("volume.beta.kubernetes.io/storage-class")
    if beta is not None:
        return str(beta)
    return str(mapping(claim.get("spec")).get("storageClassName") or "")


class ClaimEvaluator(Evaluator):
    def __init__(self) -> None:
        super().__init__("", "persistentvolumeclaims")
        self.names = {"count/persistentvolumeclaims", "persistentvolumeclaims", "requests.storage"}

    def handles(self, operation: str) -> bool:
        return operation in (CREATE, UPDATE)

    def matching_resources(self, names: list[str]) -> list[str]:
        return [n for n in names if n in self.names or (STORAGE_CLASS_SUFFIX in n and n.endswith(
            (STORAGE_CLASS_SUFFIX + "requests.storage", STORAGE_CLASS_SUFFIX + "persistentvolumeclaims")))]

    def usage(self, obj: dict) -> ResourceList:
        out: ResourceList = {"persistentvolumeclaims": ONE, "count/persistentvolumeclaims": ONE}
        storage_class = claim_class(obj)
        if storage_class:
            out[f"{storage_class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = ONE
        requested = parse_list(mapping(mapping(obj.get("spec")).get("resources")).get("requests")).get("storage")
        allocated = parse_list(mapping(obj.get("status")).get("allocatedResources")).get("storage")
        if requested is not None:
            if allocated is not None and allocated > requested:
                requested = allocated
            # counted in whole bytes
            storage = requested if requested.amount.denominator == 1 else Quantity(requested.value(), requested.format)
            out["requests.storage"] = storage
            if storage_class:
                out[f"{storage_class}{STORAGE_CLASS_SUFFIX}requests.storage"] = storage
        return out


def evaluator_for(group: str, resource: str) -> Evaluator | None:
    if (group, resource) in IGNORED:
        return None
    if not group and resource == "pods":
        return PodEvaluator()
    if not group and resource == "services":
        return ServiceEvaluator()
    if not group and resource == "persistentvolumeclaims":
        return ClaimEvaluator()
    return Evaluator(group, resource)


def evaluators_for_names(names: list[str]) -> list[Evaluator]:
    """The evaluators whose objects make up the usage of these quota resource names."""
    found: dict[tuple[str, str], Evaluator] = {}
    candidates: list[Evaluator] = [PodEvaluator(), ServiceEvaluator(), ClaimEvaluator()]
    for name in names:
        parsed = parse_count_name(name)
        if parsed is not None:
            candidates.append(evaluator_for(*parsed) or Evaluator(*parsed))
        elif name in LEGACY_COUNTS:
            candidates.append(Evaluator("", name))
    for evaluator in candidates:
        key = (evaluator.group, evaluator.resource)
        if key not in found and key not in IGNORED and evaluator.matching_resources(names):
            found[key] = evaluator
    return list(found.values())
