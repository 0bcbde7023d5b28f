"""Label and field selectors from the query string, as one predicate over stored objects."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubeprov.api import fields, labels, status
from kubeprov.api.status import StatusError
from kubeprov.apiserver.resources.types import ResourceType

Obj = dict[str, Any]


def build_predicate(rt: ResourceType, query: Mapping[str, str], name: str = "") -> Callable[[Obj], bool] | None:
    """None when nothing is selected (every object matches), so callers can skip the work."""
    label_text = query.get("labelSelector", "")
    field_text = query.get("fieldSelector", "")
    try:
        label_sel = labels.parse(label_text) if label_text else None
        field_sel = fields.convert_field_selector(rt.kind, fields.parse(field_text)) if field_text else None
    except (labels.SelectorError, ValueError) as exc:
        raise StatusError(status.bad_request(str(exc))) from None
    if label_sel is not None and not str(label_sel):
        label_sel = None
    if label_sel is None and field_sel is None and not name:
        return None
    kind, namespaced = rt.kind, rt.namespaced

    def matches(obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        if name and meta.get("name") != name:
            return False
        if label_sel is not None and not label_sel.matches(meta.get("labels") or {}):
            return False
        return field_sel is None or field_sel.matches(fields.object_fields(kind, obj, namespaced))

    return matches
