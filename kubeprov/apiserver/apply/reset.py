"""Fields a write is never credited with, because the resource's strategy resets them.

Kubernetes strategies declare these "reset fields": a write to the main resource does not own
``status`` (the strategy copies the old status back), a write to ``/status`` does not own
``spec`` (nor, for some kinds, labels or pod metadata the status strategy restores). The
table mirrors the ``GetResetFields`` of the Kubernetes 1.32 strategies that differ from the
common case.
"""

from __future__ import annotations

from kubeprov.apiserver.apply.fieldset import FieldSet
from kubeprov.apiserver.apply.schema import Node

_STATUS_EXTRA: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("apps", "Deployment"): (("f:metadata", "f:labels"),),
    ("", "Pod"): (("f:metadata", "f:deletionTimestamp"), ("f:metadata", "f:ownerReferences")),
}


def reset_fields(group: str, kind: str, subresource: str, node: Node | None) -> FieldSet:
    """What a write of ``kind`` through ``subresource`` ("" for the main resource) ignores."""
    fields = node.fields if node is not None else {}
    if subresource == "":
        return FieldSet.of(("f:status",)) if node is None or "status" in fields else FieldSet()
    if subresource == "status":
        out = FieldSet.of(("f:spec",))
        for path in _STATUS_EXTRA.get((group, kind), ()):
            out.insert(path)
        return out
    return FieldSet()
