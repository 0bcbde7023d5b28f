"""Namespace deletion: delete everything in a terminating namespace, then remove the ``kubernetes``
finalizer through ``/finalize`` (Kubernetes' namespace controller and its resource deleter).

Resources come from discovery (``/api/v1`` and the preferred version of every ``/apis`` group);
each namespaced resource that can be listed and deleted is emptied with ``deletecollection``
(or one delete per object). While content remains the namespace is retried later. Status
conditions follow Kubernetes: every deletion condition is written, ``True`` only on trouble.

The API server may also remove a namespace at once (no finalizer kept): its leftover content
is then deleted the same way when the namespace's deletion is observed.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller, Obj, meta
from kubeprov.controllers.timestamps import now_text

FINALIZER = "kubernetes"
REQUEUE_SECONDS = 1.0

# condition type -> (reason when fine, message when fine, reason on trouble)
CONDITIONS = {
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered", "All resources successfully discovered",
                                          "DiscoveryFailed"),
    "NamespaceDeletionGroupVersionParsingFailure": ("ParsedGroupVersions",
                                                    "All legacy kube types successfully parsed",
                                                    "GroupVersionParsingFailed"),
    "NamespaceDeletionContentFailure": ("ContentDeleted",
                                        "All content successfully deleted, may be waiting on finalization",
                                        "ContentDeletionFailed"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed", "SomeResourcesRemain"),
    "NamespaceFinalizersRemaining": ("ContentHasNoFinalizers", "All content-preserving finalizers finished",
                                     "SomeFinalizersRemain"),
}


class NamespacedResource:
    def __init__(self, api_version: str, resource: str, verbs: list[str]) -> None:
        self.api_version = api_version
        self.resource = resource
        self.verbs = set(verbs)

    def __repr__(self) -> str:
        return f"{self.resource}.{self.api_version}"


async def discover_namespaced_resources(client: Any) -> tuple[list[NamespacedResource], list[str]]:
    """Namespaced, deletable resources of ``/api/v1`` and each group's preferred version; plus errors."""
    errors: list[str] = []
    versions = ["v1"]
    try:
        groups = await _get(client, "/apis")
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            if not preferred and group.get("versions"):
                preferred = group["versions"][0].get("groupVersion")
            if preferred:
                versions.append(preferred)
    except Exception as exc:
        errors.append(f"/apis: {exc}")
    found: list[NamespacedResource] = []
    for version in versions:
        path = "/api/v1" if version == "v1" else f"/apis/{version}"
        try:
            doc = await _get(client, path)
        except Exception as exc:
            errors.append(f"{version}: {exc}")
            continue
        for res in doc.get("resources") or []:
            name, verbs = res.get("name", ""), res.get("verbs") or []
            if "/" in name or not res.get("namespaced") or "delete" not in verbs or "list" not in verbs:
                continue
            found.append(NamespacedResource(version, name, verbs))
    return found, errors


async def _get(client: Any, path: str) -> Obj:
    # the client has no public raw GET; discovery documents are plain JSON GETs
    return await client._request("GET", path, read=True)


