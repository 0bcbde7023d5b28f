"""The disruption controller: the status of every PodDisruptionBudget, which the eviction API obeys.

As in Kubernetes: ``expectedPods`` is the number of matching pods, or — when ``maxUnavailable`` is used
or ``minAvailable`` is a percentage — the sum of the ``spec.replicas`` of the pods' controllers
(Deployment through its ReplicaSet, ReplicaSet, StatefulSet, ReplicationController); percentages round
up; ``currentHealthy`` counts Ready pods that are not being deleted nor recently evicted (listed in
``disruptedPods`` less than 2 minutes ago); ``disruptionsAllowed`` is ``currentHealthy - desiredHealthy``
(never below 0, and 0 when no pods are expected) with the ``DisruptionAllowed`` condition
(``SufficientPods``/``InsufficientPods``). The API server's ``pods/eviction`` refuses an eviction with
429 while ``disruptionsAllowed`` is 0. When the expected count cannot be worked out (a controller is
missing), the budget fails safe: 0 disruptions, reason ``SyncFailed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubeprov.api import labels
from kubeprov.controllers import intstr
from kubeprov.controllers.base import Controller, Obj, key_of, meta, split_key
from kubeprov.controllers.podutil import controller_ref, is_ready
from kubeprov.controllers.timestamps import format_time, parse_datetime

DELETION_TIMEOUT = timedelta(minutes=2)
CONDITION = "DisruptionAllowed"
SUFFICIENT, INSUFFICIENT, SYNC_FAILED = "SufficientPods", "InsufficientPods", "SyncFailed"


class ExpectedCountError(Exception):
    """The pods' controllers (and so the expected count) could not be found."""


def scaled_value(value: int | str, total: int, round_up: bool) -> int:
    """``GetScaledValueFromIntOrPercent``; an invalid value is an :class:`ExpectedCountError`."""
    try:
        return intstr.scaled_value(value, total, round_up)
    except ValueError as exc:  # the budget cannot be worked out: it fails safe
        raise ExpectedCountError(str(exc)) from exc


def uses_scale(pdb: Obj) -> bool:
    """Whether the expected count comes from the controllers' scale rather than the pods."""
    spec = pdb.get("spec") or {}
    if spec.get("maxUnavailable") is not None:
        return True
    min_available = spec.get("minAvailable")
    return isinstance(min_available, str) and min_available.endswith("%")


def expected_and_desired(pdb: Obj, pod_count: int, scale: int) -> tuple[int, int]:
    """(expectedPods, desiredHealthy); ``scale`` is the controllers' replicas (used when :func:`uses_scale`)."""
    spec = pdb.get("spec") or {}
    if spec.get("maxUnavailable") is not None:
        unavailable = scaled_value(spec["maxUnavailable"], scale, True)
        return scale, max(0, scale - unavailable)
    min_available = spec.get("minAvailable")
    if min_available is None:
        return pod_count, 0
    if uses_scale(pdb):
        return scale, scaled_value(min_available, scale, True)
    return pod_count, scaled_value(min_available, pod_count, True)


@dataclass
class DisruptedPods:
    """``disruptedPods`` still in force, the pods gone stale (evicted but never deleted), and when to look again."""

    kept: dict[str, str]
    stale: list[Obj]
    recheck: datetime | None


def disrupted_pods(pdb: Obj, pods: list[Obj], now: datetime) -> DisruptedPods:
    """``buildDisruptedPodMap``: entries of pods being deleted are dropped, entries older than 2 minutes
    (the pod should have been deleted by then) are dropped as stale."""
    recorded = (pdb.get("status") or {}).get("disruptedPods") or {}
    kept: dict[str, str] = {}
    stale: list[Obj] = []
    recheck: datetime | None = None
    for pod in pods:
        name = meta(pod).get("name", "")
        if meta(pod).get("deletionTimestamp") or name not in recorded:
            continue
        when = parse_datetime(recorded[name])
        if when is None:
            continue
        expires = when + DELETION_TIMEOUT
        if expires < now:
            stale.append(pod)
            continue
        kept[name] = recorded[name]
        recheck = expires if recheck is None or expires < recheck else recheck
    return DisruptedPods(kept, stale, recheck)


def count_healthy(pods: list[Obj], disrupted: dict[str, str]) -> int:
    return sum(1 for p in pods if not meta(p).get("deletionTimestamp") and meta(p).get("name") not in disrupted
               and is_ready(p))


