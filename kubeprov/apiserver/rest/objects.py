"""get, list, create, update, patch, delete and deletecollection on stored resources."""

from __future__ import annotations

import copy
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kubeprov.api import status
from kubeprov.api.fielderrors import forbidden, required
from kubeprov.api.names import generate_name
from kubeprov.api.patch import (
    JSONPatchError,
    StrategicMergePatchError,
    apply_json_patch,
    apply_merge_patch,
    strategic_merge,
)
from kubeprov.api.status import StatusError
from kubeprov.apiserver.resources.types import ResourceType
from kubeprov.apiserver.rest import negotiate
from kubeprov.apiserver.rest.call import Call
from kubeprov.apiserver.rest.hooks import ResourceHooks
from kubeprov.apiserver.rest.selectors import build_predicate
from kubeprov.apiserver.rest.versions import to_served, to_storage
from kubeprov.apiserver.storage.store import Store, UpdateFn
from kubeprov.apiserver.storage.watchcache import WatchCache
from kubeprov.apiserver.strategy import set_requester, strategy_for

Obj = dict[str, Any]

# metadata the client may not set or change: the server owns it
SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
               "selfLink")
# kinds whose DELETE answers with the object (the official client expects that type back)
RETURNS_DELETED_OBJECT = {("", "pods"), ("", "services")}
# a delete that loses a race with another write is checked again on the new version this many times
DELETE_ATTEMPTS = 5


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _invalid(rt: ResourceType, name: str, errors: list[Any]) -> StatusError:
    return StatusError(status.invalid(rt.kind, rt.group, name, errors))


