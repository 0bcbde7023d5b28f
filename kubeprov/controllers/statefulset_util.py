"""Pure StatefulSet helpers: stable identities, claims, retention-policy owner references, the
rolling-update order and the status counts. Kept free of I/O so the rules can be unit tested."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

from kubeprov.controllers.claiming import owner_reference
from kubeprov.controllers.history import REVISION_HASH_LABEL
from kubeprov.controllers.podutil import (
    is_running_and_available,
    is_running_and_ready,
    is_terminating,
    phase,
    ready_since,
)

Obj = dict[str, Any]

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


# ---- identity ------------------------------------------------------------------------------

def pod_name(set_name: str, ordinal: int) -> str:
    return f"{set_name}-{ordinal}"


def parent_and_ordinal(name: str) -> tuple[str, int]:
    """``web-3`` -> ("web", 3); a name without an ordinal -> (name, -1)."""
    match = _ORDINAL.match(name)
    if match is None:
        return name, -1
    return match.group(1), int(match.group(2))


def ordinal_of(pod: Obj) -> int:
    return parent_and_ordinal(meta(pod).get("name", ""))[1]


def is_member(sts: Obj, pod: Obj) -> bool:
    """Whether the pod's name makes it one of the set's ordinals."""
    parent, ordinal = parent_and_ordinal(meta(pod).get("name", ""))
    return ordinal >= 0 and parent == meta(sts).get("name")


def start_ordinal(sts: Obj) -> int:
    return int((spec(sts).get("ordinals") or {}).get("start") or 0)


def replicas_of(sts: Obj) -> int:
    value = spec(sts).get("replicas")
    return 1 if value is None else int(value)


def in_ordinal_range(sts: Obj, ordinal: int) -> bool:
    start = start_ordinal(sts)
    return start <= ordinal < start + replicas_of(sts)


def claim_name(template_name: str, set_name: str, ordinal: int) -> str:
    return f"{template_name}-{set_name}-{ordinal}"


def claim_templates(sts: Obj) -> list[Obj]:
    return [t for t in spec(sts).get("volumeClaimTemplates") or [] if meta(t).get("name")]


def set_ref(sts: Obj) -> Obj:
    return owner_reference(sts, "apps/v1", "StatefulSet")


def template_from_revision(revision: Obj) -> Obj:
    """The pod template a ControllerRevision holds (its patch without the ``$patch`` directive)."""
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def new_claim(sts: Obj, template: Obj, ordinal: int, pod: Obj | None = None) -> Obj:
    """The PVC for ``template`` and ``ordinal``: the template plus the set's selector labels."""
    m = meta(sts)
    tmeta = meta(template)
    labels = dict(tmeta.get("labels") or {})
    labels.update(((spec(sts).get("selector") or {}).get("matchLabels")) or {})
    claim: Obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                  "metadata": {"name": claim_name(tmeta["name"], m["name"], ordinal), "namespace": m["namespace"],
                               "labels": labels},
                  "spec": copy.deepcopy(spec(template))}
    if tmeta.get("annotations"):
        claim["metadata"]["annotations"] = dict(tmeta["annotations"])
    refs = desired_claim_refs(claim, sts, pod, ordinal)
    if refs:
        claim["metadata"]["ownerReferences"] = refs
    return claim


def new_pod(sts: Obj, template: Obj, ordinal: int, revision_name: str) -> Obj:
    """A pod for ``ordinal`` from ``template`` (the template of the revision it is made from)."""
    m = meta(sts)
    name = pod_name(m["name"], ordinal)
    tmeta = meta(template)
    labels = dict(tmeta.get("labels") or {})
    labels.update({POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal), REVISION_HASH_LABEL: revision_name})
    pod_spec = copy.deepcopy(spec(template))
    pod_spec["hostname"] = name
    service = spec(sts).get("serviceName")
    if service:
        pod_spec["subdomain"] = service
    claims = {meta(t)["name"]: claim_name(meta(t)["name"], m["name"], ordinal) for t in claim_templates(sts)}
    volumes = [{"name": v, "persistentVolumeClaim": {"claimName": c}} for v, c in claims.items()]
    volumes += [v for v in pod_spec.get("volumes") or [] if v.get("name") not in claims]
    if volumes:
        pod_spec["volumes"] = volumes
    pod_meta: Obj = {"name": name, "namespace": m["namespace"], "labels": labels, "ownerReferences": [set_ref(sts)]}
    for field in ("annotations", "finalizers"):
        if tmeta.get(field):
            pod_meta[field] = copy.deepcopy(tmeta[field])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": pod_spec}


def identity_labels_match(sts: Obj, pod: Obj) -> bool:
    labels = meta(pod).get("labels") or {}
    name = meta(pod).get("name", "")
    return labels.get(POD_NAME_LABEL) == name and labels.get(POD_INDEX_LABEL) == str(ordinal_of(pod))


def pod_revision(pod: Obj) -> str:
    return (meta(pod).get("labels") or {}).get(REVISION_HASH_LABEL, "")


