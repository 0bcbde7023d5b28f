"""Scheduling framework: node snapshots, cycle state, plugin protocol and the filter/score run."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubeprov.api.quantity import Quantity

MAX_NODE_SCORE = 100
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
DEFAULT_MILLI_CPU_REQUEST = 100  # non-zero default used only by scoring
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

CPU = "cpu"
MEMORY = "memory"
PODS = "pods"
EPHEMERAL_STORAGE = "ephemeral-storage"

# Status codes, as the scheduling framework uses them.
UNSCHEDULABLE = "Unschedulable"
UNSCHEDULABLE_AND_UNRESOLVABLE = "UnschedulableAndUnresolvable"


@dataclass(frozen=True)
class Status:
    """A failed filter: its code, the reasons shown to users and the plugin that failed."""

    code: str
    reasons: tuple[str, ...]
    plugin: str = ""


def unschedulable(*reasons: str) -> Status:
    return Status(UNSCHEDULABLE, tuple(reasons))


def unresolvable(*reasons: str) -> Status:
    return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, tuple(reasons))


# ---------------------------------------------------------------------------- quantities and requests


def _amount(name: str, text: Any) -> int:
    """cpu in millicores, everything else in whole units."""
    try:
        q = Quantity.parse(str(text))
    except (ValueError, TypeError):
        return 0
    return q.milli_value() if name == CPU else q.value()


def resource_list(values: Mapping[str, Any] | None) -> dict[str, int]:
    return {name: _amount(name, v) for name, v in (values or {}).items()}


def _add(into: dict[str, int], other: Mapping[str, int]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


def _max(into: dict[str, int], other: Mapping[str, int]) -> None:
    for k, v in other.items():
        if v > into.get(k, 0):
            into[k] = v


def _container_requests(container: Mapping[str, Any], non_zero: bool) -> dict[str, int]:
    reqs = resource_list((container.get("resources") or {}).get("requests"))
    if non_zero:
        if CPU not in reqs:
            reqs[CPU] = DEFAULT_MILLI_CPU_REQUEST
        if MEMORY not in reqs:
            reqs[MEMORY] = DEFAULT_MEMORY_REQUEST
    return reqs


def pod_requests(pod: Mapping[str, Any], *, non_zero: bool = False) -> dict[str, int]:
    """Effective pod requests: max(sum of containers + sidecars, each init container + earlier sidecars) + overhead.

    With ``non_zero`` a container that omits a cpu/memory request counts 100m / 200Mi (scoring only).
    """
    spec = pod.get("spec") or {}
    total: dict[str, int] = {}
    for c in spec.get("containers") or []:
        _add(total, _container_requests(c, non_zero))
    restartable: dict[str, int] = {}
    init_max: dict[str, int] = {}
    for c in spec.get("initContainers") or []:
        reqs = _container_requests(c, non_zero)
        if c.get("restartPolicy") == "Always":
            _add(total, reqs)
            _add(restartable, reqs)
            tmp = dict(restartable)
        else:
            tmp = dict(restartable)
            _add(tmp, reqs)
        _max(init_max, tmp)
    _max(total, init_max)
    _add(total, resource_list(spec.get("overhead")))
    return total


def is_scalar_resource(name: str) -> bool:
    return name not in (CPU, MEMORY, PODS, EPHEMERAL_STORAGE)


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def namespace_of(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("namespace") or "default")


def host_ports(pod: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(ip, protocol, port) of each container port with a host port."""
    out = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            port = p.get("hostPort") or 0
            if isinstance(port, int) and port > 0:
                out.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", port))
    return out


def _is_active(pod: Mapping[str, Any]) -> bool:
    return ((pod.get("status") or {}).get("phase")) not in ("Succeeded", "Failed")