def allowed(current_healthy: int, desired_healthy: int, expected: int) -> int:
    return 0 if expected <= 0 else max(0, current_healthy - desired_healthy)


def build_status(pdb: Obj, *, current_healthy: int, desired_healthy: int, expected: int,
                 disrupted: dict[str, str], now: datetime, failure: str = "") -> Obj:
    """The new status; the condition keeps its transition time while its status stays."""
    disruptions = 0 if failure else allowed(current_healthy, desired_healthy, expected)
    if failure:
        condition = {"type": CONDITION, "status": "False", "reason": SYNC_FAILED, "message": failure}
    elif disruptions > 0:
        condition = {"type": CONDITION, "status": "True", "reason": SUFFICIENT, "message": ""}
    else:
        condition = {"type": CONDITION, "status": "False", "reason": INSUFFICIENT, "message": ""}
    old = pdb.get("status") or {}
    previous = next((c for c in old.get("conditions") or [] if c.get("type") == CONDITION), None)
    generation = int(meta(pdb).get("generation") or 0)
    condition["observedGeneration"] = generation
    keep_time = previous is not None and previous.get("status") == condition["status"]
    condition["lastTransitionTime"] = previous["lastTransitionTime"] if keep_time and previous.get(
        "lastTransitionTime") else format_time(now)
    others = [c for c in old.get("conditions") or [] if c.get("type") != CONDITION]
    status: Obj = {"observedGeneration": generation, "disruptionsAllowed": disruptions,
                   "currentHealthy": current_healthy, "desiredHealthy": desired_healthy, "expectedPods": expected,
                   "conditions": [*others, condition]}
    if disrupted:
        status["disruptedPods"] = dict(disrupted)
    return status


