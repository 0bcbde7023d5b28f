"""The ControllerRefManager rules shared by the ReplicaSet, Deployment and StatefulSet controllers."""

from __future__ import annotations

import logging
from typing import Any

from kubeprov.api.status import StatusError
from kubeprov.controllers.claiming import RefManager, controlled_by, owner_reference

OWNER = {"metadata": {"name": "web", "namespace": "ns", "uid": "u-owner"}}
REF = owner_reference(OWNER, "apps/v1", "ReplicaSet")


def pod(name: str, app: str = "web", refs: list | None = None, deleting: bool = False) -> dict:
    m: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"u-{name}", "labels": {"app": app}}
    if refs is not None:
        m["ownerReferences"] = refs
    if deleting:
        m["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": m}


class FakeClient:
    """Answers the owner re-read with ``fresh`` and records ownerReferences patches."""

    def __init__(self, fresh: dict | None = OWNER, patch_error: int = 0) -> None:
        self.fresh, self.patch_error = fresh, patch_error
        self.gets = 0
        self.patches: list[tuple[str, Any]] = []

    async def get(self, api_version: str, resource: str, name: str, namespace: str = "") -> dict:
        self.gets += 1
        if self.fresh is None:
            raise StatusError({"code": 404, "message": "not found"})
        return self.fresh

    async def patch(self, api_version: str, resource: str, name: str, patch: dict, namespace: str = "") -> dict:
        self.patches.append((name, patch))
        if self.patch_error:
            raise StatusError({"code": self.patch_error, "message": "conflict"})
        return {"metadata": {"name": name, "namespace": namespace, **patch["metadata"]}}


def manager(client: FakeClient, owner: dict = OWNER) -> RefManager:
    return RefManager(client, owner, owner_api_version="apps/v1", owner_resource="replicasets",  # type: ignore[arg-type]
                      owner_kind="ReplicaSet", api_version="v1", resource="pods", log=logging.getLogger("test"))


def is_web(obj: dict) -> bool:
    return obj["metadata"]["labels"].get("app") == "web"


async def test_matching_orphans_are_adopted_with_a_uid_precondition() -> None:
    client = FakeClient()
    claimed = await manager(client).claim([pod("a"), pod("b")], is_web)
    assert [c["metadata"]["name"] for c in claimed] == ["a", "b"]
    assert client.patches[0][1] == {"metadata": {"ownerReferences": [REF], "uid": "u-a"}}


async def test_the_owner_is_read_afresh_once_per_claim() -> None:
    client = FakeClient()
    await manager(client).claim([pod("a"), pod("b"), pod("c")], is_web)
    assert client.gets == 1


async def test_no_adoption_when_the_owner_is_gone_or_replaced() -> None:
    gone = FakeClient(fresh=None)
    replaced = FakeClient(fresh={"metadata": {"name": "web", "namespace": "ns", "uid": "other"}})
    assert await manager(gone).claim([pod("a")], is_web) == []
    assert await manager(replaced).claim([pod("a")], is_web) == []
    assert gone.patches == [] and replaced.patches == []


async def test_controlled_objects_that_stopped_matching_are_released() -> None:
    client = FakeClient()
    other = {"apiVersion": "v1", "kind": "Thing", "name": "t", "uid": "u-t"}
    claimed = await manager(client).claim([pod("a", app="db", refs=[other, REF])], is_web)
    assert claimed == []
    assert client.patches == [("a", {"metadata": {"ownerReferences": [other], "uid": "u-a"}})]


async def test_an_owner_being_deleted_neither_adopts_nor_releases() -> None:
    client = FakeClient()
    deleting = {"metadata": {**OWNER["metadata"], "deletionTimestamp": "2024-01-01T00:00:00Z"}}
    claimed = await manager(client, deleting).claim([pod("a"), pod("b", app="db", refs=[REF]),
                                                     pod("c", refs=[REF])], is_web)
    assert [c["metadata"]["name"] for c in claimed] == ["c"]
    assert client.patches == []


async def test_others_objects_and_deleted_orphans_are_left_alone() -> None:
    client = FakeClient()
    theirs = {**REF, "uid": "someone-else"}
    claimed = await manager(client).claim([pod("a", refs=[theirs]), pod("b", deleting=True)], is_web)
    assert claimed == [] and client.patches == []


async def test_a_conflicting_patch_skips_the_object() -> None:
    client = FakeClient(patch_error=409)
    assert await manager(client).claim([pod("a")], is_web) == []


def test_controlled_by_picks_the_controller_reference_uid() -> None:
    objs = [pod("a", refs=[REF]), pod("b", refs=[{**REF, "controller": False}]), pod("c")]
    assert [o["metadata"]["name"] for o in controlled_by(objs, "u-owner")] == ["a"]
