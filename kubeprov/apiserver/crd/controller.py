"""Serving CustomResourceDefinitions: registry entries, schemas, status, finalizer and cleanup.

One controller per API server follows the CRDs through the watch cache. Registry changes are
made synchronously when an event arrives, so a CRD is served a few milliseconds after it is
stored (``kubectl apply -f crd.yaml && kubectl create -f cr.yaml`` works). Writes (the finalizer,
the status Kubernetes' naming and establishing controllers write, deleting the custom objects
of a CRD being deleted) happen in a worker afterwards. Every write is computed from the stored
object and skipped when nothing changes, so the controller's own events do not loop, and
several API servers sharing one etcd converge on the same result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kubeprov.api.status import StatusError
from kubeprov.apiserver.apply import SchemaStore
from kubeprov.apiserver.crd import names, spec
from kubeprov.apiserver.crd.names import Acceptance, Claims
from kubeprov.apiserver.crd.validation import structural_problems
from kubeprov.apiserver.resources import Registry, ResourceType, Subresource
from kubeprov.apiserver.storage.keys import prefix_key
from kubeprov.apiserver.storage.store import Store, UpdateFn
from kubeprov.apiserver.storage.watchcache import DELETED, CacheEvent, WatchCache, Watcher
from kubeprov.etcd import EtcdError

Obj = dict[str, Any]
log = logging.getLogger("kubeprov.apiserver.crd")

PREFIX = prefix_key(spec.GROUP, spec.RESOURCE)
STATUS = Subresource("status", "")
SCALE = Subresource("scale", "Scale", group="autoscaling", version="v1")
RETRY_SECONDS = 0.5
Key = tuple[str, str, str]


def resource_types(crd: Obj, accepted: Obj) -> list[ResourceType]:
    """One ResourceType per served version, named by the accepted names."""
    storage = spec.storage_version(crd)
    out = []
    for entry in spec.served_versions(crd):
        subresources = tuple(sub for sub, wanted in ((STATUS, spec.has_status(entry)),
                                                     (SCALE, spec.scale(entry) is not None)) if wanted)
        out.append(ResourceType(
            group=spec.group(crd), version=entry["name"], resource=accepted["plural"], kind=accepted["kind"],
            namespaced=spec.namespaced(crd), singular=accepted.get("singular", ""),
            short_names=tuple(accepted.get("shortNames") or ()), categories=tuple(accepted.get("categories") or ()),
            subresources=subresources, storage_version=storage, custom=True, extra={"crd": crd}))
    return out


def _order(crd: Obj) -> tuple[bool, str, str]:
    """CRDs holding accepted names keep them; the others claim names oldest first."""
    meta = crd.get("metadata") or {}
    return not names.is_true(crd, names.NAMES_ACCEPTED), str(meta.get("creationTimestamp") or ""), spec.name(crd)


class CrdController:
    """Keeps ``registry`` and ``schemas`` serving exactly the established CRDs' served versions."""

    def __init__(self, *, registry: Registry, cache: WatchCache, store: Store, schemas: SchemaStore) -> None:
        self.registry = registry
        self.cache = cache
        self.store = store
        self.schemas = schemas
        self.crds: dict[str, Obj] = {}
        self.acceptance: dict[str, Acceptance] = {}
        # what each CRD has put in the registry: (group, version, resource) -> kind
        self._served: dict[str, dict[Key, str]] = {}
        self._builtin: dict[str, Claims] = {}
        self._pending: set[str] = set()
        # (group, plural) of CRDs that vanished without the cleanup finalizer
        self._orphans: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._watcher: Watcher | None = None
        self._stopping = False

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve the stored CRDs now, then follow their changes."""
        for rt in self.registry.all():
            if not rt.custom:
                claims = self._builtin.setdefault(rt.group, Claims())
                claims.take({"plural": rt.resource, "singular": rt.singular_name, "shortNames": rt.short_names,
                             "kind": rt.kind, "listKind": rt.list_kind})
        watcher = self._subscribe()
        self._tasks = [asyncio.create_task(self._follow(watcher), name="crd-watch"),
                       asyncio.create_task(self._work(), name="crd-worker")]

    async def stop(self) -> None:
        self._stopping = True
        if self._watcher is not None:
            self._watcher.close("the API server is shutting down")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def _subscribe(self) -> Watcher:
        """Watch the CRDs, starting from the cache's current state (all of it replaces what we had)."""
        watcher, initial = self.cache.watch(spec.GROUP, spec.RESOURCE, PREFIX, lambda obj: True, from_revision=None)
        self._watcher = watcher
        self.crds = {}
        for item in initial:
            _, obj = (item.type, item.obj) if isinstance(item, CacheEvent) else item
            self.crds[spec.name(obj)] = obj
        self.sync()
        self._queue(*self.crds)
        return watcher

    async def _follow(self, watcher: Watcher) -> None:
        while True:
            item = await watcher.queue.get()
            if item is None:
                if self._stopping:
                    return
                log.info("CRD watch closed (%s); resubscribing", watcher.closed_reason or "no reason")
                watcher = self._subscribe()
                continue
            kind, obj = (item.type, item.obj) if isinstance(item, CacheEvent) else item
            self.observe(kind, obj)

    def observe(self, kind: str, obj: Obj) -> None:
        """Apply one watch event: the registry changes before this returns."""
        crd_name = spec.name(obj)
        before = dict(self.acceptance)
        if kind == DELETED:
            gone = self.crds.pop(crd_name, None) or obj
            outcome = before.get(crd_name)
            unfinalized = spec.FINALIZER not in spec.finalizers(gone) and not spec.being_deleted(gone)
            if unfinalized and outcome is not None and outcome.accepted:
                # deleted before it got the cleanup finalizer: its objects are still to be removed
                self._orphans.add((spec.group(gone), outcome.names.get("plural", "")))
        else:
            self.crds[crd_name] = obj
        self.sync()
        changed = {n for n, outcome in self.acceptance.items() if before.get(n) != outcome}
        for name in sorted(changed):
            if not self.acceptance[name].accepted:
                log.warning("CRD %s is not served: %s", name, self.acceptance[name].message)
        self._queue(crd_name, *changed)

    def _queue(self, *crd_names: str) -> None:
        self._pending.update(crd_names)
        if self._pending or self._orphans:
            self._wake.set()

    # ---- registry --------------------------------------------------------------------------

    def sync(self) -> None:
        """Decide names for every CRD (oldest first) and make the registry match, without awaiting."""
        claims: dict[str, Claims] = {}
        self.acceptance = {}
        wanted: dict[str, list[ResourceType]] = {}
        for crd in sorted(self.crds.values(), key=_order):
            crd_name, group = spec.name(crd), spec.group(crd)
            taken = claims.setdefault(group, Claims(set(self._builtin.get(group, Claims()).resources),
                                                    set(self._builtin.get(group, Claims()).kinds)))
            outcome = names.accept(crd, taken)
            self.acceptance[crd_name] = outcome
            if outcome.accepted:
                taken.take(outcome.names)
            if outcome.accepted and not spec.being_deleted(crd):
                wanted[crd_name] = resource_types(crd, outcome.names)
        for crd_name in list(self._served):
            if crd_name not in wanted:
                self._unserve(crd_name, {})
        for crd_name, types in wanted.items():
            self._serve(crd_name, types)

    def _serve(self, crd_name: str, types: list[ResourceType]) -> None:
        keep = {(rt.group, rt.version, rt.resource): rt.kind for rt in types}
        self._unserve(crd_name, keep)
        for rt in types:
            key = (rt.group, rt.version, rt.resource)
            current = self.registry.get(*key)
            crd = rt.extra["crd"]
            same = (current is not None and current == rt and current.custom
                    and (current.extra.get("crd") or {}).get("spec") == crd.get("spec"))
            if same and current is not None:
                current.extra["crd"] = crd  # newest object (status, resourceVersion); same served shape
                continue
            owner = spec.name((current.extra.get("crd") or {}) if current is not None else {})
            if current is not None and (not current.custom or owner != crd_name):
                log.warning("CRD %s would replace %s; not served", crd_name, rt.group_resource)
                continue
            self.registry.add(rt)
            self._register_schema(crd_name, rt, crd)
            self._served.setdefault(crd_name, {})[key] = rt.kind
            log.info("serving %s/%s %s (CRD %s)", rt.group, rt.version, rt.resource, crd_name)

    def _register_schema(self, crd_name: str, rt: ResourceType, crd: Obj) -> None:
        entry = spec.version(crd, rt.version)
        schema = spec.schema(entry)
        problems = structural_problems(schema) if schema is not None else ["openAPIV3Schema: Required value"]
        if problems:
            log.warning("CRD %s version %s has a schema that is not structural (served anyway): %s",
                        crd_name, rt.version, "; ".join(problems[:5]))
        try:
            node = self.schemas.for_custom(schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
        except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as err:
            log.warning("CRD %s version %s: schema not usable for field tracking (%s)", crd_name, rt.version, err)
            node = self.schemas.for_custom({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
        self.schemas.register(rt.group, rt.version, rt.kind, node, status_subresource=spec.has_status(entry))

    def _unserve(self, crd_name: str, keep: dict[Key, str]) -> None:
        served = self._served.get(crd_name, {})
        for key, kind in list(served.items()):
            if keep.get(key) == kind:
                continue
            current = self.registry.get(*key)
            if current is not None and current.custom:
                self.registry.remove(*key)
            self.schemas.unregister(key[0], key[1], kind)
            del served[key]
            log.info("no longer serving %s/%s %s (CRD %s)", key[0], key[1], key[2], crd_name)
        if not served:
            self._served.pop(crd_name, None)

    # ---- writes ----------------------------------------------------------------------------

    @property
    def _crd_type(self) -> ResourceType:
        rt = self.registry.get(spec.GROUP, "v1", spec.RESOURCE)
        assert rt is not None, "the CustomResourceDefinition resource is built in"
        return rt

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, set()
            failed: set[str] = set()
            await self._remove_orphans()
            for crd_name in sorted(batch):
                try:
                    await self.reconcile(crd_name)
                except asyncio.CancelledError:
                    raise
                except (StatusError, EtcdError, OSError) as err:
                    log.warning("CRD %s: %s; retrying", crd_name, err)
                    failed.add(crd_name)
            if failed:
                await asyncio.sleep(RETRY_SECONDS)
                self._queue(*failed)

    async def reconcile(self, crd_name: str) -> None:
        """Bring one stored CRD to its wanted finalizer and status, or finish its deletion."""
        crd = self.crds.get(crd_name)
        if crd is None:
            return
        if spec.being_deleted(crd):
            await self.finalize(crd_name)
            return
        acceptance = self.acceptance.get(crd_name)
        if acceptance is None:
            return
        if spec.FINALIZER in spec.finalizers(crd) and names.desired_status(
                crd, acceptance, names.now_rfc3339()) == crd.get("status"):
            return  # the newest object seen is already as wanted

        async def mutate(current: Obj) -> Obj | None:
            if spec.being_deleted(current):
                return None
            meta = current.setdefault("metadata", {})
            if spec.FINALIZER not in spec.finalizers(current):
                meta["finalizers"] = [*spec.finalizers(current), spec.FINALIZER]
            wanted = names.desired_status(current, acceptance, names.now_rfc3339())
            if wanted != current.get("status"):
                current["status"] = wanted
            return current

        await self._update(crd_name, mutate)

    async def _update(self, crd_name: str, mutate: UpdateFn) -> tuple[Obj, Obj] | None:
        try:
            return await self.store.update(self._crd_type, "", crd_name, mutate)
        except StatusError as err:
            if err.code == 404:
                return None
            raise

    async def finalize(self, crd_name: str) -> None:
        """Delete the custom objects of a CRD being deleted, then let the CRD go."""
        crd = self.crds.get(crd_name)
        if crd is None or spec.FINALIZER not in spec.finalizers(crd):
            return
        plural = spec.names(crd).get("plural", "")
        if names.is_true(crd, names.ESTABLISHED) and plural and not self._claimed(spec.group(crd), plural, crd_name):
            await self._delete_objects(spec.group(crd), plural)
            reason, message = "InstanceDeletionCompleted", "removed all instances"
        else:
            reason, message = "NeverEstablished", "resource was never established"

        async def mutate(current: Obj) -> Obj | None:
            if not spec.being_deleted(current):
                return None
            current["status"] = names.terminating_status(current, reason, message, in_progress=False,
                                                         now=names.now_rfc3339())
            current["metadata"]["finalizers"] = [f for f in spec.finalizers(current) if f != spec.FINALIZER]
            return current

        result = await self._update(crd_name, mutate)
        if result is None:
            return
        new, _ = result
        meta = new.get("metadata") or {}
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            try:
                await self.store.delete(self._crd_type, new)
            except StatusError as err:
                if err.code == 409:
                    self._queue(crd_name)  # changed meanwhile: look again
                elif err.code != 404:
                    raise

    def _claimed(self, group: str, plural: str, other_than: str = "") -> bool:
        """Whether a CRD (besides ``other_than``) serves ``plural`` in ``group``: its objects must stay."""
        for crd_name, outcome in self.acceptance.items():
            crd = self.crds.get(crd_name)
            if crd_name != other_than and crd is not None and outcome.accepted and spec.group(crd) == group \
                    and outcome.names.get("plural") == plural:
                return True
        return False

    async def _delete_objects(self, group: str, plural: str) -> None:
        """All custom objects of one resource, every namespace and version, in one etcd range delete."""
        await self.store.client.delete(prefix_key(group, plural), prefix=True)
        log.info("deleted the objects of %s.%s", plural, group)

    async def _remove_orphans(self) -> None:
        while self._orphans:
            group, plural = self._orphans.pop()
            if plural and not self._claimed(group, plural):
                await self._delete_objects(group, plural)