# ---- retention policy ------------------------------------------------------------------------

def retention_policy(sts: Obj) -> tuple[str, str]:
    """(whenDeleted, whenScaled), each ``Retain`` or ``Delete``."""
    policy = spec(sts).get("persistentVolumeClaimRetentionPolicy") or {}
    return policy.get("whenDeleted") or "Retain", policy.get("whenScaled") or "Retain"


def desired_claim_refs(claim: Obj, sts: Obj, pod: Obj | None, ordinal: int) -> list[Obj]:
    """The claim's ownerReferences under the set's retention policy (Kubernetes 1.32): the set owns the
    claim when ``whenDeleted: Delete`` and the pod is in range; the pod owns it when ``whenScaled: Delete``
    and the pod was scaled away. References to anything else are kept as they are."""
    ours = {meta(sts).get("uid")}
    if pod is not None:
        ours.add(meta(pod).get("uid"))
    refs = [r for r in meta(claim).get("ownerReferences") or [] if r.get("uid") not in ours]
    when_deleted, when_scaled = retention_policy(sts)
    scaled_down = not in_ordinal_range(sts, ordinal)
    if when_scaled == "Delete" and scaled_down:
        if pod is not None and meta(pod).get("uid"):
            refs.append(owner_reference(pod, "v1", "Pod"))
    elif when_deleted == "Delete":
        refs.append(set_ref(sts))
    return refs


# ---- update order ------------------------------------------------------------------------------

def rolling_update_partition(sts: Obj) -> int:
    strategy = spec(sts).get("updateStrategy") or {}
    return int((strategy.get("rollingUpdate") or {}).get("partition") or 0)


def update_strategy(sts: Obj) -> str:
    return (spec(sts).get("updateStrategy") or {}).get("type") or "RollingUpdate"


def next_update_target(ordinals: list[int], revisions: dict[int, str], healthy: dict[int, bool],
                       terminating: dict[int, bool], update_revision: str, first_ordinal: int,
                       partition: int) -> tuple[str, int | None]:
    """What a RollingUpdate does next, highest ordinal first, never below ``first_ordinal + partition``:
    ``("delete", n)`` for the highest pod not at the update revision; ``("wait", n)`` when a pod on the way is
    not healthy yet; ``("done", None)`` when every ordinal at or above the partition is updated and healthy."""
    floor = first_ordinal + partition
    for ordinal in sorted(ordinals, reverse=True):
        if ordinal < floor:
            break
        if revisions.get(ordinal) != update_revision and not terminating.get(ordinal):
            return "delete", ordinal
        if not healthy.get(ordinal) or terminating.get(ordinal):
            return "wait", ordinal
    return "done", None


def revision_for_new_pod(sts: Obj, ordinal: int, current_replicas: int) -> str:
    """``current`` or ``update``: which revision a newly created pod gets (below the partition: current)."""
    if update_strategy(sts) != "RollingUpdate":
        return "update"
    rolling = (spec(sts).get("updateStrategy") or {}).get("rollingUpdate")
    limit = current_replicas if rolling is None else rolling_update_partition(sts)
    return "current" if ordinal < start_ordinal(sts) + limit else "update"


# ---- pod state -----------------------------------------------------------------------------------

def available_in(pod: Obj, min_ready_seconds: int, now: float) -> float | None:
    """Seconds until a ready pod counts as available (None when it is not ready)."""
    if not is_running_and_ready(pod):
        return None
    return max(0.0, ready_since(pod) + min_ready_seconds - now)


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


def now() -> float:
    return datetime.now(UTC).timestamp()


# ---- status --------------------------------------------------------------------------------------

def compute_status(sts: Obj, pods: list[Obj], current_revision: str, update_revision: str,
                   collision_count: int, at: float) -> Obj:
    """The set's status from its pods, as Kubernetes counts it (a rolling update whose pods are all updated
    and ready makes the update revision current)."""
    min_ready = int(spec(sts).get("minReadySeconds") or 0)
    status: Obj = {"observedGeneration": meta(sts).get("generation", 0), "replicas": 0, "readyReplicas": 0,
                   "currentReplicas": 0, "updatedReplicas": 0, "availableReplicas": 0,
                   "currentRevision": current_revision, "updateRevision": update_revision,
                   "collisionCount": collision_count}
    for pod in pods:
        if phase(pod):
            status["replicas"] += 1
        if is_running_and_ready(pod):
            status["readyReplicas"] += 1
            if is_running_and_available(pod, min_ready, at):
                status["availableReplicas"] += 1
        if phase(pod) and not is_terminating(pod):
            revision = pod_revision(pod)
            if revision == current_revision:
                status["currentReplicas"] += 1
            if revision == update_revision:
                status["updatedReplicas"] += 1
    if update_strategy(sts) == "RollingUpdate" and status["updatedReplicas"] == status["replicas"] \
            and status["readyReplicas"] == status["replicas"]:
        status["currentReplicas"] = status["updatedReplicas"]
        status["currentRevision"] = update_revision
    return status
