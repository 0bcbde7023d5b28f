"""Apply merging: the applied configuration over the live object, then pruning.

``merge`` keeps the configuration's value at every leaf; objects and granular maps merge key
by key, keyed lists and sets item by item (order: the configuration's order for the items it
names, live-only items staying where they were), atomic lists and maps are replaced.

``prune`` then removes what the applier owned last time but no longer applies, unless another
manager owns it too; it follows structured-merge-diff's three steps (remove everything the
applier owned before, put back what anyone owns now, put back what the applier never owned).
Where structured-merge-diff leaves ``null`` behind an object or list whose items were all
removed, the key is dropped instead, which is what decoding into Kubernetes' types does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubeprov.apiserver.apply.fieldset import FieldSet
from kubeprov.apiserver.apply.schema import LIST, Node
from kubeprov.apiserver.apply.typed import (
    _DEDUCED,
    MISSING,
    ItemError,
    child_of,
    index_items,
    item_element,
    shape,
    to_field_set,
)


def _empty(value: Any) -> bool:
    return value is MISSING or value is None or (isinstance(value, dict | list) and not value)


def merge(node: Node, lhs: Any, rhs: Any) -> Any:
    """``rhs`` (the configuration) merged over ``lhs`` (the live value); either may be
    ``MISSING``. Unchanged live parts are shared, not copied."""
    if rhs is MISSING:
        return lhs
    if lhs is MISSING:
        return rhs
    left, right = shape(node, lhs), shape(node, rhs)
    if left != right or not left or (_empty(lhs) and _empty(rhs)):
        return rhs
    if left == "map":
        live, applied = lhs or {}, rhs or {}
        out = {}
        for name, value in live.items():
            out[name] = merge(child_of(node, name), value, applied.get(name, MISSING))
        for name, value in applied.items():
            if name not in live:
                out[name] = value
        return out
    return _merge_list(node, lhs or [], rhs or [])


def _merge_list(node: Node, lhs: list[Any], rhs: list[Any]) -> list[Any]:
    try:
        live, applied = index_items(node, lhs), index_items(node, rhs)
    except ItemError:
        return rhs
    _wrap_dups(live)
    _wrap_dups(applied)
    elem = node.elem or _DEDUCED

    def merged(pe: str) -> Any:
        if pe in applied.dups:
            return applied.dups[pe]
        value = applied.items[pe]
        return merge(elem, MISSING if pe in live.dups else live.items.get(pe, MISSING), value)

    out: list[Any] = []
    shared = iter([pe for pe in applied.order if pe in live.items])
    next_shared = next(shared, None)
    done: set[str] = set()
    left, right = live.order, applied.order
    li = ri = 0
    while li < len(left) or ri < len(right):
        if li < len(left) and ri < len(right):
            pe = left[li]
            if pe == right[ri]:
                _extend(out, merged(pe))
                done.add(pe)
                li, ri = li + 1, ri + 1
                next_shared = next(shared, None)
                continue
            if pe in applied.items and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(left):
            pe = left[li]
            if pe not in applied.items:
                _extend(out, live.dups.get(pe, live.items[pe]))
                li += 1
                continue
            if pe in done:
                li += 1
                continue
        if ri < len(right):
            pe = right[ri]
            _extend(out, merged(pe))
            done.add(pe)
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = next(shared, None)
        elif li < len(left):
            li += 1
    return out


def _extend(out: list[Any], item: Any) -> None:
    # a duplicated key stands for all its items
    if isinstance(item, _Dups):
        out.extend(item)
    else:
        out.append(item)


class _Dups(list):  # type: ignore[type-arg]
    """The items sharing one key (only live objects may have them)."""


def _wrap_dups(indexed: Any) -> None:
    indexed.dups = {pe: _Dups(items) for pe, items in indexed.dups.items()}


# ----------------------------------------------------------------------------- removal


def remove_items(node: Node, value: Any, to_remove: FieldSet) -> Any:
    """``value`` without the fields and items that are members of ``to_remove``; ``MISSING``
    when an object or list lost all its items."""
    kind = shape(node, value)
    if not kind or not value or to_remove.empty():
        return value
    members, children = to_remove.members, to_remove.children
    if kind == "map":
        out = {}
        for name, sub in value.items():
            pe = "f:" + name
            if pe in members:
                continue
            below = children.get(pe)
            if below is not None and not below.empty():
                sub = remove_items(child_of(node, name), sub, below)
                if sub is MISSING:
                    continue
            out[name] = sub
        return out if out else MISSING
    elem = node.elem or _DEDUCED
    items = []
    for item in value:
        try:
            pe = item_element(node, item)
        except ItemError:
            return value
        if pe in members:
            continue
        below = children.get(pe)
        if below is not None and not below.empty():
            item = remove_items(elem, item, below)
            if item is MISSING:
                item = {}
        items.append(item)
    return items if items else MISSING


def ensure_named_fields(fields: FieldSet, node: Node | None) -> FieldSet:
    """``fields`` plus, as members, the named object fields it has paths below: removing them
    then removes whole sub-objects, not only their leaves (a map's keys are not added)."""
    out = FieldSet()
    out.members = set(fields.members)
    for pe, child in fields.children.items():
        child_node: Node | None = None
        if node is not None:
            if pe[0] == "f" and node.kind in ("map", "any"):
                name = pe[2:]
                if name in node.fields:
                    out.members.add(pe)
                child_node = node.field(name)
            elif pe[0] == "k" and node.kind == LIST:
                child_node = node.elem
        out.children[pe] = ensure_named_fields(child, child_node)
    return out


def prune(node: Node, merged: dict[str, Any], last: FieldSet | None, owned: Iterable[FieldSet]) -> dict[str, Any]:
    """``merged`` without what the applier owned in ``last`` and nobody in ``owned`` (every
    manager's set, the applier's new one included) owns now."""
    if last is None or last.empty():
        return merged
    last_named = ensure_named_fields(last, node)
    pruned = _remove_root(node, merged, last_named)
    managed = FieldSet()
    for fields in owned:
        managed = managed.union(fields)
    merged_set = ensure_named_fields(to_field_set(node, merged), node)
    pruned_set = ensure_named_fields(to_field_set(node, pruned), node)
    keep = pruned_set.union(ensure_named_fields(managed, node))
    pruned = _remove_root(node, merged, merged_set.difference(keep))
    pruned_set = ensure_named_fields(to_field_set(node, pruned), node)
    return _remove_root(node, merged, merged_set.difference(pruned_set).intersection(last_named))


def drop_null_fields(node: Node, value: Any) -> None:
    """Remove, in place, object fields the schema declares whose value is ``null``: decoding
    into Kubernetes' types leaves them unset (and defaulting may then fill them in). Maps,
    schemaless values and fields that are null in Go's zero value keep their nulls."""
    if isinstance(value, dict) and node.kind == "map":
        kept = node.zero_nulls  # Go value types (times) that encode as null
        for name in [k for k, v in value.items() if v is None and k in node.fields and k not in kept]:
            del value[name]
        for name, sub in value.items():
            child = node.field(name)
            if child is not None:
                drop_null_fields(child, sub)
    elif isinstance(value, list) and node.kind == LIST and node.elem is not None:
        for item in value:
            drop_null_fields(node.elem, item)


def _remove_root(node: Node, obj: dict[str, Any], to_remove: FieldSet) -> dict[str, Any]:
    out = remove_items(node, obj, to_remove)
    return {} if out is MISSING else out
