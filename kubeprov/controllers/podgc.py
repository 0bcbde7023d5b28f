"""The pod garbage collector: removes pods nobody else will ever finish, as kube-controller-manager's podgc.

Every ``period`` seconds (20 s in Kubernetes) it deletes, at once and with grace 0:

* **orphaned pods**: bound to a Node that no longer exists (checked again with a GET, so a node
  the informer has not seen yet is not mistaken for a deleted one). They are first marked
  ``Failed`` with a ``DisruptionTarget`` condition (reason ``DeletionByPodGC``) as in 1.32;
* **unscheduled terminating pods**: being deleted but never bound, so no kubelet will finish them;
* **terminated pods over the threshold**: when more than ``terminated_pod_gc_threshold`` pods are
  Succeeded or Failed, the oldest of them beyond the threshold (0 turns this off).
"""

from __future__ import annotations

from typing import Any

from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller, Obj, meta
from kubeprov.controllers.timestamps import now_text

GC_KEY = "gc"
DEFAULT_PERIOD = 20.0
DEFAULT_THRESHOLD = 12500


def is_terminated(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def terminated_to_delete(pods: list[Obj], threshold: int) -> list[Obj]:
    """The oldest terminated pods beyond ``threshold`` (by creation time, then name)."""
    if threshold <= 0:
        return []
    done = [p for p in pods if is_terminated(p) and not meta(p).get("deletionTimestamp")]
    excess = len(done) - threshold
    if excess <= 0:
        return []
    done.sort(key=lambda p: (meta(p).get("creationTimestamp", ""), meta(p).get("namespace", ""),
                             meta(p).get("name", "")))
    return done[:excess]


def disruption_status(pod: Obj, message: str) -> Obj:
    """The status podgc writes before deleting an orphan: Failed, with the DisruptionTarget condition."""
    status = dict(pod.get("status") or {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
    conditions.append({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                       "message": message, "lastTransitionTime": now_text()})
    status["conditions"] = conditions
    if not is_terminated(pod):
        status["phase"] = "Failed"
    return status


class PodGCController(Controller):
    name = "podgc"

    @classmethod
    def options(cls, config: Any) -> dict[str, Any] | None:
        return {"period": float(config.pod_gc_period),
                "terminated_pod_gc_threshold": int(config.terminated_pod_gc_threshold)}

    def __init__(self, *args: Any, period: float = DEFAULT_PERIOD,
                 terminated_pod_gc_threshold: int = DEFAULT_THRESHOLD, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.period = period
        self.threshold = terminated_pod_gc_threshold
        self.pods = self.informer("v1", "pods")
        self.nodes = self.informer("v1", "nodes")
        self.every(period, lambda: self.enqueue(GC_KEY), at_start=True)

    def _ours(self) -> list[Obj]:
        return [p for p in self.pods.list() if self.wants(meta(p).get("namespace", ""))]

    async def sync(self, key: str) -> None:
        pods = self._ours()
        for pod in terminated_to_delete(pods, self.threshold):
            await self._delete(pod, "terminated pods over the threshold")
        await self._collect_orphans(pods)
        for pod in pods:
            if meta(pod).get("deletionTimestamp") and not (pod.get("spec") or {}).get("nodeName"):
                await self._delete(pod, "unscheduled and terminating")

    async def _collect_orphans(self, pods: list[Obj]) -> None:
        known = {meta(n).get("name") for n in self.nodes.list()}
        missing: dict[str, bool] = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName") or ""
            if not node or node in known:
                continue
            if node not in missing:
                missing[node] = await self._node_gone(node)
            if not missing[node]:
                continue
            try:
                await self.client.update("v1", "pods", {**pod, "status": disruption_status(
                    pod, "PodGC: node no longer exists")}, meta(pod)["namespace"], subresource="status")
            except StatusError as exc:
                if exc.code == 404:
                    continue
                if exc.code != 409:  # a newer version: the delete below still applies
                    raise
            await self._delete(pod, f"its node {node} no longer exists")

    async def _node_gone(self, name: str) -> bool:
        try:
            await self.client.get("v1", "nodes", name)
        except StatusError as exc:
            if exc.code == 404:
                return True
            raise
        return False

    async def _delete(self, pod: Obj, why: str) -> None:
        m = meta(pod)
        try:
            await self.client.delete("v1", "pods", m["name"], m["namespace"], grace_period_seconds=0)
        except StatusError as exc:
            if exc.code != 404:
                raise
            return
        self.log.info("podgc: deleted pod %s/%s (%s)", m["namespace"], m["name"], why)