def _strip(value: Any) -> Any:
    """Without empty values, which the server may leave out."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def status_equal(a: Obj, b: Obj) -> bool:
    return _strip(a) == _strip(b)


def _owned(obj: Obj | None, ref: Obj) -> Obj | None:
    """``obj`` if it is the very object ``ref`` names (same uid)."""
    return obj if obj is not None and meta(obj).get("uid") == ref.get("uid") else None


# ---- the controller ----------------------------------------------------------------------


class DisruptionController(Controller):
    name = "disruption"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pdbs = self.informer("policy/v1", "poddisruptionbudgets")
        self.pods = self.informer("v1", "pods")
        self.replicasets = self.informer("apps/v1", "replicasets")
        self.deployments = self.informer("apps/v1", "deployments")
        self.statefulsets = self.informer("apps/v1", "statefulsets")
        self.rcs = self.informer("v1", "replicationcontrollers")
        self.pdbs.add_handler(on_add=self._pdb, on_update=lambda _o, new: self._pdb(new), on_delete=self._pdb)
        self.pods.add_handler(on_add=self._pod, on_update=self._pod_updated, on_delete=self._pod)
        for informer in (self.replicasets, self.deployments, self.statefulsets, self.rcs):
            informer.add_handler(on_update=self._scale_changed)

    # ---- events ------------------------------------------------------------------------------

    def _pdb(self, pdb: Obj) -> None:
        if self.wants(meta(pdb).get("namespace", "")):
            self.enqueue(key_of(pdb))

    def _pdbs_of(self, pod: Obj) -> list[str]:
        namespace = meta(pod).get("namespace", "")
        if not self.wants(namespace):
            return []
        pod_labels = meta(pod).get("labels") or {}
        keys = []
        for pdb in self.pdbs.list(namespace):
            try:
                selector = labels.from_label_selector((pdb.get("spec") or {}).get("selector"))
            except labels.SelectorError:
                continue
            if selector.matches(pod_labels):
                keys.append(key_of(pdb))
        return keys

    def _pod(self, pod: Obj) -> None:
        for key in self._pdbs_of(pod):
            self.enqueue(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") != meta(new).get("resourceVersion"):
            for key in set(self._pdbs_of(old)) | set(self._pdbs_of(new)):
                self.enqueue(key)

    def _scale_changed(self, old: Obj, new: Obj) -> None:
        if (old.get("spec") or {}).get("replicas") == (new.get("spec") or {}).get("replicas"):
            return
        namespace = meta(new).get("namespace", "")
        uid = meta(new).get("uid")
        for pod in self.pods.list(namespace):
            ref = controller_ref(pod)
            if ref is None:
                continue
            if ref.get("uid") == uid:
                self._pod(pod)
            elif ref.get("kind") == "ReplicaSet":
                rs = self.replicasets.get(namespace, ref.get("name", ""))
                owner = controller_ref(rs) if rs is not None else None
                if owner is not None and owner.get("uid") == uid:
                    self._pod(pod)

    # ---- expected count ------------------------------------------------------------------------

    def _scale_of(self, namespace: str, ref: Obj) -> tuple[str, int] | None:
        """(uid, replicas) of the controller a pod's controllerRef names (a ReplicaSet's Deployment first)."""
        kind, api_version = ref.get("kind"), str(ref.get("apiVersion", ""))
        group = api_version.split("/")[0] if "/" in api_version else ""
        informers = {("ReplicaSet", "apps"): self.replicasets, ("StatefulSet", "apps"): self.statefulsets,
                     ("ReplicationController", ""): self.rcs}
        informer = informers.get((str(kind), group))
        if informer is None:
            return None
        found = _owned(informer.get(namespace, ref.get("name", "")), ref)
        if found is not None and kind == "ReplicaSet":
            owner = controller_ref(found)
            if owner is not None and owner.get("kind") == "Deployment":
                found = _owned(self.deployments.get(namespace, owner.get("name", "")), owner)
        if found is None:
            return None
        replicas = (found.get("spec") or {}).get("replicas")
        return str(meta(found).get("uid")), int(1 if replicas is None else replicas)

    def expected_scale(self, pdb: Obj, pods: list[Obj]) -> tuple[int, list[str]]:
        """Sum of the pods' controllers' replicas (each controller once), and the unmanaged pods."""
        namespace = meta(pdb).get("namespace", "")
        scales: dict[str, int] = {}
        unmanaged: list[str] = []
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None:
                unmanaged.append(meta(pod).get("name", ""))
                continue
            if ref.get("uid") in scales:
                continue
            found = self._scale_of(namespace, ref)
            if found is None:
                raise ExpectedCountError(f"found no controllers for pod {meta(pod).get('name', '')!r}")
            scales[found[0]] = found[1]
            scales.setdefault(str(ref.get("uid")), 0)
        return sum(scales.values()), unmanaged

    # ---- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        pdb = self.pdbs.get(namespace, name)
        if pdb is None:
            return
        now = datetime.now(UTC)
        try:
            selector = labels.from_label_selector((pdb.get("spec") or {}).get("selector"))
        except labels.SelectorError as exc:
            await self._write(pdb, build_status(pdb, current_healthy=0, desired_healthy=0, expected=0, disrupted={},
                                                now=now, failure=str(exc)))
            return
        pods = [p for p in self.pods.list(namespace) if selector.matches(meta(p).get("labels") or {})]
        if not pods:
            self.event(pdb, "Normal", "NoPods", "No matching pods found")
        try:
            scale, unmanaged = self.expected_scale(pdb, pods) if uses_scale(pdb) else (0, [])
        except ExpectedCountError as exc:
            self.event(pdb, "Warning", "CalculateExpectedPodCountFailed",
                       f"Failed to calculate the number of expected pods: {exc}")
            await self._write(pdb, build_status(pdb, current_healthy=0, desired_healthy=0, expected=0, disrupted={},
                                                now=now, failure=str(exc)))
            return
        if unmanaged:
            self.event(pdb, "Warning", "UnmanagedPods",
                       f"Pods selected by this PodDisruptionBudget (selector: {selector}) were found to be "
                       "unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may "
                       "result in undefined behavior. To account for these pods please set \".spec.minAvailable\" "
                       "field of the PDB to an integer value.")
        expected, desired = expected_and_desired(pdb, len(pods), scale)
        disrupted = disrupted_pods(pdb, pods, now)
        for pod in disrupted.stale:
            self.event(pod, "Warning", "NotDeleted",
                       f"Pod was expected by PDB {namespace}/{name} to be deleted but it wasn't")
        status = build_status(pdb, current_healthy=count_healthy(pods, disrupted.kept), desired_healthy=desired,
                              expected=expected, disrupted=disrupted.kept, now=now)
        await self._write(pdb, status)
        if disrupted.recheck is not None:
            self.queue.add_after(key, max(0.0, (disrupted.recheck - now).total_seconds()) + 0.5)

    async def _write(self, pdb: Obj, status: Obj) -> None:
        if status_equal(pdb.get("status") or {}, status):
            return
        await self.write_status(pdb, status, "policy/v1", "poddisruptionbudgets", conflict_retry=0.1)