@dataclass
class NodeInfo:
    """A node and the pods bound to it, with allocatable, requested and used host ports derived once."""

    node: dict
    pods: list[dict] = field(default_factory=list)
    allocatable: dict[str, int] = field(init=False)
    requested: dict[str, int] = field(init=False)
    non_zero_requested: dict[str, int] = field(init=False)
    used_ports: list[tuple[str, str, int]] = field(init=False)
    name: str = field(init=False)
    labels: dict[str, str] = field(init=False)
    # the pods with any pod (anti-)affinity, and with required anti-affinity: the only ones the
    # inter-pod affinity plugin must look at for an incoming pod without terms of its own
    pods_with_affinity: list[dict] = field(init=False)
    pods_with_required_anti_affinity: list[dict] = field(init=False)
    # plugins' per-node results that depend only on this NodeInfo (which is rebuilt when its pods change)
    memo: dict[Any, Any] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.pods = [p for p in self.pods if _is_active(p)]
        self.name = name_of(self.node)
        self.labels = labels_of(self.node)
        self.pods_with_affinity = []
        self.pods_with_required_anti_affinity = []
        for p in self.pods:
            affinity = (p.get("spec") or {}).get("affinity") or {}
            if affinity.get("podAffinity") or affinity.get("podAntiAffinity"):
                self.pods_with_affinity.append(p)
                if (affinity.get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution"):
                    self.pods_with_required_anti_affinity.append(p)
        self.allocatable = resource_list((self.node.get("status") or {}).get("allocatable"))
        self.requested = {}
        self.non_zero_requested = {}
        self.used_ports = []
        for p in self.pods:
            _add(self.requested, pod_requests(p))
            nz = pod_requests(p, non_zero=True)
            _add(self.non_zero_requested, {CPU: nz.get(CPU, 0), MEMORY: nz.get(MEMORY, 0)})
            self.used_ports.extend(host_ports(p))



class VolumeLookup(Protocol):
    """Read access to claims, volumes and classes (the scheduler's informer caches; dicts in unit tests)."""

    def claim(self, namespace: str, name: str) -> dict | None: ...

    def volume(self, name: str) -> dict | None: ...

    def storage_class(self, name: str) -> dict | None: ...

    def volumes(self) -> list[dict]: ...


class CycleState(dict):
    """Per-scheduling-cycle data that plugins compute in pre-filter/pre-score and read per node."""


@dataclass
class Cycle:
    """What every plugin may look at during one cycle."""

    pod: dict
    all_nodes: list[NodeInfo]
    state: CycleState = field(default_factory=CycleState)
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None
    default_spread_selector: Mapping[str, Any] | None = None
    volumes: VolumeLookup | None = None  # None: no volume information, VolumeBinding lets every pod through


class Plugin(Protocol):
    name: str


class FilterPlugin(Plugin, Protocol):
    def pre_filter(self, cycle: Cycle) -> Status | None: ...  # a Status rejects the pod for every node

    def filter(self, cycle: Cycle, node: NodeInfo) -> Status | None: ...


class ScorePlugin(Plugin, Protocol):
    weight: int

    def pre_score(self, cycle: Cycle, nodes: list[NodeInfo]) -> bool: ...  # False: skip this plugin

    def score(self, cycle: Cycle, node: NodeInfo) -> int: ...

    def normalize(self, cycle: Cycle, scores: dict[str, int]) -> None: ...


def default_normalize(scores: dict[str, int], reverse: bool = False) -> None:
    """Scale to 0..100 by the highest score, like helper.DefaultNormalizeScore."""
    max_count = max(scores.values(), default=0)
    if max_count == 0:
        if reverse:
            for k in scores:
                scores[k] = MAX_NODE_SCORE
        return
    for k, v in scores.items():
        s = MAX_NODE_SCORE * v // max_count
        scores[k] = MAX_NODE_SCORE - s if reverse else s


# ---------------------------------------------------------------------------- the run


@dataclass
class ScheduleResult:
    """The outcome of one cycle.

    ``node`` is the chosen node (None when nothing fits); ``feasible`` the nodes that passed every filter;
    ``scores`` the weighted totals (empty when fewer than two nodes were feasible, as scoring is skipped);
    ``failures`` node -> reasons of the first filter that rejected it; ``message`` the FailedScheduling text.
    """

    node: str | None
    feasible: list[str]
    scores: dict[str, int]
    failures: dict[str, list[str]]
    message: str
    statuses: dict[str, Status] = field(default_factory=dict)
    nominated_node: str | None = None  # set when preemption found a node once victims are gone
    victims: list[dict] = field(default_factory=list)  # the pods to evict from nominated_node
    processed: int = 0  # nodes filtered (feasible or rejected); advances the next cycle's start_index


def num_feasible_nodes_to_find(num_all_nodes: int, percentage: int) -> int:
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    adaptive = percentage
    if adaptive <= 0:
        adaptive = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    if adaptive >= 100:
        return num_all_nodes
    n = num_all_nodes * adaptive // 100
    return max(n, MIN_FEASIBLE_NODES_TO_FIND)


def run_filters(filters: list[Any], cycle: Cycle, node: NodeInfo) -> Status | None:
    """Run filters in order; stop at the first one that fails, as the framework does."""
    for plugin in filters:
        status = plugin.filter(cycle, node)
        if status is not None:
            return Status(status.code, status.reasons, plugin.name)
    return None


def select_host(totals: list[tuple[str, int]], rng: random.Random) -> str:
    """Highest total wins; ties are broken by reservoir sampling."""
    selected, max_score = totals[0]
    count = 1
    for name, score in totals[1:]:
        if score > max_score:
            selected, max_score, count = name, score, 1
        elif score == max_score:
            count += 1
            if rng.randrange(count) == 0:
                selected = name
    return selected
