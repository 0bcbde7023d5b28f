"""LimitRanger: the namespace's LimitRanges give containers default requests and limits (mutating
phase) and bound what pods and PersistentVolumeClaims may ask for (validating phase)."""

from __future__ import annotations

from typing import Any, ClassVar

from kubeprov.api.quantity import Quantity, QuantityError
from kubeprov.apiserver.admission.attributes import CREATE, UPDATE, Attributes, go_aggregate, mapping, maps, meta
from kubeprov.apiserver.admission.plugin import Plugin
from kubeprov.apiserver.admission.resources import (
    ResourceList,
    compare_values,
    container_limits,
    container_requests,
    parse_list,
    pod_limits,
    pod_requests,
)

ANNOTATION = "kubernetes.io/limit-ranger"


def _container_defaults(limit_range: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(default requests, default limits) of the Container items, as stored (strings)."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    for item in maps(mapping(limit_range.get("spec")).get("limits")):
        if item.get("type") == "Container":
            requests.update(mapping(item.get("defaultRequest")))
            limits.update(mapping(item.get("default")))
    return requests, limits


def _merge_container(container: dict, requests: dict, limits: dict, prefix: str, notes: list[str]) -> None:
    resources = container.get("resources")
    if not isinstance(resources, dict):
        resources = container["resources"] = {}
    set_limits = _fill(resources, "limits", limits)
    set_requests = _fill(resources, "requests", requests)
    name = container.get("name", "")
    if set_requests:
        notes.append(f"{', '.join(sorted(set_requests))} request for {prefix} {name}")
    if set_limits:
        notes.append(f"{', '.join(sorted(set_limits))} limit for {prefix} {name}")


def _fill(resources: dict, field: str, defaults: dict) -> list[str]:
    current = resources.get(field)
    missing = [k for k in defaults if not isinstance(current, dict) or k not in current]
    if missing:
        if not isinstance(current, dict):
            current = resources[field] = {}
        for k in missing:
            current[k] = defaults[k]
    return missing


def mutate_pod(limit_range: Any, pod: dict) -> None:
    """``PodMutateLimitFunc``: missing requests/limits from the defaults, noted in an annotation."""
    requests, limits = _container_defaults(limit_range)
    notes: list[str] = []
    spec = mapping(pod.get("spec"))
    for container in maps(spec.get("containers")):
        _merge_container(container, requests, limits, "container", notes)
    for container in maps(spec.get("initContainers")):
        _merge_container(container, requests, limits, "init container", notes)
    if notes:
        metadata = pod.setdefault("metadata", {})
        annotations = metadata.get("annotations")
        if not isinstance(annotations, dict):
            annotations = metadata["annotations"] = {}
        annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)


# ---- constraints, worded as Kubernetes words them ----------------------------------------------


def min_constraint(kind: str, name: str, enforced: Quantity, requests: ResourceList,
                   limits: ResourceList) -> str | None:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, value = compare_values(req, lim, enforced)
    if req is None:
        return f"minimum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed_req < value:
        return f"minimum {name} usage per {kind} is {enforced}, but request is {req}"
    if lim is not None and observed_lim < value:
        return f"minimum {name} usage per {kind} is {enforced}, but limit is {lim}"
    return None


def max_constraint(kind: str, name: str, enforced: Quantity, requests: ResourceList,
                   limits: ResourceList) -> str | None:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, value = compare_values(req, lim, enforced)
    if lim is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No limit is specified"
    if observed_lim > value:
        return f"maximum {name} usage per {kind} is {enforced}, but limit is {lim}"
    if req is not None and observed_req > value:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {req}"
    return None


def max_request_constraint(kind: str, name: str, enforced: Quantity, requests: ResourceList) -> str | None:
    req = requests.get(name)
    observed_req, _, value = compare_values(req, None, enforced)
    if req is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed_req > value:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {req}"
    return None