class Objects:
    """The generic registry store of kube-apiserver: strategy hooks around etcd CRUD."""

    def __init__(self, store: Store, cache: WatchCache, field_manager: Any = None, admission: Any = None,
                 hooks: dict[tuple[str, str], ResourceHooks] | None = None, validation: Any = None) -> None:
        self.validation = validation
        self.store = store
        self.cache = cache
        self.fields = field_manager
        self.admission = admission
        self.hooks = hooks or {}
        self._no_hooks = ResourceHooks()

    def hooks_for(self, rt: ResourceType) -> ResourceHooks:
        return self.hooks.get((rt.group, rt.resource), self._no_hooks)

    async def _store_create(self, call: Call, obj: Obj) -> Obj:
        """Create with the resource's side effects, undone if the write fails."""
        hooks = self.hooks_for(call.rt)
        token = None if call.dry_run else await hooks.before_create(obj)
        try:
            stored = await self.store.create(call.rt, to_storage(call.rt, obj), dry_run=call.dry_run)
            return to_served(call.rt, stored)
        except BaseException:
            await hooks.undo_create(token)
            raise

    async def _store_update(self, call: Call, mutate: UpdateFn) -> tuple[Obj, Obj]:
        hooks = self.hooks_for(call.rt)
        tokens: list[Any] = []

        async def with_hooks(stored: Obj) -> Obj | None:
            old = to_served(call.rt, stored)
            new = await mutate(old)
            if new is None:
                return None
            if not call.dry_run:
                tokens.append(await hooks.before_update(new, old))
            return to_storage(call.rt, new)

        try:
            new, old = await self.store.update(call.rt, call.namespace, call.info.name, with_hooks,
                                               dry_run=call.dry_run)
        except BaseException:
            for token in tokens:
                await hooks.undo_update(token)
            raise
        for token in tokens[:-1]:  # attempts lost to a conflict
            await hooks.undo_update(token)
        if new is not old and not call.dry_run:
            await hooks.after_update(new, old)
        return to_served(call.rt, new), to_served(call.rt, old)

    async def _store_delete(self, call: Call, obj: Obj) -> Obj:
        gone = await self.store.delete(call.rt, obj, dry_run=call.dry_run)
        if not call.dry_run:
            await self.hooks_for(call.rt).after_delete(gone)
        return gone

    # ---- helpers ---------------------------------------------------------------------------

    def check_body(self, call: Call, body: Any, *, name: str = "") -> Obj:
        """The object must be of this endpoint's kind and agree with the URL on name and namespace."""
        rt = call.rt
        if not isinstance(body, dict):
            raise StatusError(status.bad_request(f"the object provided is unrecognized (must be of type {rt.kind})"))
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if api_version and api_version != rt.api_version:
            raise StatusError(status.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.api_version})"))
        if kind and kind != rt.kind:
            version = (api_version or rt.api_version).rpartition("/")[2]
            internal = rt.group.split(".")[0] or "core"
            raise StatusError(status.bad_request(
                f'{kind} in version "{version}" cannot be handled as a {rt.kind}: converting ({version}.{kind}) '
                f"to ({internal}.{rt.kind}): unknown conversion"))
        if not isinstance(body.get("metadata", {}), dict):
            raise StatusError(status.bad_request("metadata: expected an object"))
        body["apiVersion"], body["kind"] = rt.api_version, rt.kind
        meta = body.setdefault("metadata", {})
        if rt.namespaced:
            given = meta.get("namespace")
            if given and given != call.info.namespace:
                raise StatusError(status.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"))
            meta["namespace"] = call.info.namespace
        else:
            meta.pop("namespace", None)
        if name and meta.get("name") and meta["name"] != name:
            raise StatusError(status.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"))
        if name:
            meta["name"] = name
        return body

    def _managed(self, call: Call, live: Obj | None, new: Obj, subresource: str = "") -> Obj:
        if self.fields is None:
            return new
        rt = call.rt
        return self.fields.update(live=live, new=new, manager=call.field_manager, api_version=rt.api_version,
                                  kind=rt.kind, group=rt.group, subresource=subresource)

    # ---- read ------------------------------------------------------------------------------

    async def get(self, call: Call) -> Obj:
        return to_served(call.rt, await self.store.get(call.rt, call.namespace, call.info.name))

    async def list(self, call: Call) -> tuple[list[Obj], Obj]:
        """Items and list metadata. ``resourceVersion=0`` reads the watch cache; otherwise etcd."""
        rt = call.rt
        q = call.query
        predicate = build_predicate(rt, q)
        try:
            limit = max(0, int(q.get("limit", "0") or 0))
        except ValueError:
            raise StatusError(status.bad_request(f"invalid limit: {q.get('limit')!r}")) from None
        rv = q.get("resourceVersion", "")
        if rv == "0" and not q.get("continue"):
            cache = self.cache.resource(rt.group, rt.resource)
            items = cache.snapshot(rt.etcd_prefix(call.namespace or None))
            if predicate is not None:
                items = [o for o in items if predicate(o)]
            return items, {"resourceVersion": str(self.cache.revision)}
        revision = 0
        if rv and q.get("resourceVersionMatch") == "Exact":
            revision = _parse_rv(rv)
        page = await self.store.list(rt, call.namespace, limit=limit, continue_token=q.get("continue", ""),
                                     revision=revision, predicate=predicate)
        meta: Obj = {"resourceVersion": str(page.revision)}
        if page.continue_token:
            meta["continue"] = page.continue_token
            if page.remaining is not None:
                meta["remainingItemCount"] = page.remaining
        return page.items, meta

    # ---- create ----------------------------------------------------------------------------

    def _check_fields(self, call: Call, obj: Any, raw: bytes | None) -> None:
        if self.validation is not None:
            self.validation.check(call, obj, raw)

    async def create(self, call: Call, body: Any, raw: bytes | None = None) -> Obj:
        rt = call.rt
        self._check_fields(call, body, raw)
        obj = self.check_body(call, body)
        meta = obj["metadata"]
        strategy = strategy_for(rt)
        for key in SERVER_META:
            meta.pop(key, None)
        meta.pop("resourceVersion", None)
        if not meta.get("name") and not meta.get("generateName"):
            raise _invalid(rt, "", [required("metadata.name", "name or generateName is required")])
        strategy.default(obj)
        if rt.resource == "certificatesigningrequests" and call.user is not None:
            user = call.user
            set_requester(obj, user.name, user.uid, list(user.groups), dict(user.extra))
        if self.admission is not None:
            await self.admission.mutate(call, obj, None)
        attempts = 3 if not meta.get("name") else 1
        for attempt in range(attempts):
            candidate = copy.deepcopy(obj) if attempts > 1 else obj
            cmeta = candidate["metadata"]
            if not cmeta.get("name"):
                cmeta["name"] = generate_name(cmeta["generateName"])
            cmeta["uid"] = str(uuid.uuid4())
            cmeta["creationTimestamp"] = now_rfc3339()
            strategy.prepare_for_create(candidate)
            errors = strategy.validate(candidate)
            if errors:
                raise _invalid(rt, cmeta.get("name", ""), errors)
            if self.admission is not None:
                await self.admission.validate(call, candidate, None)
            candidate = self._managed(call, None, candidate)
            try:
                return await self._store_create(call, candidate)
            except StatusError as err:
                if err.reason != "AlreadyExists" or attempt == attempts - 1 or meta.get("name"):
                    raise
        raise AssertionError("unreachable")

    # ---- update and patch ------------------------------------------------------------------

    async def update(self, call: Call, body: Any, subresource: str = "", raw: bytes | None = None) -> Obj:
        rt = call.rt
        self._check_fields(call, body, raw)
        obj = self.check_body(call, body, name=call.info.name)
        strategy = strategy_for(rt)
        strategy.default(obj)
        wanted_rv = obj["metadata"].get("resourceVersion") or ""

        async def mutate(old: Obj) -> Obj:
            if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise StatusError(status.conflict(rt.group_resource, call.info.name))
            return await self._prepare_update(call, copy.deepcopy(obj), old, subresource)

        new, old = await self._store_update(call, mutate)
        return await self._finish_update(call, new, old)

    async def patch(self, call: Call, raw: bytes, content_type: str, subresource: str = "") -> Obj:
        rt = call.rt
        kind = negotiate.media_type(content_type)
        if kind not in negotiate.PATCH_TYPES:
            raise StatusError(status.unsupported_media_type(negotiate.PATCH_TYPES))
        patch = negotiate.decode_body(raw, kind, allowed=negotiate.PATCH_TYPES)
        if kind == negotiate.APPLY_PATCH:
            return await self.apply(call, patch, subresource)
        strategy = strategy_for(rt)

        async def mutate(old: Obj) -> Obj:
            patched = apply_patch(rt.kind, rt.group, kind, old, patch)
            if not isinstance(patched, dict):
                raise StatusError(status.bad_request("the patch did not produce an object"))
            self._check_fields(call, patched, None)
            patched = self.check_body(call, patched, name=call.info.name)
            wanted = (patched.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise StatusError(status.conflict(rt.group_resource, call.info.name))
            strategy.default(patched)
            return await self._prepare_update(call, patched, old, subresource)

        new, old = await self._store_update(call, mutate)
        return await self._finish_update(call, new, old)

    async def apply(self, call: Call, applied: Any, subresource: str = "") -> Obj:
        """Server-side apply: create when absent, else merge with field ownership."""
        rt = call.rt
        if self.fields is None:
            raise StatusError(status.unsupported_media_type(negotiate.PATCH_TYPES[:3]))
        if not call.query.get("fieldManager"):
            raise StatusError(status.bad_request(
                "PATCH, application/apply-patch+yaml requests must include the fieldManager parameter"))
        force = call.query.get("force", "") == "true"
        applied = self.check_body(call, applied, name=call.info.name)
        strategy = strategy_for(rt)
        kv = await self.store.get_kv(rt, call.namespace, call.info.name)
        if kv is None and not subresource:
            merged = self.fields.apply(live=None, applied=applied, manager=call.field_manager, force=force,
                                       api_version=rt.api_version, kind=rt.kind, group=rt.group,
                                       name=call.info.name)
            return await self._create_applied(call, merged)

        async def mutate(old: Obj) -> Obj:
            merged = self.fields.apply(live=old, applied=copy.deepcopy(applied), manager=call.field_manager,
                                       force=force, api_version=rt.api_version, kind=rt.kind, group=rt.group,
                                       subresource=subresource, name=call.info.name)
            strategy.default(merged)
            return await self._prepare_update(call, merged, old, subresource, managed=False)

        new, old = await self._store_update(call, mutate)
        return await self._finish_update(call, new, old)

    async def _create_applied(self, call: Call, obj: Obj) -> Obj:
        rt = call.rt
        strategy = strategy_for(rt)
        meta = obj["metadata"]
        for key in SERVER_META:
            meta.pop(key, None)
        strategy.default(obj)
        if self.admission is not None:
            await self.admission.mutate(call, obj, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        strategy.prepare_for_create(obj)
        errors = strategy.validate(obj)
        if errors:
            raise _invalid(rt, meta.get("name", ""), errors)
        if self.admission is not None:
            await self.admission.validate(call, obj, None)
        return await self._store_create(call, obj)

    async def _prepare_update(self, call: Call, new: Obj, old: Obj, subresource: str, managed: bool = True) -> Obj:
        rt = call.rt
        strategy = strategy_for(rt)
        meta, old_meta = new.setdefault("metadata", {}), old["metadata"]
        for key in SERVER_META:
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise _invalid(rt, call.info.name, [forbidden(
                    "metadata.finalizers", f"no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {sorted(added)!r}")])
        if subresource:
            strategy.prepare_for_subresource_update(subresource, new, old)
            errors = strategy.validate_subresource_update(subresource, new, old)
        else:
            strategy.prepare_for_update(new, old)
            errors = strategy.validate_update(new, old)
        if errors:
            raise _invalid(rt, call.info.name, errors)
        if self.admission is not None:
            await self.admission.validate(call, new, old)
        if managed:
            new = self._managed(call, old, new, subresource)
        return new

    async def _finish_update(self, call: Call, new: Obj, old: Obj) -> Obj:
        """An object being deleted whose last finalizer this update removed is removed for good (the
        registry's shouldDeleteDuringUpdate); other updates of a deleting object, such as a kubelet's status
        writes during a pod's grace period, leave it in place."""
        meta = new["metadata"]
        had = (old.get("metadata") or {}).get("finalizers") or _spec_finalizers(call.rt, old)
        if (meta.get("deletionTimestamp") and had and not meta.get("finalizers")
                and not _spec_finalizers(call.rt, new) and not call.dry_run):
            try:
                await self._store_delete(call, new)
            except StatusError as err:
                if err.code != 404:
                    raise
        return new

    # ---- delete ----------------------------------------------------------------------------

    async def delete(self, call: Call, options: Any) -> tuple[Obj, int]:
        """Returns (response object, HTTP code): 200 when gone now, 202 when finalizers defer it."""
        rt = call.rt
        opts = options if isinstance(options, dict) else {}
        grace = _grace(call, opts)
        policy = opts.get("propagationPolicy") or call.query.get("propagationPolicy") or ""
        if policy and policy not in ("Orphan", "Background", "Foreground"):
            raise StatusError(status.bad_request(
                f'propagationPolicy: Unsupported value: "{policy}": supported values: "Foreground", '
                '"Background", "Orphan", "nil"'))
        if opts.get("orphanDependents") is True:
            policy = policy or "Orphan"
        pre = opts.get("preconditions") or {}

        async def mutate(old: Obj) -> Obj:
            meta = old["metadata"]
            if self.admission is not None:
                await self.admission.validate_delete(call, old)
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise StatusError(status.conflict(rt.group_resource, call.info.name,
                                                  f"Precondition failed: UID in precondition: {pre['uid']}, "
                                                  f"UID in object meta: {meta.get('uid')}"))
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
                raise StatusError(status.conflict(
                    rt.group_resource, call.info.name,
                    f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                    f"ResourceVersion in object meta: {meta.get('resourceVersion')}"))
            finalizers = list(meta.get("finalizers") or [])
            if policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            if policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            graceful = _graceful_pod(rt, old, grace)
            if not finalizers and graceful is None and not _spec_finalizers(rt, old):
                return old  # delete outright below
            if not meta.get("deletionTimestamp"):
                seconds = graceful or 0
                meta["deletionTimestamp"] = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")
                meta["deletionGracePeriodSeconds"] = seconds
            elif graceful is not None and graceful < (meta.get("deletionGracePeriodSeconds") or 0):
                meta["deletionGracePeriodSeconds"] = graceful
            if finalizers:
                meta["finalizers"] = finalizers
            if rt.kind == "Namespace":
                old.setdefault("status", {})["phase"] = "Terminating"
            return old

        for attempt in range(DELETE_ATTEMPTS):
            new, old = await self._store_update(call, mutate)
            meta = new["metadata"]
            if meta.get("deletionTimestamp") and (meta.get("finalizers") or _spec_finalizers(rt, new)
                                                  or _graceful_pod(rt, new, grace) is not None):
                return new, 202 if meta.get("finalizers") else 200
            try:
                gone = await self._store_delete(call, new)
                break
            except StatusError as err:
                # another writer got in between: check again on the new version, as kube-apiserver's store
                # does, unless the client pinned a resourceVersion
                if err.code != 409 or pre.get("resourceVersion") or attempt == DELETE_ATTEMPTS - 1:
                    raise
        if (rt.group, rt.resource) in RETURNS_DELETED_OBJECT:
            return gone, 200
        return status.success(name=call.info.name, group=rt.group, kind=rt.resource, uid=meta.get("uid", "")), 200

    async def delete_collection(self, call: Call, options: Any) -> Obj:
        items, _ = await self.list(call)
        for item in items:
            one = Call(info=replace(call.info, name=item["metadata"]["name"]), rt=call.rt, query=call.query,
                       accept=call.accept, user=call.user, user_agent=call.user_agent)
            try:
                await self.delete(one, options)
            except StatusError as err:
                if err.code != 404:
                    raise
        return status.success()


def _parse_rv(text: str) -> int:
    try:
        value = int(text)
        if value < 0:
            raise ValueError
        return value
    except ValueError:
        raise StatusError(status.bad_request(f"invalid resource version: {text!r}")) from None


def _grace(call: Call, opts: Obj) -> int | None:
    value = opts.get("gracePeriodSeconds", call.query.get("gracePeriodSeconds"))
    if value is None or value == "":
        return None
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        raise StatusError(status.bad_request(f"invalid gracePeriodSeconds: {value!r}")) from None


def _spec_finalizers(rt: ResourceType, obj: Obj) -> list[str]:
    """A Namespace also waits for ``spec.finalizers`` (the namespace controller empties its content,
    then removes "kubernetes" through /finalize), as Kubernetes' namespace storage does."""
    if rt.group or rt.resource != "namespaces":
        return []
    return list((obj.get("spec") or {}).get("finalizers") or [])


def _graceful_pod(rt: ResourceType, obj: Obj, grace: int | None) -> int | None:
    """Pods on a node get their grace period for the kubelet to stop them; others go at once."""
    if rt.group or rt.resource != "pods":
        return None
    spec, phase = obj.get("spec") or {}, (obj.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return None
    seconds = grace if grace is not None else spec.get("terminationGracePeriodSeconds", 30)
    return None if seconds == 0 else int(seconds)


def apply_patch(kind: str, group: str, media: str, old: Obj, patch: Any) -> Any:
    """JSON patch, merge patch or strategic merge patch (``kind``/``group`` pick the merge keys)."""
    try:
        if media == negotiate.JSON_PATCH:
            return apply_json_patch(old, patch)
        if media == negotiate.MERGE_PATCH:
            return apply_merge_patch(old, patch)
        return strategic_merge(old, patch, kind, group)
    except (JSONPatchError, StrategicMergePatchError) as err:
        raise StatusError(err.to_status()) from None
