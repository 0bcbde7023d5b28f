"""The garbage collector: deletes dependents whose owners are gone, runs foreground and orphan deletion.

As in Kubernetes, a dependency graph is built from the ``ownerReferences`` of every object of the
resources that carry them in practice (one informer each); owners are found by uid. Work items are
``delete:<uid>`` (is this object garbage? is this foreground owner done?) and ``orphan:<uid>``:

* an object whose owners are all absent (or waiting for their own foreground deletion) is deleted,
  with the propagation policy its own finalizers ask for (Background by default); an owner that is
  not in the graph is looked up with a live GET by name first, and counts as absent only when that
  answers 404 or an object of another uid (informers may lag). References to absent owners of an
  object that still has a live owner are removed from it instead;
* an owner being deleted with the ``foregroundDeletion`` finalizer has its dependents deleted (a
  dependent that has dependents of its own in Foreground) and loses the finalizer once no dependent
  with ``blockOwnerDeletion`` remains (the API server then removes it);
* an owner with the ``orphan`` finalizer has its reference removed from every dependent, then loses
  the finalizer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller, Obj, meta

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
CONFLICT_ATTEMPTS = 5
ABSENT_CACHE_SIZE = 500


@dataclass(frozen=True)
class Kind:
    api_version: str
    resource: str
    kind: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""


# resources whose objects carry ownerReferences (or are owners, like nodes) in practice
KINDS: tuple[Kind, ...] = (
    Kind("v1", "pods", "Pod"),
    Kind("v1", "replicationcontrollers", "ReplicationController"),
    Kind("v1", "configmaps", "ConfigMap"),
    Kind("v1", "secrets", "Secret"),
    Kind("v1", "services", "Service"),
    Kind("v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    Kind("v1", "nodes", "Node", namespaced=False),
    Kind("apps/v1", "replicasets", "ReplicaSet"),
    Kind("apps/v1", "deployments", "Deployment"),
    Kind("apps/v1", "statefulsets", "StatefulSet"),
    Kind("apps/v1", "daemonsets", "DaemonSet"),
    Kind("apps/v1", "controllerrevisions", "ControllerRevision"),
    Kind("batch/v1", "jobs", "Job"),
    Kind("batch/v1", "cronjobs", "CronJob"),
    Kind("discovery.k8s.io/v1", "endpointslices", "EndpointSlice"),
    Kind("coordination.k8s.io/v1", "leases", "Lease"),
)
_BY_GROUP_KIND = {(k.group, k.kind): k for k in KINDS}


def kind_for(api_version: str, kind: str) -> Kind | None:
    """The resource of an ownerReference's ``apiVersion``/``kind`` (any version of the group)."""
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    return _BY_GROUP_KIND.get((group, kind))


@dataclass
class _Node:
    """One object in the graph."""

    kind: Kind
    obj: Obj

    @property
    def uid(self) -> str:
        return meta(self.obj).get("uid", "")

    @property
    def namespace(self) -> str:
        return meta(self.obj).get("namespace", "")

    @property
    def name(self) -> str:
        return meta(self.obj).get("name", "")

    @property
    def owner_refs(self) -> list[Obj]:
        return meta(self.obj).get("ownerReferences") or []

    @property
    def finalizers(self) -> list[str]:
        return meta(self.obj).get("finalizers") or []

    @property
    def being_deleted(self) -> bool:
        return bool(meta(self.obj).get("deletionTimestamp"))

    @property
    def deleting_dependents(self) -> bool:
        return self.being_deleted and FOREGROUND in self.finalizers

    @property
    def orphaning(self) -> bool:
        return self.being_deleted and ORPHAN in self.finalizers

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind.kind} {where}{self.name}"


