"""Resource lists (``corev1.ResourceList``) as dicts of :class:`Quantity`, the arithmetic quota and
limit ranges need, and a pod's effective requests and limits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubeprov.api.quantity import Quantity, QuantityError
from kubeprov.apiserver.admission.attributes import mapping, maps

ResourceList = dict[str, Quantity]
ZERO = Quantity(0)
ONE = Quantity(1)
# resource.MaxMilliValue: beyond it Kubernetes compares whole units, not thousandths
MAX_MILLI_VALUE = (2**63 - 1) // 1000


def parse_list(value: Any) -> ResourceList:
    """A resource list from JSON; values that are not quantities are left out."""
    out: ResourceList = {}
    for name, text in mapping(value).items():
        try:
            out[str(name)] = Quantity.parse(str(text))
        except QuantityError:
            continue
    return out


def to_json(items: ResourceList) -> dict[str, str]:
    """Sorted by name, as Go writes maps."""
    return {name: str(items[name]) for name in sorted(items)}


def add_into(target: ResourceList, other: ResourceList) -> None:
    for name, value in other.items():
        target[name] = target[name] + value if name in target else value


def add(a: ResourceList, b: ResourceList) -> ResourceList:
    out = dict(a)
    add_into(out, b)
    return out


def max_into(target: ResourceList, other: ResourceList) -> None:
    for name, value in other.items():
        if name not in target or value > target[name]:
            target[name] = value


def subtract_non_negative(a: ResourceList, b: ResourceList) -> ResourceList:
    """``quota.SubtractWithNonNegativeResult``: a - b per resource, never below zero."""
    out: ResourceList = {}
    for name, value in a.items():
        diff = value - b[name] if name in b else value
        out[name] = diff if diff > ZERO else ZERO
    for name in b:
        out.setdefault(name, ZERO)
    return out


def mask(items: ResourceList, names: Iterable[str]) -> ResourceList:
    wanted = set(names)
    return {name: value for name, value in items.items() if name in wanted}


def remove_zeros(items: ResourceList) -> ResourceList:
    return {name: value for name, value in items.items() if not value.is_zero()}


def pretty(items: ResourceList) -> str:
    """``k=v,k2=v2`` sorted by name, as quota errors print resource lists."""
    return ",".join(f"{name}={items[name]}" for name in sorted(items))


def compare_values(a: Quantity | None, b: Quantity | None, c: Quantity | None) -> tuple[int, int, int]:
    """``requestLimitEnforcedValues``: the three amounts at a common precision (thousandths when
    none overflows), rounded up as Kubernetes rounds."""
    quantities = [q if q is not None else ZERO for q in (a, b, c)]
    values = [q.value() for q in quantities]
    if all(v <= MAX_MILLI_VALUE for v in values):
        values = [q.milli_value() for q in quantities]
    return values[0], values[1], values[2]


# ---- pods ------------------------------------------------------------------------------------


def container_requests(container: Any) -> ResourceList:
    return parse_list(mapping(mapping(container).get("resources")).get("requests"))


def container_limits(container: Any) -> ResourceList:
    return parse_list(mapping(mapping(container).get("resources")).get("limits"))


def _is_sidecar(container: Any) -> bool:
    return mapping(container).get("restartPolicy") == "Always"


def _pod_sum(pod: Any, per_container: Any) -> ResourceList:
    """Containers summed, restartable init containers (sidecars) added, and every other init
    container counted at its peak (with the sidecars started before it), as ``PodRequests`` does."""
    spec = mapping(mapping(pod).get("spec"))
    total: ResourceList = {}
    for container in maps(spec.get("containers")):
        add_into(total, per_container(container))
    sidecars: ResourceList = {}
    init_peak: ResourceList = {}
    for container in maps(spec.get("initContainers")):
        own = per_container(container)
        if _is_sidecar(container):
            add_into(total, own)
            add_into(sidecars, own)
            current = dict(sidecars)
        else:
            current = add(own, sidecars)
        max_into(init_peak, current)
    max_into(total, init_peak)
    return total


def pod_requests(pod: Any, *, overhead: bool = False) -> ResourceList:
    total = _pod_sum(pod, container_requests)
    if overhead:
        add_into(total, parse_list(mapping(mapping(pod).get("spec")).get("overhead")))
    return total


def pod_limits(pod: Any, *, overhead: bool = False) -> ResourceList:
    total = _pod_sum(pod, container_limits)
    if overhead:
        # overhead only adds to resources that have a limit
        for name, value in parse_list(mapping(mapping(pod).get("spec")).get("overhead")).items():
            if name in total:
                total[name] = total[name] + value
    return total
