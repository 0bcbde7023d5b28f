"""ControllerRevisions: the template history of StatefulSets and DaemonSets.

Each distinct pod template a workload has had is kept as an ``apps/v1`` ControllerRevision owned by
the workload, named ``<workload>-<hash>``, with the template as a strategic-merge patch in
``data`` (what ``kubectl rollout history|undo`` reads and applies back) and an increasing
``revision``. Pods carry the hash in the ``controller-revision-hash`` label so a controller can
tell which revision a pod was made from. A name taken by a revision with other data (a hash
collision) is resolved by bumping the workload's ``status.collisionCount``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
from kubeprov.controllers.claiming import owner_reference

Obj = dict[str, Any]
REVISION_HASH_LABEL = "controller-revision-hash"
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def template_patch(workload: Obj) -> Obj:
    """What a revision stores: the workload's pod template, as a patch that replaces the template."""
    template = copy.deepcopy((workload.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def revision_hash(data: Obj, collision_count: int | None = None) -> str:
    """A stable, DNS-safe hash of revision data (and the collision count, when set)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    if collision_count:
        text += f"/{collision_count}"
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in str(value))


def revision_number(revision: Obj) -> int:
    return int(revision.get("revision") or 0)


def next_revision_number(revisions: list[Obj]) -> int:
    return max((revision_number(r) for r in revisions), default=0) + 1


def sort_revisions(revisions: list[Obj]) -> list[Obj]:
    """Oldest first (by revision number, then creation time and name)."""
    return sorted(revisions, key=lambda r: (revision_number(r), r["metadata"].get("creationTimestamp", ""),
                                            r["metadata"].get("name", "")))


def equal_revisions(a: Obj, b: Obj) -> bool:
    return (a.get("data") or {}) == (b.get("data") or {})


def new_revision(workload: Obj, kind: str, revision: int, collision_count: int | None = None) -> Obj:
    """The ControllerRevision object for ``workload``'s current template (not yet stored)."""
    data = template_patch(workload)
    digest = revision_hash(data, collision_count)
    labels = dict(((workload.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {})
    labels[REVISION_HASH_LABEL] = digest
    m = workload["metadata"]
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": f"{m['name']}-{digest}", "namespace": m.get("namespace", ""), "labels": labels,
                         "ownerReferences": [owner_reference(workload, "apps/v1", kind)]},
            "data": data, "revision": revision}


async def create_revision(client: ApiClient, workload: Obj, kind: str, revision: int,
                          collision_count: int) -> tuple[Obj, int]:
    """Store the revision for ``workload``'s template; returns it and the (maybe raised) collision count.

    A revision of the same name with the same data is already ours and is returned as is; one with
    other data is a hash collision, so the count goes up and the name changes.
    """
    namespace = workload["metadata"].get("namespace", "")
    while True:
        wanted = new_revision(workload, kind, revision, collision_count)
        try:
            return await client.create("apps/v1", "controllerrevisions", wanted, namespace), collision_count
        except StatusError as exc:
            if exc.code != 409:
                raise
        existing = await client.get("apps/v1", "controllerrevisions", wanted["metadata"]["name"], namespace)
        owners = [r.get("uid") for r in existing["metadata"].get("ownerReferences") or [] if r.get("controller")]
        if equal_revisions(existing, wanted) and owners == [workload["metadata"]["uid"]]:
            return existing, collision_count
        collision_count += 1
