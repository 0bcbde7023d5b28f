"""VolumeBinding: a pod's PersistentVolumeClaims decide where it may run, as kube-scheduler 1.32's plugin.

PreFilter looks the pod's claims up (``persistentVolumeClaim`` and generic ``ephemeral`` volumes): a missing
or terminating claim rejects the pod outright, so does a claim not yet bound whose class binds at once
(``Immediate``, no class, or a class that does not exist) -- the PV binder must bind it first. Bound claims
pin the pod to the nodes their volume's ``kubernetes.io/hostname`` node affinity names (a pre-filter node
list, like NodeAffinity's) and Filter checks the volume's full node affinity. ``WaitForFirstConsumer``
claims are matched per node against free static volumes of their class; without one the class must have a
provisioner (and allow the node's topology). After the node is chosen, :func:`prebind_actions` says what to
write before binding: the static volume's ``claimRef``, or the claim's ``volume.kubernetes.io/selected-node``.

Pods without claims pay one scan of their volumes in PreFilter and nothing per node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeprov.controllers.volumes.pvbinder import BIND_COMPLETED, capacity, claim_class, mismatch
from kubeprov.scheduler.framework import Cycle, NodeInfo, Status, VolumeLookup, unresolvable
from kubeprov.scheduler.plugins.node_affinity import term_matches

NAME = "VolumeBinding"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
HOSTNAME = "kubernetes.io/hostname"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"

UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
NODE_CONFLICT = "node(s) had volume node affinity conflict"
BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"

Obj = dict[str, Any]


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def claim_names(pod: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(claim name, is ephemeral) for each claim the pod's volumes use."""
    out: list[tuple[str, bool]] = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        claim = volume.get("persistentVolumeClaim")
        if claim and claim.get("claimName"):
            out.append((str(claim["claimName"]), False))
        elif volume.get("ephemeral"):
            out.append((f"{_meta(pod).get('name', '')}-{volume.get('name', '')}", True))
    return out


def is_bound(claim: Mapping[str, Any]) -> bool:
    """Fully bound, as the scheduler's binder checks: a volume name and the bind-completed annotation."""
    return bool((claim.get("spec") or {}).get("volumeName")) and BIND_COMPLETED in (_meta(claim).get("annotations")
                                                                                     or {})


def volume_node_names(pv: Mapping[str, Any]) -> set[str]:
    """The nodes a volume's required affinity names with ``kubernetes.io/hostname In`` (empty: no such list)."""
    required = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {})
    result: set[str] = set()
    for term in required.get("nodeSelectorTerms") or []:
        nodes: set[str] | None = None
        for expr in term.get("matchExpressions") or []:
            if expr.get("key") == HOSTNAME and expr.get("operator") == "In":
                values = set(expr.get("values") or [])
                nodes = values if nodes is None else nodes & values
        result |= nodes or set()
    return result


