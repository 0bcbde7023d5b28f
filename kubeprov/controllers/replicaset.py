"""The ReplicaSet controller: keep ``spec.replicas`` pods matching the selector, owned by the set.

As in Kubernetes: pods are claimed (matching orphans adopted, owned pods that stopped matching
released), missing pods are created from the template in slow-start batches (1, 2, 4, ...) and
recorded as expectations so the controller does not create again before its informer saw them,
surplus pods are deleted in Kubernetes' rank order, and the status counts are written.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime
from typing import Any

from kubeprov.api import labels
from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller, Obj, key_of, meta
from kubeprov.controllers.claiming import RefManager, owner_reference
from kubeprov.controllers.expectations import Expectations
from kubeprov.controllers.podutil import (
    controller_ref,
    is_active,
    is_available,
    is_ready,
    parse_time,
    ready_since,
)
from kubeprov.controllers.timestamps import now_text

BURST_REPLICAS = 500
SLOW_START_INITIAL_BATCH = 1


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_rank(pod: Obj) -> tuple:
    """Sort key: pods earlier in this order are deleted first (Kubernetes' ActivePods ordering)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ready = is_ready(pod)
    since = ready_since(pod) if ready else 0.0
    restarts = sum(int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or [])
    created = parse_time(meta(pod).get("creationTimestamp"))
    return (
        1 if spec.get("nodeName") else 0,  # unscheduled first
        _PHASE_RANK.get(status.get("phase", ""), 0),  # pending < unknown < running
        1 if ready else 0,  # not ready first
        -since,  # ready for less time first
        -restarts,  # more restarts first
        -created if created else float("-inf"),  # newer first
    )


class ReplicaSetController(Controller):
    name = "replicaset"
    api_version = "apps/v1"
    resource = "replicasets"
    kind = "ReplicaSet"

    def __init__(self, *args: Any, burst_replicas: int = BURST_REPLICAS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.burst_replicas = burst_replicas
        self.expectations = Expectations()
        self.sets = self.informer(self.api_version, self.resource)
        self.pods = self.informer("v1", "pods")
        self.sets.add_handler(on_add=self._set_changed, on_update=lambda _old, new: self._set_changed(new),
                              on_delete=self._set_deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)

    # ---- selectors -------------------------------------------------------------------------

    def selector(self, rs: Obj) -> labels.Selector:
        return labels.from_label_selector((rs.get("spec") or {}).get("selector"))

    # ---- event handlers --------------------------------------------------------------------

    def _set_changed(self, rs: Obj) -> None:
        if self.wants(meta(rs).get("namespace", "")):
            self.enqueue(key_of(rs))

    def _set_deleted(self, rs: Obj) -> None:
        if self.wants(meta(rs).get("namespace", "")):
            self.expectations.forget(key_of(rs))
            self.enqueue(key_of(rs))

    def _owner_key(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != self.kind or ref.get("apiVersion", "").split("/")[0] != \
                self.api_version.split("/")[0]:
            return None
        namespace = meta(pod).get("namespace", "")
        rs = self.sets.get(namespace, ref.get("name", ""))
        if rs is None or meta(rs).get("uid") != ref.get("uid"):
            return None
        return key_of(rs)

    def _matching_sets(self, pod: Obj) -> list[str]:
        namespace = meta(pod).get("namespace", "")
        pod_labels = meta(pod).get("labels") or {}
        keys = []
        for rs in self.sets.list(namespace):
            try:
                if self.selector(rs).matches(pod_labels) and not self.selector(rs).is_empty():
                    keys.append(key_of(rs))
            except labels.SelectorError:
                continue
        return keys

    def _pod_added(self, pod: Obj) -> None:
        if not self.wants(meta(pod).get("namespace", "")):
            return
        if meta(pod).get("deletionTimestamp"):
            self._pod_deleted(pod)
            return
        owner = self._owner_key(pod)
        if owner is not None:
            self.expectations.creation_observed(owner)
            self.enqueue(owner)
        elif controller_ref(pod) is None:
            for key in self._matching_sets(pod):
                self.enqueue(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if not self.wants(meta(new).get("namespace", "")):
            return
        if meta(new).get("resourceVersion") == meta(old).get("resourceVersion"):
            return
        if meta(new).get("deletionTimestamp") and not meta(old).get("deletionTimestamp"):
            self._pod_deleted(new)
            return
        labels_changed = meta(old).get("labels") != meta(new).get("labels")
        old_owner, new_owner = self._owner_key(old), self._owner_key(new)
        if old_owner is not None and old_owner != new_owner:
            self.enqueue(old_owner)
        if new_owner is not None:
            self.enqueue(new_owner)
            return
        if controller_ref(new) is None and (labels_changed or controller_ref(old) is not None):
            for key in self._matching_sets(new):
                self.enqueue(key)
        elif labels_changed or old.get("status") != new.get("status"):
            for key in self._matching_sets(new):
                self.enqueue(key)

    def _pod_deleted(self, pod: Obj) -> None:
        if not self.wants(meta(pod).get("namespace", "")):
            return
        owner = self._owner_key(pod)
        if owner is not None:
            self.expectations.deletion_observed_of(owner, key_of(pod))
            self.enqueue(owner)

    # ---- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        rs = self.sets.get(namespace, name)
        if rs is None:
            self.expectations.forget(key)
            return
        selector = self.selector(rs)
        needs_sync = self.expectations.satisfied(key) and not meta(rs).get("deletionTimestamp")
        pods = await self.claim_pods(rs, selector)
        manage_error: Exception | None = None
        if needs_sync:
            try:
                await self.manage_replicas(rs, pods, key)
            except Exception as exc:
                manage_error = exc
        await self.update_status(rs, pods, selector, manage_error)
        if manage_error is not None:
            raise manage_error

    async def claim_pods(self, rs: Obj, selector: labels.Selector) -> list[Obj]:
        """Active pods owned by ``rs`` after adopting matching orphans and releasing non-matching ones."""
        manager = RefManager(self.client, rs, owner_api_version=self.api_version, owner_resource=self.resource,
                             owner_kind=self.kind, api_version="v1", resource="pods", log=self.log)
        active = [pod for pod in self.pods.list(meta(rs).get("namespace", "")) if is_active(pod)]
        return await manager.claim(active, lambda pod: not selector.is_empty() and
                                   selector.matches(meta(pod).get("labels") or {}))

    def owner_reference(self, rs: Obj) -> Obj:
        return owner_reference(rs, self.api_version, self.kind)

    async def manage_replicas(self, rs: Obj, pods: list[Obj], key: str) -> None:
        wanted = int((rs.get("spec") or {}).get("replicas", 1) or 0)
        diff = len(pods) - wanted
        if diff < 0:
            count = min(-diff, self.burst_replicas)
            self.expectations.expect(key, add=count)
            try:
                await self._slow_start(count, lambda: self._create_pod(rs, key))
            except _SlowStartError as exc:
                # the failed and never-attempted creates will not be observed
                self.expectations.lower(key, add=count - exc.created)
                raise
        elif diff > 0:
            count = min(diff, self.burst_replicas)
            victims = sorted(pods, key=deletion_rank)[:count]
            self.expectations.expect_deletions(key, [key_of(p) for p in victims])
            results = await asyncio.gather(*(self._delete_pod(rs, key, p) for p in victims), return_exceptions=True)
            errors = [r for r in results if isinstance(r, Exception)]
            if errors:
                raise errors[0]

    async def _slow_start(self, count: int, create: Any) -> int:
        """Create in batches of 1, 2, 4, ... stopping at the first batch with a failure."""
        done, batch = 0, SLOW_START_INITIAL_BATCH
        while done < count:
            size = min(batch, count - done)
            results = await asyncio.gather(*(create() for _ in range(size)), return_exceptions=True)
            ok = sum(1 for r in results if not isinstance(r, Exception))
            done += ok
            errors = [r for r in results if isinstance(r, Exception)]
            if errors:
                raise _SlowStartError(done, errors[0])
            batch *= 2
        return done

    async def _create_pod(self, rs: Obj, key: str) -> None:
        m = meta(rs)
        template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        tmeta = template.get("metadata") or {}
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"generateName": f"{m['name']}-", "namespace": m["namespace"],
                            "labels": tmeta.get("labels") or {}, "annotations": tmeta.get("annotations") or {},
                            "finalizers": tmeta.get("finalizers") or [],
                            "ownerReferences": [self.owner_reference(rs)]},
               "spec": template.get("spec") or {}}
        for field in ("annotations", "finalizers"):
            if not pod["metadata"][field]:
                del pod["metadata"][field]
        try:
            created = await self.client.create("v1", "pods", pod, m["namespace"])
        except StatusError as exc:
            if exc.code == 403 and "terminat" in exc.message:
                return  # the namespace is going away: nothing to create
            self.event(rs, "Warning", "FailedCreate", f"Error creating: {exc.message}")
            raise
        self.event(rs, "Normal", "SuccessfulCreate", f"Created pod: {meta(created).get('name')}")

    async def _delete_pod(self, rs: Obj, key: str, pod: Obj) -> None:
        try:
            await self.client.delete("v1", "pods", meta(pod)["name"], meta(pod)["namespace"])
        except StatusError as exc:
            self.expectations.deletion_observed_of(key, key_of(pod))
            if exc.code == 404:
                return
            self.event(rs, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
            raise
        self.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {meta(pod)['name']}")

    async def update_status(self, rs: Obj, pods: list[Obj], selector: labels.Selector,
                            manage_error: Exception | None) -> None:
        spec = rs.get("spec") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = datetime.now(UTC).timestamp()
        fully = sum(1 for p in pods if all((meta(p).get("labels") or {}).get(k) == v
                                            for k, v in template_labels.items()))
        ready = sum(1 for p in pods if is_ready(p))
        available = sum(1 for p in pods if is_available(p, min_ready, now))
        old_status = rs.get("status") or {}
        status: Obj = {k: v for k, v in old_status.items() if k == "conditions"}
        status.update({"replicas": len(pods), "fullyLabeledReplicas": fully, "readyReplicas": ready,
                       "availableReplicas": available, "observedGeneration": meta(rs).get("generation", 0)})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
        if manage_error is not None and isinstance(manage_error, _SlowStartError | StatusError):
            wanted = int(spec.get("replicas", 1) or 0)
            reason = "FailedCreate" if len(pods) < wanted else "FailedDelete"
            conditions.append({"type": "ReplicaFailure", "status": "True", "reason": reason,
                               "message": str(manage_error),
                               "lastTransitionTime": now_text()})
        if conditions:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        if _nonzero(status) != _nonzero(old_status) or "replicas" not in old_status:
            await self.write_status(rs, status, self.api_version, self.resource, conflict_retry=0.05)
        if min_ready > 0 and ready != available:
            self.queue.add_after(key_of(rs), float(min_ready))


def _nonzero(status: Obj) -> Obj:
    return {k: v for k, v in status.items() if v not in (0, None, [], {})}


class _SlowStartError(Exception):
    def __init__(self, created: int, cause: Exception) -> None:
        super().__init__(str(cause))
        self.created = created
        self.cause = cause


class ReplicationControllerController(ReplicaSetController):
    """The same logic for ReplicationControllers, whose selector is a plain label map
    (defaulting to the template's labels, as the API server sets it)."""

    name = "replicationcontroller"
    api_version = "v1"
    resource = "replicationcontrollers"
    kind = "ReplicationController"

    def selector(self, rs: Obj) -> labels.Selector:
        spec = rs.get("spec") or {}
        selector = spec.get("selector") or ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        if not selector:
            return labels.Selector.nothing()
        return labels.selector_from_set(selector)
