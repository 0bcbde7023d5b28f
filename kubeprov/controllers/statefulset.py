"""The StatefulSet controller: pods with stable names, hostnames and claims, made and replaced in order.

As in Kubernetes 1.32: pod ``<set>-<n>`` for each ordinal, its claims ``<template>-<set>-<n>`` created
first; with ``OrderedReady`` one pod at a time (each waits for its predecessor to be Running and Ready
for ``minReadySeconds``), scale-down from the highest ordinal, one at a time; ``Parallel`` does all at
once. The template history lives in ControllerRevisions (``history.py``); ``RollingUpdate`` replaces
pods from the highest ordinal down to the partition, one at a time, each waiting for the previous one
to be healthy; ``OnDelete`` only gives re-created pods the new revision. Failed pods are deleted and
made again with the same name and claims. Claims get owner references per
``persistentVolumeClaimRetentionPolicy`` so the garbage collector deletes them when asked to.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeprov.api import labels
from kubeprov.api.status import StatusError
from kubeprov.controllers import history
from kubeprov.controllers import statefulset_util as su
from kubeprov.controllers.base import Controller, Obj, key_of, meta
from kubeprov.controllers.claiming import RefManager, controlled_by
from kubeprov.controllers.podutil import controller_ref

APPS = "apps/v1"
KIND = "StatefulSet"


class StatefulSetController(Controller):
    name = "statefulset"
    conflict_retry = 0.1  # our informers have not seen our own last write yet: look again shortly

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sets = self.informer(APPS, "statefulsets")
        self.pods = self.informer("v1", "pods")
        self.claims = self.informer("v1", "persistentvolumeclaims")
        self.revisions = self.informer(APPS, "controllerrevisions")
        self.sets.add_handler(on_add=self._set_changed, on_update=lambda _o, n: self._set_changed(n),
                              on_delete=self._set_changed)
        self.pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated, on_delete=self._pod_changed)
        self.revisions.add_handler(on_add=self._owned_changed, on_delete=self._owned_changed)

    # ---- event handlers ----------------------------------------------------------------------

    def _set_changed(self, sts: Obj) -> None:
        if self.wants(meta(sts).get("namespace", "")):
            self.enqueue(key_of(sts))

    def _owner_key(self, obj: Obj) -> str | None:
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != KIND:
            return None
        sts = self.sets.get(meta(obj).get("namespace", ""), ref.get("name", ""))
        if sts is None or meta(sts).get("uid") != ref.get("uid"):
            return None
        return key_of(sts)

    def _owned_changed(self, obj: Obj) -> None:
        if not self.wants(meta(obj).get("namespace", "")):
            return
        owner = self._owner_key(obj)
        if owner is not None:
            self.enqueue(owner)

    def _pod_changed(self, pod: Obj) -> None:
        if not self.wants(meta(pod).get("namespace", "")):
            return
        owner = self._owner_key(pod)
        if owner is not None:
            self.enqueue(owner)
        elif controller_ref(pod) is None:
            for sts in self._matching_sets(pod):
                self.enqueue(key_of(sts))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        old_owner = self._owner_key(old)
        if old_owner is not None and old_owner != self._owner_key(new):
            self.enqueue(old_owner)
        self._pod_changed(new)

    def _matching_sets(self, pod: Obj) -> list[Obj]:
        found = []
        for sts in self.sets.list(meta(pod).get("namespace", "")):
            selector = self._selector(sts)
            if not selector.is_empty() and selector.matches(meta(pod).get("labels") or {}):
                found.append(sts)
        return found

    @staticmethod
    def _selector(sts: Obj) -> labels.Selector:
        try:
            return labels.from_label_selector(su.spec(sts).get("selector"))
        except labels.SelectorError:
            return labels.Selector.nothing()

    # ---- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        cached = self.sets.get(namespace, name)
        if cached is None:
            return
        sts = copy.deepcopy(cached)
        selector = self._selector(sts)
        if selector.is_empty():
            self.event(sts, "Warning", "SelectingAll", "This statefulset is selecting all pods. A non-empty "
                                                        "selector is required.")
            return
        pods = await self._claim_pods(sts, selector)
        revisions = self._owned_revisions(sts)
        current, update, collision_count = await self._revisions(sts, revisions)
        status = su.compute_status(sts, pods, meta(current)["name"], meta(update)["name"], collision_count, su.now())
        if not meta(sts).get("deletionTimestamp"):
            await self._reconcile(sts, pods, current, update, status)
        await self._write_status(sts, status)
        await self._truncate_history(sts, pods, current, update)
        self._requeue_for_availability(sts, pods)

    # ---- pods --------------------------------------------------------------------------------

    async def _claim_pods(self, sts: Obj, selector: labels.Selector) -> list[Obj]:
        """Pods owned by the set; matching orphans named like its ordinals are adopted, owned pods that
        stopped matching are released."""
        manager = RefManager(self.client, sts, owner_api_version=APPS, owner_resource="statefulsets",
                             owner_kind=KIND, api_version="v1", resource="pods", log=self.log)
        return await manager.claim(self.pods.list(meta(sts).get("namespace", "")), lambda pod: selector.matches(
            meta(pod).get("labels") or {}) and su.is_member(sts, pod))

    async def _reconcile(self, sts: Obj, pods: list[Obj], current: Obj, update: Obj, status: Obj) -> None:
        """One pass of Kubernetes' updateStatefulSet: replicas, then condemned pods, then the rolling update.
        With ``OrderedReady`` a pass stops at the first pod it made, deleted or must wait for."""
        monotonic = su.spec(sts).get("podManagementPolicy", "OrderedReady") != "Parallel"
        min_ready = int(su.spec(sts).get("minReadySeconds") or 0)
        at = su.now()
        by_ordinal = {su.ordinal_of(p): p for p in pods}
        first = su.start_ordinal(sts)
        wanted = range(first, first + su.replicas_of(sts))
        condemned = sorted((p for o, p in by_ordinal.items() if o not in wanted), key=su.ordinal_of, reverse=True)
        templates = {"current": su.template_from_revision(current), "update": su.template_from_revision(update)}
        names = {"current": meta(current)["name"], "update": meta(update)["name"]}

        for ordinal in wanted:
            pod = by_ordinal.get(ordinal)
            if pod is not None and su.phase(pod) in ("Failed", "Succeeded") and not su.is_terminating(pod):
                await self._delete_pod(sts, pod)
                if monotonic:
                    return
                continue
            if pod is None:
                which = su.revision_for_new_pod(sts, ordinal, int(status.get("currentReplicas") or 0))
                await self._create_pod(sts, su.new_pod(sts, templates[which], ordinal, names[which]), ordinal)
                if monotonic:
                    return
                continue
            if su.is_terminating(pod):
                if monotonic:
                    return
                continue
            if not su.is_running_and_available(pod, min_ready, at) and monotonic:
                return
            await self._fix_pod(sts, pod, ordinal)

        for pod in condemned:
            if su.is_terminating(pod):
                if monotonic:
                    return
                continue
            # an ordered scale-down waits for every remaining pod to be healthy (the condemned one may not be)
            unhealthy = [p for p in pods if not su.is_healthy(p) and p is not pod]
            if monotonic and unhealthy:
                return
            await self._claims_for_condemned(sts, pod)
            await self._delete_pod(sts, pod)
            if monotonic:
                return

        if su.update_strategy(sts) != "RollingUpdate":
            return
        live = {o: p for o, p in by_ordinal.items() if o in wanted}
        action, ordinal = su.next_update_target(
            sorted(live), {o: su.pod_revision(p) for o, p in live.items()},
            {o: su.is_running_and_available(p, min_ready, at) for o, p in live.items()},
            {o: su.is_terminating(p) for o, p in live.items()}, names["update"], first,
            su.rolling_update_partition(sts))
        if action == "delete" and ordinal is not None:
            self.log.info("statefulset %s: updating pod %s to revision %s", key_of(sts),
                          meta(live[ordinal])["name"], names["update"])
            await self._delete_pod(sts, live[ordinal])

    async def _create_pod(self, sts: Obj, pod: Obj, ordinal: int) -> None:
        if not await self._ensure_claims(sts, None, ordinal):
            return
        name = meta(pod)["name"]
        try:
            await self.client.create("v1", "pods", pod, meta(sts)["namespace"])
        except StatusError as exc:
            if exc.code == 409:
                return  # made by an earlier pass our informer has not reported yet
            if exc.code == 403 and "terminat" in exc.message:
                return
            self.event(sts, "Warning", "FailedCreate",
                       f"create Pod {name} in StatefulSet {meta(sts)['name']} failed error: {exc.message}")
            raise
        self.event(sts, "Normal", "SuccessfulCreate",
                   f"create Pod {name} in StatefulSet {meta(sts)['name']} successful")

    async def _delete_pod(self, sts: Obj, pod: Obj) -> None:
        name = meta(pod)["name"]
        try:
            await self.client.delete("v1", "pods", name, meta(pod)["namespace"],
                                     preconditions={"uid": meta(pod).get("uid")})
        except StatusError as exc:
            if exc.code in (404, 409):
                return
            self.event(sts, "Warning", "FailedDelete",
                       f"delete Pod {name} in StatefulSet {meta(sts)['name']} failed error: {exc.message}")
            raise
        self.event(sts, "Normal", "SuccessfulDelete",
                   f"delete Pod {name} in StatefulSet {meta(sts)['name']} successful")

    async def _fix_pod(self, sts: Obj, pod: Obj, ordinal: int) -> None:
        """A live pod gets back its identity labels and missing claims, and its claims' owner references."""
        await self._ensure_claims(sts, pod, ordinal)
        if su.identity_labels_match(sts, pod):
            return
        patch = {"metadata": {"labels": {su.POD_NAME_LABEL: meta(pod)["name"], su.POD_INDEX_LABEL: str(ordinal)}}}
        try:
            await self.client.patch("v1", "pods", meta(pod)["name"], patch, meta(pod)["namespace"])
        except StatusError as exc:
            if exc.code != 404:
                raise

    # ---- claims ------------------------------------------------------------------------------

    async def _ensure_claims(self, sts: Obj, pod: Obj | None, ordinal: int) -> bool:
        """Create the ordinal's missing claims; bring existing ones' owner references in line.
        False when the namespace is going away (nothing more to make)."""
        namespace = meta(sts)["namespace"]
        for template in su.claim_templates(sts):
            wanted = su.new_claim(sts, template, ordinal, pod)
            existing = self.claims.get(namespace, meta(wanted)["name"])
            if existing is None:
                if not await self._create_claim(sts, wanted, ordinal):
                    return False
                continue
            if meta(existing).get("deletionTimestamp"):
                raise RuntimeError(f"pvc {meta(existing)['name']} is being deleted")
            await self._align_claim_refs(sts, existing, pod, ordinal)
        return True

    async def _create_claim(self, sts: Obj, claim: Obj, ordinal: int) -> bool:
        name, pod_name = meta(claim)["name"], su.pod_name(meta(sts)["name"], ordinal)
        try:
            await self.client.create("v1", "persistentvolumeclaims", claim, meta(sts)["namespace"])
        except StatusError as exc:
            if exc.code == 409:
                return True
            if exc.code == 403 and "terminat" in exc.message:
                return False
            self.event(sts, "Warning", "FailedCreate", f"create Claim {name} for Pod {pod_name} in StatefulSet "
                                                       f"{meta(sts)['name']} failed error: {exc.message}")
            raise
        self.event(sts, "Normal", "SuccessfulCreate",
                   f"create Claim {name} Pod {pod_name} in StatefulSet {meta(sts)['name']} success")
        return True

    async def _align_claim_refs(self, sts: Obj, claim: Obj, pod: Obj | None, ordinal: int) -> None:
        refs = su.desired_claim_refs(claim, sts, pod, ordinal)
        if pod is None and any(r.get("kind") == "Pod" for r in meta(claim).get("ownerReferences") or []):
            return  # the pod's references are settled once the pod is known
        if _ref_uids(refs) == _ref_uids(meta(claim).get("ownerReferences") or []):
            return
        new = copy.deepcopy(claim)
        if refs:
            new["metadata"]["ownerReferences"] = refs
        else:
            new["metadata"].pop("ownerReferences", None)
        try:  # an update on the cached version: a stale cache gets 409 and the set is synced again
            await self.client.update("v1", "persistentvolumeclaims", new, meta(claim)["namespace"])
        except StatusError as exc:
            if exc.code != 404:
                raise

    async def _claims_for_condemned(self, sts: Obj, pod: Obj) -> None:
        """Before a scaled-away pod goes, its claims get the owner references ``whenScaled`` asks for."""
        namespace = meta(sts)["namespace"]
        ordinal = su.ordinal_of(pod)
        for template in su.claim_templates(sts):
            claim = self.claims.get(namespace, su.claim_name(meta(template)["name"], meta(sts)["name"], ordinal))
            if claim is not None and not meta(claim).get("deletionTimestamp"):
                await self._align_claim_refs(sts, claim, pod, ordinal)

    # ---- revisions ----------------------------------------------------------------------------

    def _owned_revisions(self, sts: Obj) -> list[Obj]:
        owned = controlled_by(self.revisions.list(meta(sts).get("namespace", "")), meta(sts).get("uid"))
        return history.sort_revisions(owned)

    async def _revisions(self, sts: Obj, revisions: list[Obj]) -> tuple[Obj, Obj, int]:
        """(current revision, update revision, collision count), creating or renumbering the update one."""
        status = sts.get("status") or {}
        collision_count = int(status.get("collisionCount") or 0)
        number = history.next_revision_number(revisions)
        wanted = history.new_revision(sts, KIND, number, collision_count)
        equal = [r for r in revisions if history.equal_revisions(r, wanted)]
        if equal and equal[-1] is revisions[-1]:
            update = revisions[-1]
        elif equal:
            # a rollback to an older template: that revision becomes the newest
            update = await self.client.patch(APPS, "controllerrevisions", meta(equal[-1])["name"],
                                             {"revision": number}, meta(sts)["namespace"])
        else:
            update, collision_count = await history.create_revision(self.client, sts, KIND, number, collision_count)
            update = await self._copy_annotations(sts, update)
        current = next((r for r in revisions if meta(r)["name"] == status.get("currentRevision")), update)
        return current, update, collision_count

    async def _copy_annotations(self, sts: Obj, revision: Obj) -> Obj:
        """A new revision carries the set's annotations (``kubectl rollout history`` shows its change-cause)."""
        wanted = meta(sts).get("annotations") or {}
        have = meta(revision).get("annotations") or {}
        if not wanted or all(have.get(k) == v for k, v in wanted.items()):
            return revision
        return await self.client.patch(APPS, "controllerrevisions", meta(revision)["name"],
                                       {"metadata": {"annotations": wanted}}, meta(sts)["namespace"])

    async def _truncate_history(self, sts: Obj, pods: list[Obj], current: Obj, update: Obj) -> None:
        """Delete the oldest revisions no pod uses beyond ``revisionHistoryLimit``."""
        limit = int(su.spec(sts).get("revisionHistoryLimit", 10) or 0)
        live = {su.pod_revision(p) for p in pods} | {meta(current)["name"], meta(update)["name"]}
        stale = [r for r in self._owned_revisions(sts) if meta(r)["name"] not in live]
        for revision in stale[:max(0, len(stale) - limit)]:
            try:
                await self.client.delete(APPS, "controllerrevisions", meta(revision)["name"], meta(sts)["namespace"])
            except StatusError as exc:
                if exc.code != 404:
                    raise

    # ---- status ---------------------------------------------------------------------------------

    async def _write_status(self, sts: Obj, status: Obj) -> None:
        old = sts.get("status") or {}
        merged = {**{k: v for k, v in old.items() if k == "conditions"}, **status}
        if merged == old:
            return
        await self.write_status(sts, merged, APPS, "statefulsets")

    def _requeue_for_availability(self, sts: Obj, pods: list[Obj]) -> None:
        """With ``minReadySeconds``, look again when a ready pod becomes available."""
        min_ready = int(su.spec(sts).get("minReadySeconds") or 0)
        if min_ready <= 0:
            return
        at = su.now()
        waits = [w for w in (su.available_in(p, min_ready, at) for p in pods) if w is not None and w > 0]
        if waits:
            self.queue.add_after(key_of(sts), min(waits) + 0.05)


def _ref_uids(refs: list[Obj]) -> list[tuple[str, bool]]:
    return sorted((str(r.get("uid")), bool(r.get("controller"))) for r in refs)