class NamespaceController(Controller):
    name = "namespace"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.namespaces = self.informer("v1", "namespaces")
        self.namespaces.add_handler(on_add=self._namespace, on_update=lambda _old, new: self._namespace(new),
                                    on_delete=self._gone)
        self._orphaned: set[str] = set()  # namespaces removed with content left behind

    def _namespace(self, ns: Obj) -> None:
        m = meta(ns)
        if m.get("deletionTimestamp") and self.wants(m.get("name", "")):
            self.enqueue(m["name"])

    def _gone(self, ns: Obj) -> None:
        name = meta(ns).get("name", "")
        if self.wants(name):
            self._orphaned.add(name)
            self.enqueue(name)

    async def sync(self, key: str) -> None:
        ns = self.namespaces.get("", key)
        if ns is None:
            if key in self._orphaned:
                try:
                    ns = await self.client.get("v1", "namespaces", key)
                except StatusError as exc:
                    if exc.code != 404:
                        raise
                    remaining = await self._delete_content(key, None)
                    if remaining:
                        self.queue.add_after(key, REQUEUE_SECONDS)
                    else:
                        self._orphaned.discard(key)
                    return
            else:
                return
        self._orphaned.discard(key)
        if not meta(ns).get("deletionTimestamp"):
            return
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return
        remaining = await self._delete_content(key, ns)
        if remaining:
            self.queue.add_after(key, REQUEUE_SECONDS)
            return
        fresh = await self.client.get("v1", "namespaces", key)
        finalizers = [f for f in (fresh.get("spec") or {}).get("finalizers") or [] if f != FINALIZER]
        fresh.setdefault("spec", {})["finalizers"] = finalizers
        try:
            await self.client.update("v1", "namespaces", fresh, key, subresource="finalize")
        except StatusError as exc:
            if exc.code != 404:
                raise
        self.log.info("namespace %s: content deleted, finalizer %s removed", key, FINALIZER)

    async def _delete_content(self, namespace: str, ns: Obj | None) -> int:
        """Delete everything; return how many objects remain (raise on errors, after writing status)."""
        resources, discovery_errors = await discover_namespaced_resources(self.client)
        content_errors: list[str] = []
        remaining: dict[str, int] = {}
        finalizers_left: dict[str, int] = {}
        for res in resources:
            try:
                if "deletecollection" in res.verbs:
                    await self.client.delete_collection(res.api_version, res.resource, namespace)
                items, _ = await self.client.list_all(res.api_version, res.resource, namespace)
                if "deletecollection" not in res.verbs:
                    for item in items:
                        if not meta(item).get("deletionTimestamp"):
                            try:
                                await self.client.delete(res.api_version, res.resource, meta(item)["name"], namespace)
                            except StatusError as exc:
                                if exc.code != 404:
                                    raise
                    items, _ = await self.client.list_all(res.api_version, res.resource, namespace)
            except StatusError as exc:
                if exc.code in (404, 405):
                    continue
                content_errors.append(f"{res}: {exc.message}")
                continue
            if items:
                remaining[str(res)] = len(items)
                for item in items:
                    for finalizer in meta(item).get("finalizers") or []:
                        finalizers_left[finalizer] = finalizers_left.get(finalizer, 0) + 1
        if ns is not None:
            await self._write_conditions(ns, {
                "NamespaceDeletionDiscoveryFailure": "; ".join(discovery_errors),
                "NamespaceDeletionGroupVersionParsingFailure": "",
                "NamespaceDeletionContentFailure": "; ".join(content_errors),
                "NamespaceContentRemaining": ", ".join(f"{r} has {n} resource instances"
                                                       for r, n in sorted(remaining.items())),
                "NamespaceFinalizersRemaining": ", ".join(f"{f} in {n} resource instances"
                                                          for f, n in sorted(finalizers_left.items())),
            })
        if discovery_errors or content_errors:
            raise RuntimeError(f"namespace {namespace}: " + "; ".join(discovery_errors + content_errors))
        return sum(remaining.values())

    async def _write_conditions(self, ns: Obj, problems: dict[str, str]) -> None:
        status = copy.deepcopy(ns.get("status") or {})
        old = {c.get("type"): c for c in status.get("conditions") or []}
        now = now_text()
        conditions = [c for c in status.get("conditions") or [] if c.get("type") not in CONDITIONS]
        for type_, (ok_reason, ok_message, bad_reason) in CONDITIONS.items():
            problem = problems.get(type_, "")
            if type_ == "NamespaceContentRemaining" and problem:
                problem = "Some resources are remaining: " + problem
            if type_ == "NamespaceFinalizersRemaining" and problem:
                problem = "Some content in the namespace has finalizers remaining: " + problem
            if type_ == "NamespaceDeletionContentFailure" and problem:
                problem = "Failed to delete all resource types, " + problem
            if type_ == "NamespaceDeletionDiscoveryFailure" and problem:
                problem = "Discovery failed for some groups, " + problem
            cond = {"type": type_, "status": "True" if problem else "False",
                    "reason": bad_reason if problem else ok_reason, "message": problem or ok_message}
            previous = old.get(type_)
            same = previous is not None and all(previous.get(k) == v for k, v in cond.items())
            cond["lastTransitionTime"] = previous.get("lastTransitionTime", now) if same else now
            conditions.append(cond)
        if conditions == status.get("conditions"):
            return
        new = copy.deepcopy(ns)
        new.setdefault("status", {})["conditions"] = conditions
        try:
            await self.client.update("v1", "namespaces", new, subresource="status")
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
