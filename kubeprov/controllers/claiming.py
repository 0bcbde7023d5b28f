"""Owner references and claiming: which objects a controller may call its own.

Kubernetes' ``ControllerRefManager``: a controller (ReplicaSet, Deployment, StatefulSet) *claims* the
objects of its namespace: those it already controls and that still match are its own; matching
orphans are adopted (unless the owner or the orphan is being deleted, and only after one fresh read
of the owner shows it still exists, is the same object and is not being deleted); controlled objects
that stopped matching are released (unless the owner is being deleted). Adoption and release are
patches of ``ownerReferences`` carrying the object's uid as a precondition, so they never touch a
namesake that replaced the object; such a conflict or a vanished object just skips it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from kubeprov.api.status import StatusError
from kubeprov.controllers.podutil import controller_ref

if TYPE_CHECKING:
    from kubeprov.api.client import ApiClient

Obj = dict[str, Any]

# a patch that meets a vanished object (404), a namesake (409: uid precondition) or a refused change (422)
_SKIPPED = (404, 409, 422)


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def owner_reference(owner: Obj, api_version: str, kind: str) -> Obj:
    """The controller reference an owned object carries (``controller`` and ``blockOwnerDeletion`` set)."""
    m = _meta(owner)
    return {"apiVersion": api_version, "kind": kind, "name": m["name"], "uid": m["uid"], "controller": True,
            "blockOwnerDeletion": True}


def controlled_by(objs: Iterable[Obj], uid: str | None) -> list[Obj]:
    """The objects whose controller reference names ``uid`` (without claiming anything)."""
    return [obj for obj in objs if (controller_ref(obj) or {}).get("uid") == uid]


class RefManager:
    """Claims objects of one resource for one owner (one manager per sync, like Kubernetes').

    ``owner_api_version``/``owner_resource``/``owner_kind`` name the owner's type (to re-read it and to
    build the reference); ``api_version``/``resource`` the claimed objects'.
    """

    def __init__(self, client: ApiClient, owner: Obj, *, owner_api_version: str, owner_resource: str,
                 owner_kind: str, api_version: str, resource: str, log: logging.Logger) -> None:
        self.client = client
        self.owner = owner
        self.owner_api_version = owner_api_version
        self.owner_resource = owner_resource
        self.owner_kind = owner_kind
        self.api_version = api_version
        self.resource = resource
        self.log = log
        self._can_adopt: bool | None = None  # the fresh read of the owner, made at most once

    @property
    def uid(self) -> str | None:
        return _meta(self.owner).get("uid")

    @property
    def deleting(self) -> bool:
        return bool(_meta(self.owner).get("deletionTimestamp"))

    def reference(self) -> Obj:
        return owner_reference(self.owner, self.owner_api_version, self.owner_kind)

    async def claim(self, objs: Iterable[Obj], matches: Callable[[Obj], bool]) -> list[Obj]:
        """The owner's objects among ``objs`` after adopting matching orphans and releasing the
        controlled ones that no longer match (adopted ones as the patch returned them)."""
        claimed: list[Obj] = []
        for obj in objs:
            ref = controller_ref(obj)
            if ref is not None:
                if ref.get("uid") != self.uid:
                    continue
                if matches(obj):
                    claimed.append(obj)
                elif not self.deleting:
                    await self.release(obj)
                continue
            if self.deleting or _meta(obj).get("deletionTimestamp") or not matches(obj):
                continue
            adopted = await self.adopt(obj)
            if adopted is not None:
                claimed.append(adopted)
        return claimed

    async def can_adopt(self) -> bool:
        """Whether the owner, read afresh, is still there, the same object and not being deleted."""
        if self._can_adopt is None:
            m = _meta(self.owner)
            try:
                fresh = await self.client.get(self.owner_api_version, self.owner_resource, m["name"],
                                              m.get("namespace", ""))
            except StatusError as exc:
                if exc.code != 404:
                    raise
                self._can_adopt = False
            else:
                self._can_adopt = _meta(fresh).get("uid") == self.uid and not _meta(fresh).get("deletionTimestamp")
        return self._can_adopt

    async def adopt(self, obj: Obj) -> Obj | None:
        """Add the owner's controller reference to an orphan; None when it cannot (or need not) be done."""
        if not await self.can_adopt():
            return None
        adopted = await self._patch_refs(obj, [*(_meta(obj).get("ownerReferences") or []), self.reference()])
        if adopted is not None:
            self.log.info("%s %s/%s adopted %s %s", self.owner_kind, _meta(self.owner).get("namespace", ""),
                          _meta(self.owner).get("name", ""), self.resource, _meta(obj).get("name", ""))
        return adopted

    async def release(self, obj: Obj) -> Obj | None:
        """Drop the owner's reference from an object it controls; None when the object changed or went."""
        refs = [r for r in _meta(obj).get("ownerReferences") or [] if r.get("uid") != self.uid]
        released = await self._patch_refs(obj, refs or None)
        if released is not None:
            self.log.info("%s %s/%s released %s %s", self.owner_kind, _meta(self.owner).get("namespace", ""),
                          _meta(self.owner).get("name", ""), self.resource, _meta(obj).get("name", ""))
        return released

    async def _patch_refs(self, obj: Obj, refs: list[Obj] | None) -> Obj | None:
        m = _meta(obj)
        patch = {"metadata": {"ownerReferences": refs, "uid": m.get("uid")}}
        try:
            return await self.client.patch(self.api_version, self.resource, m["name"], patch,
                                           m.get("namespace", ""))
        except StatusError as exc:
            if exc.code in _SKIPPED:
                return None
            raise
