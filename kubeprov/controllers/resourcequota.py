"""The ResourceQuota controller: recount ``status.used`` of every quota from the objects of its namespace.

The API server's quota admission only ever raises ``status.used`` (it charges a create before storing);
this controller brings it back to the truth after deletes, finished pods, refused writes, new quotas and
grown ``spec.hard``, and copies ``spec.hard`` into ``status.hard``. Usage is computed by the same
evaluators admission uses (``kubeprov.apiserver.admission.quotausage``), with the quota's scopes and
scope selector. Informers are opened for the resources the quotas name (pods, services, claims, config
maps, secrets, ``count/<resource>.<group>``...) as quotas come; a change of such an object recounts the
quotas of its namespace, and every quota is recounted every ``resync_period`` seconds (5 minutes).
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubeprov.api.informer import Informer
from kubeprov.api.status import StatusError
from kubeprov.apiserver.admission.quotausage import Evaluator, evaluators_for_names, scope_selectors
from kubeprov.apiserver.admission.resources import ZERO, ResourceList, add_into, mask, parse_list, to_json
from kubeprov.controllers.base import Controller, Obj, key_of, meta, split_key

RESYNC_PERIOD = 300.0
SYNC_TIMEOUT = 30.0  # a counted resource's first list; a sync waiting longer is retried with backoff
# API versions of the groups quotas usually count; other groups are asked through discovery
PREFERRED_VERSIONS = {
    "": "v1", "apps": "apps/v1", "batch": "batch/v1", "autoscaling": "autoscaling/v2", "policy": "policy/v1",
    "networking.k8s.io": "networking.k8s.io/v1", "rbac.authorization.k8s.io": "rbac.authorization.k8s.io/v1",
    "storage.k8s.io": "storage.k8s.io/v1", "discovery.k8s.io": "discovery.k8s.io/v1",
    "coordination.k8s.io": "coordination.k8s.io/v1", "scheduling.k8s.io": "scheduling.k8s.io/v1",
}


def quota_names(quota: Obj) -> list[str]:
    return sorted(parse_list((quota.get("spec") or {}).get("hard")))


def compute_used(quota: Obj, objects: dict[tuple[str, str], list[Obj]]) -> ResourceList:
    """Usage of every resource in ``spec.hard`` by ``objects`` ((group, resource) -> the namespace's objects),
    within the quota's scopes; a resource nothing uses is 0."""
    names = quota_names(quota)
    used: ResourceList = {name: ZERO for name in names}
    selectors = scope_selectors(quota)
    for evaluator in evaluators_for_names(names):
        wanted = evaluator.matching_resources(names)
        for obj in objects.get((evaluator.group, evaluator.resource), []):
            if all(evaluator.matches_scope(sel, obj) for sel in selectors):
                add_into(used, mask(evaluator.usage(obj), wanted))
    return used


def status_for(quota: Obj, used: ResourceList) -> Obj:
    return {"hard": to_json(parse_list((quota.get("spec") or {}).get("hard"))), "used": to_json(used)}


def status_current(quota: Obj, status: Obj) -> bool:
    """Whether the quota's status already says ``status`` (compared as quantities, so ``1k`` == ``1000``)."""
    old = quota.get("status") or {}
    return parse_list(old.get("hard")) == parse_list(status["hard"]) and \
        parse_list(old.get("used")) == parse_list(status["used"]) and \
        set(old.get("used") or {}) == set(status["used"])


class ResourceQuotaController(Controller):
    name = "resourcequota"

    @classmethod
    def options(cls, config: Any) -> dict[str, Any] | None:
        return {"resync_period": float(getattr(config, "resource_quota_sync_period", RESYNC_PERIOD))}

    def __init__(self, *args: Any, resync_period: float = RESYNC_PERIOD, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resync_period = resync_period
        self.quotas = self.informer("v1", "resourcequotas")
        self.quotas.add_handler(on_add=self._quota, on_update=self._quota_updated)
        # (group, resource) -> its informer (None: not served), opened as quotas name them
        self._counted: dict[tuple[str, str], Informer | None] = {}
        self._opening = asyncio.Lock()
        self.every(resync_period, lambda: [self._quota(quota) for quota in self.quotas.list()])

    # ---- events ------------------------------------------------------------------------------

    def _quota(self, quota: Obj) -> None:
        if self.wants(meta(quota).get("namespace", "")):
            self.enqueue(key_of(quota))

    def _quota_updated(self, old: Obj, new: Obj) -> None:
        """Our own status writes come back as updates: recount only when the limits changed."""
        if (old.get("spec") or {}) != (new.get("spec") or {}) or \
                (new.get("status") or {}).get("hard") != (old.get("status") or {}).get("hard") or \
                not (new.get("status") or {}).get("used"):
            self._quota(new)

    def _object_changed(self, group: str, resource: str, obj: Obj) -> None:
        namespace = meta(obj).get("namespace", "")
        if not self.wants(namespace):
            return
        for quota in self.quotas.list(namespace):
            if any(e.group == group and e.resource == resource for e in evaluators_for_names(quota_names(quota))):
                self.enqueue(key_of(quota))

    def _object_updated(self, evaluator: Evaluator, old: Obj, new: Obj) -> None:
        if evaluator.usage(old) != evaluator.usage(new):
            self._object_changed(evaluator.group, evaluator.resource, new)

    # ---- informers for counted resources ------------------------------------------------------

    async def _api_version(self, group: str) -> str | None:
        if group in PREFERRED_VERSIONS:
            return PREFERRED_VERSIONS[group]
        try:
            # the client has no discovery call: ask /apis/<group> for its preferred version
            info = await self.client._request("GET", f"/apis/{group}", read=True)
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise
        return ((info or {}).get("preferredVersion") or {}).get("groupVersion")

    async def _informer_for(self, evaluator: Evaluator) -> Informer | None:
        """The synced informer of the evaluator's resource (opened on first use); None if not served."""
        key = (evaluator.group, evaluator.resource)
        async with self._opening:
            if key not in self._counted:
                self._counted[key] = await self._open(evaluator)
        informer = self._counted[key]
        if informer is not None and not await informer.wait_synced(SYNC_TIMEOUT):
            raise TimeoutError(f"the informer of {informer.resource} has not synced yet")
        return informer

    async def _open(self, evaluator: Evaluator) -> Informer | None:
        api_version = await self._api_version(evaluator.group)
        if api_version is None:
            return None
        group, resource = evaluator.group, evaluator.resource
        informer = self.factory.informer(api_version, resource)
        informer.add_handler(on_add=lambda o: self._object_changed(group, resource, o),
                             on_update=lambda old, new: self._object_updated(evaluator, old, new),
                             on_delete=lambda o: self._object_changed(group, resource, o))
        await informer.start()
        return informer

    # ---- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        quota = self.quotas.get(namespace, name)
        if quota is None or meta(quota).get("deletionTimestamp"):
            return
        objects: dict[tuple[str, str], list[Obj]] = {}
        for evaluator in evaluators_for_names(quota_names(quota)):
            informer = await self._informer_for(evaluator)
            if informer is not None:
                objects[(evaluator.group, evaluator.resource)] = informer.list(namespace)
        status = status_for(quota, compute_used(quota, objects))
        if status_current(quota, status):
            return
        # a conflict: admission charged it meanwhile; count again on the fresh object
        await self.write_status(quota, status, "v1", "resourcequotas", conflict_retry=0.1)