def ratio_constraint(kind: str, name: str, enforced: Quantity, requests: ResourceList,
                     limits: ResourceList) -> str | None:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, _ = compare_values(req, lim, enforced)
    if req is None or observed_req == 0:
        return (f"{name} max limit to request ratio per {kind} is {enforced}, "
                "but no request is specified or request is 0")
    if lim is None or observed_lim == 0:
        return (f"{name} max limit to request ratio per {kind} is {enforced}, "
                "but no limit is specified or limit is 0")
    ratio = observed_lim / observed_req
    shown = ratio
    maximum = float(enforced.value())
    if enforced.value() <= (2**63 - 1) // 1000:
        ratio *= 1000
        maximum = float(enforced.milli_value())
    if ratio > maximum:
        return f"{name} max limit to request ratio per {kind} is {enforced}, but provided ratio is {shown:f}"
    return None


def _bounds(item: dict, field: str) -> list[tuple[str, Quantity]]:
    parsed = parse_list(item.get(field))
    return [(name, parsed[name]) for name in sorted(parsed)]


def _check_item(item: dict, kind: str, requests: ResourceList, limits: ResourceList, errs: list[str]) -> None:
    for name, value in _bounds(item, "min"):
        _append(errs, min_constraint(kind, name, value, requests, limits))
    for name, value in _bounds(item, "max"):
        _append(errs, max_constraint(kind, name, value, requests, limits))
    for name, value in _bounds(item, "maxLimitRequestRatio"):
        _append(errs, ratio_constraint(kind, name, value, requests, limits))


def _append(errs: list[str], err: str | None) -> None:
    if err:
        errs.append(err)


def validate_pod(limit_range: Any, pod: dict) -> list[str]:
    """``PodValidateLimitFunc``: per-container and per-pod min/max/ratio."""
    errs: list[str] = []
    spec = mapping(pod.get("spec"))
    for item in maps(mapping(limit_range.get("spec")).get("limits")):
        kind = item.get("type")
        if kind == "Container":
            for container in maps(spec.get("containers")) + maps(spec.get("initContainers")):
                _check_item(item, "Container", container_requests(container), container_limits(container), errs)
        elif kind == "Pod":
            _check_item(item, "Pod", pod_requests(pod), pod_limits(pod), errs)
    return errs


def validate_claim(limit_range: Any, claim: dict) -> list[str]:
    """``PersistentVolumeClaimValidateLimitFunc``: storage requests within min/max."""
    errs: list[str] = []
    requests = parse_list(mapping(mapping(claim.get("spec")).get("resources")).get("requests"))
    for item in maps(mapping(limit_range.get("spec")).get("limits")):
        if item.get("type") != "PersistentVolumeClaim":
            continue
        for name, value in _bounds(item, "min"):
            _append(errs, min_constraint("PersistentVolumeClaim", name, value, requests, {}))
        for name, value in _bounds(item, "max"):
            _append(errs, max_request_constraint("PersistentVolumeClaim", name, value, requests))
    return errs


class LimitRanger(Plugin):
    name: ClassVar[str] = "LimitRanger"
    mutating: ClassVar[bool] = True
    validating: ClassVar[bool] = True

    @staticmethod
    def _supports(a: Attributes) -> bool:
        if a.subresource or a.obj is None or a.operation not in (CREATE, UPDATE):
            return False
        if a.is_core("pods"):
            # containers cannot change after create: pod updates are not checked
            return a.operation == CREATE
        return a.is_core("persistentvolumeclaims")

    async def _limit_ranges(self, a: Attributes) -> list[dict]:
        if a.old is not None and meta(a.old).get("deletionTimestamp"):
            return []  # objects on their way out are left alone
        items = await self.lookup.list("", "limitranges", a.namespace)
        return sorted(items, key=lambda lr: str(meta(lr).get("name", "")))

    async def admit(self, a: Attributes) -> None:
        if not self._supports(a) or not a.is_core("pods"):
            return
        assert a.obj is not None
        for limit_range in await self._limit_ranges(a):
            mutate_pod(limit_range, a.obj)

    async def validate(self, a: Attributes) -> None:
        if not self._supports(a):
            return
        assert a.obj is not None
        check = validate_pod if a.is_core("pods") else validate_claim
        for limit_range in await self._limit_ranges(a):
            try:
                errs = check(limit_range, a.obj)
            except QuantityError:  # pragma: no cover - stored objects hold valid quantities
                continue
            if errs:
                raise a.forbidden(go_aggregate(errs))