class GarbageCollector(Controller):
    name = "garbagecollector"

    def __init__(self, *args: Any, kinds: tuple[Kind, ...] = KINDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kinds = kinds
        self.nodes: dict[str, _Node] = {}  # uid -> object
        self.dependents: dict[str, set[str]] = {}  # owner uid -> dependent uids
        self.absent_owners: dict[str, None] = {}  # owner uids proved gone (insertion-ordered, bounded)
        for kind in kinds:
            informer = self.informer(kind.api_version, kind.resource)
            informer.add_handler(on_add=lambda obj, k=kind: self._upsert(k, obj),
                                 on_update=lambda _old, new, k=kind: self._upsert(k, new),
                                 on_delete=lambda obj, k=kind: self._remove(obj))

    # ---- the graph -------------------------------------------------------------------------

    def _wanted(self, node: _Node) -> bool:
        return self.wants(node.namespace)

    def _upsert(self, kind: Kind, obj: Obj) -> None:
        node = _Node(kind, obj)
        uid = node.uid
        if not uid:
            return
        old = self.nodes.get(uid)
        old_owners = {r.get("uid") for r in old.owner_refs} if old is not None else set()
        new_owners = {r.get("uid") for r in node.owner_refs if r.get("uid")}
        self.nodes[uid] = node
        for owner in old_owners - new_owners:
            deps = self.dependents.get(owner)
            if deps is not None:
                deps.discard(uid)
                if not deps:
                    del self.dependents[owner]
            self._owner_may_be_done(owner)
        for owner in new_owners:
            self.dependents.setdefault(owner, set()).add(uid)
        if not self._wanted(node):
            return
        if node.orphaning:
            self.enqueue(f"orphan:{uid}")
        if node.deleting_dependents:
            self.enqueue(f"delete:{uid}")
        elif node.owner_refs:
            self.enqueue(f"delete:{uid}")
        elif old is not None and old.being_deleted != node.being_deleted:
            self.enqueue(f"delete:{uid}")

    def _remove(self, obj: Obj) -> None:
        uid = meta(obj).get("uid", "")
        node = self.nodes.pop(uid, None)
        if node is None:
            return
        self._mark_absent(uid)
        for ref in node.owner_refs:
            owner = ref.get("uid", "")
            deps = self.dependents.get(owner)
            if deps is not None:
                deps.discard(uid)
                if not deps:
                    del self.dependents[owner]
            self._owner_may_be_done(owner)
        for dep in self.dependents.get(uid, set()):
            dep_node = self.nodes.get(dep)
            if dep_node is not None and self._wanted(dep_node):
                self.enqueue(f"delete:{dep}")

    def _owner_may_be_done(self, owner: str) -> None:
        node = self.nodes.get(owner)
        if node is not None and node.deleting_dependents and self._wanted(node):
            self.enqueue(f"delete:{owner}")

    def dependents_of(self, uid: str) -> list[_Node]:
        return [self.nodes[d] for d in self.dependents.get(uid, set()) if d in self.nodes]

    # ---- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        action, _, uid = key.partition(":")
        node = self.nodes.get(uid)
        if node is None or not self._wanted(node):
            return
        if action == "orphan":
            await self._orphan_dependents(node)
        else:
            await self._attempt_to_delete(node)

    async def _attempt_to_delete(self, node: _Node) -> None:
        if node.deleting_dependents:
            await self._process_deleting_dependents(node)
            return
        if node.being_deleted or not node.owner_refs:
            return
        solid: list[Obj] = []
        dangling: list[Obj] = []
        waiting: list[Obj] = []
        for ref in node.owner_refs:
            owner = await self._owner(node, ref)
            if owner is None:
                dangling.append(ref)
            elif meta(owner).get("deletionTimestamp") and FOREGROUND in (meta(owner).get("finalizers") or []):
                waiting.append(ref)
            else:
                solid.append(ref)
        if solid:
            gone = {r.get("uid") for r in dangling + waiting}
            if gone:
                self.log.info("%s: removing references to owners %s (it has other owners)", node.describe(),
                              ", ".join(sorted(str(u) for u in gone)))
                await self._patch_refs(node, lambda refs: [r for r in refs if r.get("uid") not in gone])
            return
        if waiting and self.dependents_of(node.uid):
            policy = "Foreground"
        elif ORPHAN in node.finalizers:
            policy = "Orphan"
        elif FOREGROUND in node.finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        self.log.info("deleting %s (owners gone or being deleted), propagation %s", node.describe(), policy)
        await self._delete(node, policy)

    async def _owner(self, node: _Node, ref: Obj) -> Obj | None:
        """The owner object, or None when it is absent; a live GET confirms an owner the graph lacks."""
        uid = ref.get("uid", "")
        known = self.nodes.get(uid)
        if known is not None:
            return known.obj
        kind = kind_for(ref.get("apiVersion", ""), ref.get("kind", ""))
        if kind is None:
            # an owner of a kind this collector does not know: never taken for absent
            return {"metadata": {"uid": uid, "name": ref.get("name")}}
        if uid in self.absent_owners:
            return None
        namespace = node.namespace if kind.namespaced else ""
        try:
            live = await self.client.get(kind.api_version, kind.resource, ref.get("name", ""), namespace)
        except StatusError as exc:
            if exc.code != 404:
                raise
            live = None
        if live is None or meta(live).get("uid") != uid:
            self._mark_absent(uid)
            return None
        return live

    def _mark_absent(self, uid: str) -> None:
        self.absent_owners[uid] = None
        while len(self.absent_owners) > ABSENT_CACHE_SIZE:
            del self.absent_owners[next(iter(self.absent_owners))]

    async def _process_deleting_dependents(self, owner: _Node) -> None:
        blocking = []
        for dep in self.dependents_of(owner.uid):
            ref = next((r for r in dep.owner_refs if r.get("uid") == owner.uid), {})
            if ref.get("blockOwnerDeletion"):
                blocking.append(dep)
        if not blocking:
            self.log.info("%s: no blocking dependents left; removing the %s finalizer", owner.describe(), FOREGROUND)
            await self._remove_finalizer(owner, FOREGROUND)
            return
        for dep in blocking:
            if not dep.being_deleted or dep.deleting_dependents:
                await self._attempt_to_delete(dep)

    async def _orphan_dependents(self, owner: _Node) -> None:
        if not owner.orphaning:
            return
        uid = owner.uid
        results = await asyncio.gather(
            *(self._patch_refs(dep, lambda refs: [r for r in refs if r.get("uid") != uid])
              for dep in self.dependents_of(uid)),
            return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            raise errors[0]
        self.log.info("%s: dependents orphaned; removing the %s finalizer", owner.describe(), ORPHAN)
        await self._remove_finalizer(owner, ORPHAN)

    # ---- writes ----------------------------------------------------------------------------

    async def _delete(self, node: _Node, policy: str) -> None:
        kind = node.kind
        try:
            await self.client.delete(kind.api_version, kind.resource, node.name, node.namespace,
                                     propagation_policy=policy, preconditions={"uid": node.uid})
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise

    async def _patch_meta(self, node: _Node, change: Any) -> None:
        """Read the live object, apply ``change(metadata) -> patch or None``, write it with the
        read resourceVersion (retrying on conflicts); a gone or replaced object is left alone."""
        kind = node.kind
        for _ in range(CONFLICT_ATTEMPTS):
            try:
                live = await self.client.get(kind.api_version, kind.resource, node.name, node.namespace)
            except StatusError as exc:
                if exc.code == 404:
                    return
                raise
            m = meta(live)
            if m.get("uid") != node.uid:
                return
            patch = change(m)
            if patch is None:
                return
            patch["resourceVersion"] = m.get("resourceVersion")
            try:
                await self.client.patch(kind.api_version, kind.resource, node.name, {"metadata": patch},
                                        node.namespace)
                return
            except StatusError as exc:
                if exc.code == 404:
                    return
                if exc.code != 409:
                    raise
        raise RuntimeError(f"{node.describe()}: too many conflicts")

    async def _patch_refs(self, node: _Node, keep: Any) -> None:
        def change(m: Obj) -> Obj | None:
            refs = m.get("ownerReferences") or []
            kept = keep(refs)
            if len(kept) == len(refs):
                return None
            return {"ownerReferences": kept or None}
        await self._patch_meta(node, change)

    async def _remove_finalizer(self, node: _Node, finalizer: str) -> None:
        def change(m: Obj) -> Obj | None:
            finalizers = m.get("finalizers") or []
            if finalizer not in finalizers:
                return None
            return {"finalizers": [f for f in finalizers if f != finalizer] or None}
        await self._patch_meta(node, change)
