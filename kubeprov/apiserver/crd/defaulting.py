"""Pruning and defaulting of custom resources, as kube-apiserver does when it decodes a write.

Order matters and follows Kubernetes: unknown fields are pruned (unless a schema node keeps
them with ``x-kubernetes-preserve-unknown-fields``), then nulls of fields that are neither
nullable nor defaulted are dropped, ObjectMeta keeps only its own fields, and finally missing
fields (and non-nullable nulls) get their ``default``. ``apiVersion``, ``kind`` and ``metadata``
are never pruned at the root nor in ``x-kubernetes-embedded-resource`` objects.
"""

from __future__ import annotations

import copy
from typing import Any

Schema = dict[str, Any]
META_FIELDS = frozenset({"apiVersion", "kind", "metadata"})
OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
})
# additionalProperties: true keeps whatever is below it
_ANY: Schema = {"x-kubernetes-preserve-unknown-fields": True}


def _props(schema: Schema | None) -> dict[str, Schema]:
    props = schema.get("properties") if isinstance(schema, dict) else None
    return {k: v for k, v in props.items() if isinstance(v, dict)} if isinstance(props, dict) else {}


def _additional(schema: Schema | None) -> Schema | None:
    """The schema of map entries not named in ``properties`` (None: they are unknown)."""
    extra = schema.get("additionalProperties") if isinstance(schema, dict) else None
    if isinstance(extra, dict):
        return extra
    return _ANY if extra is True else None


def _items(schema: Schema | None) -> Schema | None:
    items = schema.get("items") if isinstance(schema, dict) else None
    return items if isinstance(items, dict) else None


def _embedded(schema: Schema | None) -> bool:
    return isinstance(schema, dict) and schema.get("x-kubernetes-embedded-resource") is True


def _preserves(schema: Schema | None) -> bool:
    return isinstance(schema, dict) and schema.get("x-kubernetes-preserve-unknown-fields") is True


def _field_schema(schema: Schema | None, key: str) -> Schema | None:
    props = _props(schema)
    return props[key] if key in props else _additional(schema)


# ---------------------------------------------------------------------------- pruning


def prune(obj: Any, schema: Schema | None, *, root: bool = True) -> None:
    """Drop fields the schema does not declare, in place (``root``: keep type and object meta)."""
    if root:
        schema = {**(schema or {}), "x-kubernetes-embedded-resource": True}
    _prune(obj, schema)


def _prune(value: Any, schema: Schema | None) -> None:
    if _preserves(schema):
        _skip_prune(value, schema)
        return
    if isinstance(value, dict):
        if schema is None:
            value.clear()
            return
        for key in list(value):
            if _embedded(schema) and key in META_FIELDS:
                continue
            props = _props(schema)
            if key in props:
                _prune(value[key], props[key])
            elif _additional(schema) is not None:
                _prune(value[key], _additional(schema))
            else:
                del value[key]
    elif isinstance(value, list):
        for item in value:
            _prune(item, _items(schema))


def _skip_prune(value: Any, schema: Schema | None) -> None:
    """Below x-kubernetes-preserve-unknown-fields unknown fields stay; declared ones are still pruned."""
    if schema is None:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if _embedded(schema) and key in META_FIELDS:
                continue
            props = _props(schema)
            if key in props:
                _prune(item, props[key])
            elif _additional(schema) is not None and _additional(schema) is not _ANY:
                _prune(item, _additional(schema))
    elif isinstance(value, list):
        for item in value:
            _skip_prune(item, _items(schema))


def prune_nulls(value: Any, schema: Schema | None) -> None:
    """Remove nulls of fields that are not nullable and have no default (they mean "unset")."""
    if isinstance(value, dict):
        for key in list(value):
            sub = _field_schema(schema, key) if schema is not None else None
            if value[key] is None and sub is not None and sub.get("nullable") is not True and "default" not in sub:
                del value[key]
            else:
                prune_nulls(value[key], sub)
    elif isinstance(value, list):
        for item in value:
            prune_nulls(item, _items(schema))


def coerce_metadata(obj: Any, schema: Schema | None, *, root: bool = True) -> None:
    """ObjectMeta keeps only its own fields, at the root and in embedded resources."""
    if not isinstance(obj, dict):
        if isinstance(obj, list):
            for item in obj:
                coerce_metadata(item, _items(schema), root=False)
        return
    if root or _embedded(schema):
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            for key in [k for k in meta if k not in OBJECT_META_FIELDS]:
                del meta[key]
    if schema is None:
        return
    for key, value in obj.items():
        if (root or _embedded(schema)) and key in META_FIELDS:
            continue
        sub = _field_schema(schema, key)
        if sub is not None and sub is not _ANY:
            coerce_metadata(value, sub, root=False)


# ---------------------------------------------------------------------------- defaulting


def _non_nullable_null(value: Any, schema: Schema | None) -> bool:
    return value is None and isinstance(schema, dict) and schema.get("nullable") is not True


def apply_defaults(value: Any, schema: Schema | None) -> None:
    """Fill in ``default`` values of missing fields and non-nullable nulls, in place."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = _props(schema)
        for key, prop in props.items():
            if "default" not in prop:
                continue
            if key not in value or _non_nullable_null(value[key], prop):
                value[key] = copy.deepcopy(prop["default"])
        extra = _additional(schema)
        for key in list(value):
            if key in props:
                apply_defaults(value[key], props[key])
            elif extra is not None:
                if _non_nullable_null(value[key], extra) and "default" in extra:
                    value[key] = copy.deepcopy(extra["default"])
                apply_defaults(value[key], extra)
    elif isinstance(value, list):
        items = _items(schema)
        for index, item in enumerate(value):
            if _non_nullable_null(item, items) and items is not None and "default" in items:
                value[index] = copy.deepcopy(items["default"])
            apply_defaults(value[index], items)


def normalize(obj: dict[str, Any], schema: Schema | None) -> None:
    """Everything a decoded write goes through before validation: prune, drop nulls, default."""
    prune(obj, schema)
    prune_nulls(obj, schema)
    coerce_metadata(obj, schema)
    apply_defaults(obj, schema)