def volume_fits_node(pv: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    required = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required"))
    if not required:
        return True
    return any(term_matches(t, node) for t in required.get("nodeSelectorTerms") or [])


def _topology_allows(storage_class: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    terms = storage_class.get("allowedTopologies") or []
    if not terms:
        return True
    node_labels = _meta(node).get("labels") or {}
    return any(all(node_labels.get(e.get("key")) in (e.get("values") or []) for e in t.get("matchLabelExpressions")
                   or []) for t in terms)


@dataclass
class PodVolumes:
    """What PreFilter found: bound claims' volumes (None: missing) and the delayed claims with their classes."""

    bound: list[tuple[Obj, Obj | None]] = field(default_factory=list)
    delayed: list[tuple[Obj, Obj]] = field(default_factory=list)
    free_volumes: list[Obj] = field(default_factory=list)


def free_static_volumes(volumes: list[Obj]) -> list[Obj]:
    return [pv for pv in volumes if not (pv.get("spec") or {}).get("claimRef")
            and not _meta(pv).get("deletionTimestamp")
            and (pv.get("status") or {}).get("phase", "Available") in ("Available", "Pending", "")]


def match_static(claims: list[tuple[Obj, Obj]], free: list[Obj], node: Mapping[str, Any]) -> dict[str, Obj] | None:
    """For each delayed claim, the smallest free volume usable on ``node`` (each volume used once); None where a
    claim has none."""
    taken: set[str] = set()
    out: dict[str, Obj] = {}
    for claim, _ in claims:
        options = [pv for pv in free if _meta(pv).get("name") not in taken and not mismatch(pv, claim)
                   and volume_fits_node(pv, node)]
        if options:
            best = min(options, key=lambda v: (capacity(v), _meta(v).get("name", "")))
            taken.add(_meta(best)["name"])
            out[_meta(claim)["name"]] = best
    return out


def pod_volumes(pod: Mapping[str, Any], lookup: VolumeLookup) -> PodVolumes | Status:
    """The pod's claims sorted out, or the pre-filter rejection."""
    namespace = _meta(pod).get("namespace") or "default"
    found = PodVolumes()
    immediate = False
    for name, ephemeral in claim_names(pod):
        claim = lookup.claim(namespace, name)
        if claim is None:
            if ephemeral:
                return unresolvable(f'waiting for ephemeral volume controller to create the persistentvolumeclaim '
                                    f'"{name}"')
            return unresolvable(f'persistentvolumeclaim "{name}" not found')
        if _meta(claim).get("deletionTimestamp"):
            return unresolvable(f'persistentvolumeclaim "{name}" is being deleted')
        if (claim.get("status") or {}).get("phase") == "Lost":
            return unresolvable(f'persistentvolumeclaim "{name}" bound to non-existent persistentvolume '
                                f'"{(claim.get("spec") or {}).get("volumeName", "")}"')
        if is_bound(claim):
            found.bound.append((claim, lookup.volume(claim["spec"]["volumeName"])))
            continue
        cls_name = claim_class(claim)
        storage_class = lookup.storage_class(cls_name) if cls_name else None
        delayed = storage_class is not None and storage_class.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER
        if delayed and not (claim.get("spec") or {}).get("volumeName"):
            assert storage_class is not None
            found.delayed.append((claim, storage_class))
        else:
            immediate = True
    if immediate:
        return unresolvable(UNBOUND_IMMEDIATE)
    if found.delayed:
        found.free_volumes = free_static_volumes(lookup.volumes())
    return found


def node_reasons(volumes: PodVolumes, node: Mapping[str, Any]) -> list[str]:
    """Why the pod's volumes cannot be used on ``node`` (empty: they can)."""
    reasons: list[str] = []
    for _, pv in volumes.bound:
        if pv is None:
            reasons.append(PV_NOT_EXIST)
        elif not volume_fits_node(pv, node) and NODE_CONFLICT not in reasons:
            reasons.append(NODE_CONFLICT)
    if volumes.delayed:
        static = match_static(volumes.delayed, volumes.free_volumes, node) or {}
        for claim, storage_class in volumes.delayed:
            if _meta(claim)["name"] in static:
                continue
            provisioner = storage_class.get("provisioner") or ""
            if provisioner in ("", NO_PROVISIONER) or not _topology_allows(storage_class, node):
                reasons.append(BIND_CONFLICT)
                break
    return list(dict.fromkeys(reasons))


@dataclass(frozen=True)
class PreBindAction:
    """Before the pod is bound: pre-bind ``volume`` to ``claim`` (static), or mark ``claim`` for the node."""

    claim: Obj
    volume: Obj | None  # None: annotate the claim with the selected node (provisioning)


def prebind_actions(pod: Mapping[str, Any], node: Mapping[str, Any], lookup: VolumeLookup) -> list[PreBindAction]:
    """What to write for the pod's WaitForFirstConsumer claims once it goes to ``node``."""
    if not claim_names(pod):
        return []
    found = pod_volumes(pod, lookup)
    if isinstance(found, Status) or not found.delayed:
        return []
    static = match_static(found.delayed, found.free_volumes, node) or {}
    return [PreBindAction(claim, static.get(_meta(claim)["name"])) for claim, _ in found.delayed]


class VolumeBinding:
    name = NAME

    def pre_filter(self, cycle: Cycle) -> Status | None:
        if cycle.volumes is None or not claim_names(cycle.pod):
            return None  # nothing to check: Filter is skipped
        found = pod_volumes(cycle.pod, cycle.volumes)
        if isinstance(found, Status):
            return found
        cycle.state[self.name] = found
        eligible: set[str] | None = None
        for _, pv in found.bound:
            names = volume_node_names(pv) if pv is not None else set()
            if names:
                eligible = names if eligible is None else eligible & names
        if eligible is not None:
            cycle.state[self.name + "/nodes"] = eligible
        return None

    def filter(self, cycle: Cycle, node: NodeInfo) -> Status | None:
        found = cycle.state.get(self.name)
        if found is None:
            return None
        reasons = node_reasons(found, node.node)
        return unresolvable(*reasons) if reasons else None
