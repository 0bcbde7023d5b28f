"""The Deployment controller: a ReplicaSet per pod template, rolled out as the strategy says.

As in Kubernetes: ReplicaSets matching the selector are claimed (orphans adopted, owned ones that
stopped matching released); the ReplicaSet whose template equals the Deployment's (ignoring the
``pod-template-hash`` label) is the new one, created as ``<name>-<hash>`` when missing, and gets the
next revision (a rollback re-uses the old set and bumps its revision). RollingUpdate scales the new
set up within ``replicas + maxSurge`` and old sets down while ``replicas - maxUnavailable`` stay
available; Recreate scales old sets to 0, waits for their pods to go, then scales the new one up.
A paused Deployment or a change of ``replicas`` only scales (proportionally during a rollout).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from kubeprov.api import labels
from kubeprov.api.status import StatusError
from kubeprov.controllers import deployment_util as du
from kubeprov.controllers.base import Controller, Obj, key_of, meta
from kubeprov.controllers.claiming import RefManager, owner_reference
from kubeprov.controllers.podutil import controller_ref

APPS = "apps/v1"


def _created(obj: Obj) -> tuple[float, str]:
    return du.parse_time(meta(obj).get("creationTimestamp")), meta(obj).get("name", "")


class DeploymentController(Controller):
    name = "deployment"
    conflict_retry = 0.05  # our informer has not seen our own last write yet: try again shortly

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deployments = self.informer(APPS, "deployments")
        self.sets = self.informer(APPS, "replicasets")
        self.pods = self.informer("v1", "pods")
        self.deployments.add_handler(on_add=self._d_changed, on_update=lambda _o, n: self._d_changed(n),
                                     on_delete=self._d_changed)
        self.sets.add_handler(on_add=self._rs_changed, on_update=self._rs_updated, on_delete=self._rs_changed)
        self.pods.add_handler(on_delete=self._pod_deleted)

    # ---- event handlers --------------------------------------------------------------------

    def _d_changed(self, d: Obj) -> None:
        if self.wants(meta(d).get("namespace", "")):
            self.enqueue(key_of(d))

    def _owner(self, obj: Obj, kind: str) -> Obj | None:
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != kind:
            return None
        informer = self.deployments if kind == "Deployment" else self.sets
        owner = informer.get(meta(obj).get("namespace", ""), ref.get("name", ""))
        if owner is None or meta(owner).get("uid") != ref.get("uid"):
            return None
        return owner

    def _rs_changed(self, rs: Obj) -> None:
        namespace = meta(rs).get("namespace", "")
        if not self.wants(namespace):
            return
        owner = self._owner(rs, "Deployment")
        if owner is not None:
            self.enqueue(key_of(owner))
            return
        if controller_ref(rs) is None:
            rs_labels = meta(rs).get("labels") or {}
            for d in self.deployments.list(namespace):
                selector = self._selector(d)
                if not selector.is_empty() and selector.matches(rs_labels):
                    self.enqueue(key_of(d))

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        old_owner = self._owner(old, "Deployment")
        if old_owner is not None:
            self._d_changed(old_owner)
        self._rs_changed(new)

    def _pod_deleted(self, pod: Obj) -> None:
        if not self.wants(meta(pod).get("namespace", "")):
            return
        rs = self._owner(pod, "ReplicaSet")
        if rs is None:
            return
        d = self._owner(rs, "Deployment")
        if d is not None and du.strategy_type(d) == "Recreate":
            self.enqueue(key_of(d))

    # ---- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _selector(d: Obj) -> labels.Selector:
        try:
            return labels.from_label_selector((d.get("spec") or {}).get("selector"))
        except labels.SelectorError:
            return labels.Selector.nothing()

    def owner_reference(self, d: Obj) -> Obj:
        return owner_reference(d, APPS, "Deployment")

    async def _claim_sets(self, d: Obj, selector: labels.Selector) -> list[Obj]:
        manager = RefManager(self.client, d, owner_api_version=APPS, owner_resource="deployments",
                             owner_kind="Deployment", api_version=APPS, resource="replicasets", log=self.log)
        return await manager.claim(self.sets.list(meta(d).get("namespace", "")), lambda rs: not selector.is_empty()
                                   and selector.matches(meta(rs).get("labels") or {}))

    # ---- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        cached = self.deployments.get(namespace, name)
        if cached is None:
            return
        d = copy.deepcopy(cached)
        selector = self._selector(d)
        if selector.is_empty():
            self.event(d, "Warning", "SelectingAll", "This deployment is selecting all pods. A non-empty selector "
                                                      "is required.")
            if int((d.get("status") or {}).get("observedGeneration") or 0) < int(meta(d).get("generation") or 0):
                d.setdefault("status", {})["observedGeneration"] = meta(d).get("generation")
                await self._update_status(d, d["status"])
            return
        sets = await self._claim_sets(d, selector)
        if meta(d).get("deletionTimestamp"):
            new_rs, old = self._split(d, sets)
            await self._sync_status(d, new_rs, old)
            return
        d = await self._check_paused(d)
        spec = d.get("spec") or {}
        if spec.get("paused") or self._is_scaling_event(d, sets):
            await self._sync_scale(d, sets)
            return
        if du.strategy_type(d) == "Recreate":
            await self._rollout_recreate(d, sets)
        else:
            await self._rollout_rolling(d, sets)

    def _split(self, d: Obj, sets: list[Obj]) -> tuple[Obj | None, list[Obj]]:
        template = du.template_of(d)
        new_rs = None
        for rs in sorted(sets, key=_created):
            if du.equal_ignore_hash(du.template_of(rs), template):
                new_rs = rs
                break
        return new_rs, [rs for rs in sets if rs is not new_rs]

    def _is_scaling_event(self, d: Obj, sets: list[Obj]) -> bool:
        for rs in sets:
            if du.replicas_of(rs) <= 0:
                continue
            desired = du.int_annotation(rs, du.DESIRED_REPLICAS)
            if desired is not None and desired != du.replicas_of(d):
                return True
        return False

    async def _check_paused(self, d: Obj) -> Obj:
        if not du.has_progress_deadline(d):
            return d
        status = copy.deepcopy(d.get("status") or {})
        cond = du.get_condition(status, "Progressing")
        if cond is not None and cond.get("reason") == du.TIMED_OUT:
            return d
        paused = bool((d.get("spec") or {}).get("paused"))
        paused_cond = cond is not None and cond.get("reason") == du.PAUSED
        if paused and not paused_cond:
            du.set_condition(status, du.new_condition("Progressing", "Unknown", du.PAUSED, "Deployment is paused"))
        elif not paused and paused_cond:
            du.set_condition(status, du.new_condition("Progressing", "Unknown", du.RESUMED, "Deployment is resumed"))
        else:
            return d
        return await self._update_status(d, status)

    # ---- the new ReplicaSet ----------------------------------------------------------------

    async def _get_all(self, d: Obj, sets: list[Obj], create: bool) -> tuple[Obj, Obj | None, list[Obj]]:
        """(deployment, new RS, old RSs) with the revisions synced; the new RS created if ``create``."""
        new_rs, old = self._split(d, sets)
        new_revision = du.max_revision(old) + 1
        if new_rs is not None:
            rs = copy.deepcopy(new_rs)
            changed = du.set_new_rs_annotations(d, rs, new_revision, True)
            min_ready = (d.get("spec") or {}).get("minReadySeconds") or 0
            if ((rs.get("spec") or {}).get("minReadySeconds") or 0) != min_ready:
                rs["spec"]["minReadySeconds"] = min_ready
                changed = True
            if changed:
                rs = await self.client.update(APPS, "replicasets", rs, meta(rs)["namespace"])
            d = await self._set_deployment_revision(d, (meta(rs).get("annotations") or {}).get(du.REVISION, ""))
            status = copy.deepcopy(d.get("status") or {})
            if du.has_progress_deadline(d) and du.get_condition(status, "Progressing") is None:
                du.set_condition(status, du.new_condition("Progressing", "True", du.FOUND_NEW_RS,
                                                          f'Found new replica set "{meta(rs)["name"]}"'))
                d = await self._update_status(d, status)
            return d, rs, old
        if not create:
            return d, None, old
        return await self._create_new_rs(d, old, new_revision)

    async def _set_deployment_revision(self, d: Obj, revision: str) -> Obj:
        annotations = meta(d).get("annotations") or {}
        if not revision or annotations.get(du.REVISION) == revision:
            return d
        patch: Obj = {"metadata": {"annotations": {du.REVISION: revision}}}
        patched = await self.client.patch(APPS, "deployments", meta(d)["name"], patch, meta(d)["namespace"])
        return patched

    async def _create_new_rs(self, d: Obj, old: list[Obj], new_revision: int) -> tuple[Obj, Obj | None, list[Obj]]:
        m = meta(d)
        status = copy.deepcopy(d.get("status") or {})
        collisions = status.get("collisionCount")
        template = copy.deepcopy(du.template_of(d))
        pod_hash = du.compute_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[du.HASH_LABEL] = pod_hash
        selector = copy.deepcopy((d.get("spec") or {}).get("selector") or {})
        selector.setdefault("matchLabels", {})[du.HASH_LABEL] = pod_hash
        rs: Obj = {"apiVersion": APPS, "kind": "ReplicaSet",
                   "metadata": {"name": f"{m['name']}-{pod_hash}", "namespace": m["namespace"],
                                "labels": dict(template["metadata"]["labels"]),
                                "ownerReferences": [self.owner_reference(d)], "annotations": {}},
                   "spec": {"replicas": 0, "minReadySeconds": (d.get("spec") or {}).get("minReadySeconds") or 0,
                            "selector": selector, "template": template}}
        du.set_new_rs_annotations(d, rs, new_revision, False)
        all_sets = [*old]
        rs["spec"]["replicas"] = self._new_rs_replicas(d, all_sets, rs)
        try:
            created = await self.client.create(APPS, "replicasets", rs, m["namespace"])
        except StatusError as exc:
            if exc.code != 409:
                if du.has_progress_deadline(d):
                    msg = f'Failed to create new replica set "{rs["metadata"]["name"]}": {exc.message}'
                    du.set_condition(status, du.new_condition("Progressing", "False", du.FAILED_RS_CREATE, msg))
                    await self._update_status(d, status)
                raise
            existing = await self.client.get(APPS, "replicasets", rs["metadata"]["name"], m["namespace"])
            ref = controller_ref(existing)
            if ref is not None and ref.get("uid") == m.get("uid") and \
                    du.equal_ignore_hash(du.template_of(existing), du.template_of(d)):
                return d, existing, old
            status["collisionCount"] = int(collisions or 0) + 1
            await self._update_status(d, status)
            raise RuntimeError(f"hash collision for {key_of(d)}: {rs['metadata']['name']} exists") from None
        replicas = du.replicas_of(created)
        if replicas > 0:
            self.event(d, "Normal", "ScalingReplicaSet",
                       f"Scaled up replica set {meta(created)['name']} from 0 to {replicas}")
        d = await self._set_deployment_revision(d, str(new_revision))
        status = copy.deepcopy(d.get("status") or {})
        if du.has_progress_deadline(d):
            du.set_condition(status, du.new_condition("Progressing", "True", du.NEW_RS_CREATED,
                                                      f'Created new replica set "{meta(created)["name"]}"'))
            d = await self._update_status(d, status)
        return d, created, old

    def _new_rs_replicas(self, d: Obj, old: list[Obj], new_rs: Obj) -> int:
        desired = du.replicas_of(d)
        if not du.is_rolling(d):
            return desired
        current = sum(du.replicas_of(rs) for rs in old) + du.replicas_of(new_rs)
        max_total = desired + du.max_surge(d)
        if current >= max_total:
            return du.replicas_of(new_rs)
        up = min(max_total - current, max(0, desired - du.replicas_of(new_rs)))
        return du.replicas_of(new_rs) + up

    # ---- scaling ---------------------------------------------------------------------------

    async def _scale_rs(self, d: Obj, rs: Obj, new_scale: int) -> tuple[bool, Obj]:
        new = copy.deepcopy(rs)
        size_changed = du.replicas_of(rs) != new_scale
        annotations_changed = du.set_replicas_annotations(new, du.replicas_of(d), du.replicas_of(d) + du.max_surge(d))
        if not size_changed and not annotations_changed:
            return False, rs
        old_scale = du.replicas_of(rs)
        new["spec"]["replicas"] = new_scale
        updated = await self.client.update(APPS, "replicasets", new, meta(rs)["namespace"])
        if size_changed:
            direction = "up" if new_scale > old_scale else "down"
            self.event(d, "Normal", "ScalingReplicaSet",
                       f"Scaled {direction} replica set {meta(rs)['name']} from {old_scale} to {new_scale}")
        return size_changed, updated

    async def _scale(self, d: Obj, new_rs: Obj | None, old: list[Obj]) -> None:
        """Kubernetes' scale(): one active set takes it all; otherwise proportional over active sets."""
        desired = du.replicas_of(d)
        active = [rs for rs in [*old, *([new_rs] if new_rs else [])] if du.replicas_of(rs) > 0]
        target: Obj | None = None
        if not active:
            if new_rs is not None:
                target = new_rs
            elif old:
                target = sorted(old, key=_created)[-1]
        elif len(active) == 1:
            target = active[0]
        if target is not None:
            if du.replicas_of(target) != desired:
                await self._scale_rs(d, target, desired)
            return
        if new_rs is not None and du.replicas_of(new_rs) == desired and \
                du.int_annotation(new_rs, du.DESIRED_REPLICAS) == desired and \
                du.status_int(new_rs, "availableReplicas") == desired:
            for rs in old:
                if du.replicas_of(rs) > 0:
                    await self._scale_rs(d, rs, 0)
            return
        if not du.is_rolling(d):
            return
        current = sum(du.replicas_of(rs) for rs in active)
        allowed = desired + du.max_surge(d) if desired > 0 else 0
        to_add = allowed - current
        if to_add > 0:  # bigger first, newer on ties
            ordered = sorted(active, key=lambda r: (-du.replicas_of(r), -_created(r)[0]))
        else:  # bigger first, older on ties
            ordered = sorted(active, key=lambda r: (-du.replicas_of(r), _created(r)[0]))
        sizes: dict[str, int] = {}
        added = 0
        for rs in ordered:
            proportion = self._proportion(d, rs, to_add, added) if to_add != 0 else 0
            sizes[meta(rs)["name"]] = du.replicas_of(rs) + proportion
            added += proportion
        if to_add != 0 and ordered:
            first = meta(ordered[0])["name"]
            sizes[first] = max(0, sizes[first] + to_add - added)
        for rs in ordered:
            await self._scale_rs(d, rs, sizes[meta(rs)["name"]])

    def _proportion(self, d: Obj, rs: Obj, to_add: int, added: int) -> int:
        if du.replicas_of(rs) == 0 or to_add == added:
            return 0
        desired = du.replicas_of(d)
        if desired == 0:
            fraction = -du.replicas_of(rs)
        else:
            total = desired + du.max_surge(d)
            annotated = du.int_annotation(rs, du.MAX_REPLICAS)
            if annotated is None:
                annotated = du.status_int(d, "replicas")
            if annotated <= 0:
                fraction = 0
            else:
                fraction = round(du.replicas_of(rs) * total / annotated) - du.replicas_of(rs)
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    async def _sync_scale(self, d: Obj, sets: list[Obj]) -> None:
        d, new_rs, old = await self._get_all(d, sets, create=False)
        await self._scale(d, new_rs, old)
        if (d.get("spec") or {}).get("paused"):
            await self._cleanup(d, old)
        await self._sync_status(d, new_rs, old, rollout=False)

    # ---- strategies ------------------------------------------------------------------------

    async def _rollout_rolling(self, d: Obj, sets: list[Obj]) -> None:
        d, new_rs, old = await self._get_all(d, sets, create=True)
        assert new_rs is not None
        desired = du.replicas_of(d)
        scaled = False
        if du.replicas_of(new_rs) != desired:
            target = desired if du.replicas_of(new_rs) > desired else self._new_rs_replicas(d, old, new_rs)
            scaled, new_rs = await self._scale_rs(d, new_rs, target)
        if scaled:
            await self._sync_status(d, new_rs, old)
            return
        scaled, old = await self._reconcile_old(d, new_rs, old)
        if scaled:
            await self._sync_status(d, new_rs, old)
            return
        status = self._calculate_status(d, new_rs, old)
        if du.deployment_complete(d, status):
            await self._cleanup(d, old)
        await self._sync_status(d, new_rs, old)

    async def _reconcile_old(self, d: Obj, new_rs: Obj, old: list[Obj]) -> tuple[bool, list[Obj]]:
        old_count = sum(du.replicas_of(rs) for rs in old)
        if old_count == 0:
            return False, old
        all_count = old_count + du.replicas_of(new_rs)
        min_available = du.replicas_of(d) - du.max_unavailable(d)
        new_unavailable = du.replicas_of(new_rs) - du.status_int(new_rs, "availableReplicas")
        max_down = all_count - min_available - new_unavailable
        if max_down <= 0:
            return False, old
        by_name = {meta(rs)["name"]: rs for rs in old}
        # first the unhealthy replicas of old sets (oldest first)
        cleaned = 0
        for rs in sorted(old, key=_created):
            if cleaned >= max_down:
                break
            rs = by_name[meta(rs)["name"]]
            unhealthy = du.replicas_of(rs) - _available(rs)
            if du.replicas_of(rs) == 0 or unhealthy <= 0:
                continue
            count = min(max_down - cleaned, unhealthy)
            _, by_name[meta(rs)["name"]] = await self._scale_rs(d, rs, du.replicas_of(rs) - count)
            cleaned += count
        old = list(by_name.values())
        # then available replicas, while the minimum stays available
        available = sum(_available(rs) for rs in old) + _available(new_rs)
        scaled_down = 0
        if available > min_available:
            total = available - min_available
            for rs in sorted(old, key=_created):
                if scaled_down >= total:
                    break
                if du.replicas_of(rs) == 0:
                    continue
                count = min(du.replicas_of(rs), total - scaled_down)
                _, by_name[meta(rs)["name"]] = await self._scale_rs(d, rs, du.replicas_of(rs) - count)
                scaled_down += count
        return cleaned + scaled_down > 0, list(by_name.values())

    async def _rollout_recreate(self, d: Obj, sets: list[Obj]) -> None:
        d, new_rs, old = await self._get_all(d, sets, create=False)
        scaled = False
        result = []
        for rs in old:
            if du.replicas_of(rs) > 0:
                changed, rs = await self._scale_rs(d, rs, 0)
                scaled = scaled or changed
            result.append(rs)
        old = result
        if scaled:
            await self._sync_status(d, new_rs, old)
            return
        if self._old_pods_running(old):
            await self._sync_status(d, new_rs, old)
            return
        if new_rs is None:
            d, new_rs, old = await self._get_all(d, [*old], create=True)
        assert new_rs is not None
        if du.replicas_of(new_rs) != du.replicas_of(d):
            _, new_rs = await self._scale_rs(d, new_rs, du.replicas_of(d))
        status = self._calculate_status(d, new_rs, old)
        if du.deployment_complete(d, status):
            await self._cleanup(d, old)
        await self._sync_status(d, new_rs, old)

    def _old_pods_running(self, old: list[Obj]) -> bool:
        """Whether any pod of the old sets may still run (Recreate waits until none does)."""
        if not old:
            return False
        if sum(du.status_int(rs, "replicas") for rs in old) > 0:
            return True
        uids = {meta(rs).get("uid") for rs in old}
        for pod in self.pods.list(meta(old[0]).get("namespace", "")):
            ref = controller_ref(pod)
            if ref is not None and ref.get("uid") in uids and \
                    (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
        return False

    # ---- history ---------------------------------------------------------------------------

    async def _cleanup(self, d: Obj, old: list[Obj]) -> None:
        limit = (d.get("spec") or {}).get("revisionHistoryLimit")
        if limit is None:
            return
        alive = [rs for rs in old if not meta(rs).get("deletionTimestamp")]
        diff = len(alive) - int(limit)
        if diff <= 0:
            return
        alive.sort(key=lambda rs: (du.revision_of(rs), _created(rs)))
        for rs in alive[:diff]:
            if du.status_int(rs, "replicas") != 0 or du.replicas_of(rs) != 0 or \
                    int(meta(rs).get("generation") or 0) > du.status_int(rs, "observedGeneration"):
                continue
            try:
                await self.client.delete(APPS, "replicasets", meta(rs)["name"], meta(rs)["namespace"])
            except StatusError as exc:
                if exc.code != 404:
                    raise

    # ---- status ----------------------------------------------------------------------------

    def _calculate_status(self, d: Obj, new_rs: Obj | None, old: list[Obj]) -> Obj:
        all_sets = [*old, *([new_rs] if new_rs else [])]
        available = sum(du.status_int(rs, "availableReplicas") for rs in all_sets)
        total = sum(du.replicas_of(rs) for rs in all_sets)
        status: Obj = {
            "observedGeneration": int(meta(d).get("generation") or 0),
            "replicas": sum(du.status_int(rs, "replicas") for rs in all_sets),
            "updatedReplicas": du.status_int(new_rs, "replicas"),
            "readyReplicas": sum(du.status_int(rs, "readyReplicas") for rs in all_sets),
            "availableReplicas": available,
            "unavailableReplicas": max(0, total - available),
            "conditions": copy.deepcopy((d.get("status") or {}).get("conditions") or []),
        }
        collisions = (d.get("status") or {}).get("collisionCount")
        if collisions is not None:
            status["collisionCount"] = collisions
        if available >= du.replicas_of(d) - du.max_unavailable(d):
            du.set_condition(status, du.new_condition("Available", "True", du.MIN_AVAILABLE,
                                                      "Deployment has minimum availability."))
        else:
            du.set_condition(status, du.new_condition("Available", "False", du.MIN_UNAVAILABLE,
                                                      "Deployment does not have minimum availability."))
        return status

    async def _sync_status(self, d: Obj, new_rs: Obj | None, old: list[Obj], rollout: bool = True) -> None:
        status = self._calculate_status(d, new_rs, old)
        if rollout:
            self._rollout_conditions(d, new_rs, status)
            failure = self._replica_failure(new_rs, old)
            if failure is not None:
                du.set_condition(status, failure)
            else:
                du.remove_condition(status, "ReplicaFailure")
        if _comparable(status) != _comparable(d.get("status") or {}):
            await self._update_status(d, status)
        if rollout:
            self._requeue_stuck(d, status)

    @staticmethod
    def _replica_failure(new_rs: Obj | None, old: list[Obj]) -> Obj | None:
        """The first ReplicaFailure condition of the new set (else of any set), as a Deployment condition."""
        for group in ([new_rs] if new_rs else [], old):
            for rs in group:
                for c in (rs.get("status") or {}).get("conditions") or []:
                    if c.get("type") == "ReplicaFailure":
                        return {"type": "ReplicaFailure", "status": c.get("status"), "reason": c.get("reason"),
                                "message": c.get("message"), "lastTransitionTime": c.get("lastTransitionTime"),
                                "lastUpdateTime": c.get("lastTransitionTime")}
        return None

    def _rollout_conditions(self, d: Obj, new_rs: Obj | None, status: Obj) -> None:
        if not du.has_progress_deadline(d):
            du.remove_condition(status, "Progressing")
            return
        current = du.get_condition(status, "Progressing")
        complete = status["replicas"] == status["updatedReplicas"] and current is not None and \
            current.get("reason") == du.NEW_RS_AVAILABLE
        if complete:
            return
        if du.deployment_complete(d, status):
            msg = f'Deployment "{meta(d)["name"]}" has successfully progressed.'
            if new_rs is not None:
                msg = f'ReplicaSet "{meta(new_rs)["name"]}" has successfully progressed.'
            du.set_condition(status, du.new_condition("Progressing", "True", du.NEW_RS_AVAILABLE, msg))
        elif du.deployment_progressing(d, status):
            msg = f'Deployment "{meta(d)["name"]}" is progressing.'
            if new_rs is not None:
                msg = f'ReplicaSet "{meta(new_rs)["name"]}" is progressing.'
            cond = du.new_condition("Progressing", "True", du.RS_UPDATED, msg)
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                du.remove_condition(status, "Progressing")
            du.set_condition(status, cond)
        elif du.deployment_timed_out(d, status, time.time()):
            msg = f'Deployment "{meta(d)["name"]}" has timed out progressing.'
            if new_rs is not None:
                msg = f'ReplicaSet "{meta(new_rs)["name"]}" has timed out progressing.'
            du.set_condition(status, du.new_condition("Progressing", "False", du.TIMED_OUT, msg))

    def _requeue_stuck(self, d: Obj, status: Obj) -> None:
        cond = du.get_condition(status, "Progressing")
        if cond is None or cond.get("reason") in (du.TIMED_OUT, du.NEW_RS_AVAILABLE) or \
                cond.get("status") != "True" or du.deployment_complete(d, status):
            return
        after = du.parse_time(cond.get("lastUpdateTime")) + du.progress_deadline(d) - time.time()
        self.queue.add_after(key_of(d), max(0.0, after) + 1.0)

    async def _update_status(self, d: Obj, status: Obj) -> Obj:
        new = copy.deepcopy(d)
        new["status"] = status
        updated = await self.client.update(APPS, "deployments", new, meta(d)["namespace"], subresource="status")
        return updated


def _available(rs: Obj) -> int:
    """Available replicas of a set for rollout decisions: a set just scaled down whose status is not
    updated yet still reports its old count, which must not count as available beyond its size."""
    return min(du.status_int(rs, "availableReplicas"), du.replicas_of(rs))


def _comparable(status: Obj) -> Obj:
    return {k: v for k, v in status.items() if v not in (0, None, [], {})}
