"""Walks of JSON values along a schema: field sets, comparisons and list-item identities.

These are the primitives of ownership tracking. ``to_field_set`` is what an apply
configuration claims; ``compare`` tells which fields a write added, changed or removed. Both
follow structured-merge-diff's rules, including the ones that shape FieldsV1:

* scalars, atomic lists and atomic maps are leaves;
* a key of a map (as opposed to a named field of an object) is itself a member, as is every
  item of a set or keyed list, and a named field whose value is null or ``{}``;
* in a comparison a container that appears or disappears is itself added or removed, one that
  is empty or null on both sides is compared as a leaf.

Values whose type contradicts the schema are compared as leaves rather than rejected, so that
recording ownership never fails a write; apply validates its configuration first.
"""

from __future__ import annotations

from typing import Any

from kubeprov.api.fielderrors import go_quote
from kubeprov.apiserver.apply import pathelement
from kubeprov.apiserver.apply.fieldset import FieldSet, Path
from kubeprov.apiserver.apply.schema import ANY, LIST, MAP, SCALAR, Node


class _Missing:
    """An absent value, as opposed to JSON ``null``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_DEDUCED = Node.deduced()


def child_of(node: Node, name: str) -> Node:
    """The node of key ``name``, anything when the schema does not know the key."""
    return node.field(name) or _DEDUCED


def shape(node: Node, value: Any) -> str:
    """``map`` or ``list`` when ``value`` is walked item by item here, else ``""`` (a leaf).
    ``null`` counts as an empty container where the schema expects one."""
    kind = node.kind
    if kind == MAP:
        return "map" if not node.atomic and (value is None or isinstance(value, dict)) else ""
    if kind == LIST:
        return "list" if node.list_type != "atomic" and (value is None or isinstance(value, list)) else ""
    if kind == ANY:
        return "map" if not node.atomic and isinstance(value, dict) else ""
    return ""


def equal(a: Any, b: Any) -> bool:
    """JSON equality where ``true`` differs from ``1`` (numbers compare by value)."""
    if a is b:
        return True
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool:
        return ta is tb and a == b
    if ta is dict and tb is dict:
        return len(a) == len(b) and all(k in b and equal(v, b[k]) for k, v in a.items())
    if ta is list and tb is list:
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return isinstance(a, dict) == isinstance(b, dict) and a == b
    return a == b


# ----------------------------------------------------------------------------- list items


class ItemError(ValueError):
    """A list item that cannot be identified (not an object, key field missing)."""


def item_element(node: Node, item: Any) -> str:
    """The path element of an item of a set or keyed list."""
    if node.list_type == "set":
        return pathelement.value(item)
    if item is None:
        raise ItemError("associative list with keys may not have a null element")
    if not isinstance(item, dict):
        raise ItemError("associative list with keys may not have non-map elements")
    fields = []
    for key in node.keys:
        if key in item:
            fields.append((key, item[key]))
        elif key in node.key_defaults:
            fields.append((key, node.key_defaults[key]))
        else:
            raise ItemError(
                f"associative list with keys has an element that omits key field {go_quote(key)} "
                "(and doesn't have default value)"
            )
    return pathelement.key(fields)


class Indexed:
    """The items of a list by path element, in order, noting elements seen more than once."""

    __slots__ = ("dups", "items", "order")

    def __init__(self) -> None:
        self.order: list[str] = []
        self.items: dict[str, Any] = {}
        self.dups: dict[str, list[Any]] = {}


def index_items(node: Node, items: list[Any] | None) -> Indexed:
    """Identify every item; raises ``ItemError`` (with ``.index``) for the first that fails."""
    out = Indexed()
    for i, item in enumerate(items or ()):
        try:
            pe = item_element(node, item)
        except ItemError as err:
            err.index = i  # type: ignore[attr-defined]
            raise
        if pe in out.items:
            out.dups.setdefault(pe, [out.items[pe]]).append(item)
            continue
        out.items[pe] = item
        out.order.append(pe)
    return out


# ----------------------------------------------------------------------------- field sets


def to_field_set(node: Node, value: Any, errors: list[str] | None = None) -> FieldSet:
    """The fields ``value`` sets. With ``errors`` given, schema violations are reported there
    (as structured-merge-diff words them) instead of being tolerated."""
    out = FieldSet()
    _to_set(node, value, (), out, errors)
    return out


def _type_error(node: Node, value: Any) -> str | None:
    if value is None:
        return None
    if node.kind == MAP and not isinstance(value, dict):
        return f"expected map, got {pathelement.json_value(value)}"
    if node.kind == LIST and not isinstance(value, list):
        return f"expected list, got {pathelement.json_value(value)}"
    if node.kind != SCALAR or node.scalar == "untyped":
        return None
    if node.scalar == "numeric" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"expected numeric (int or float), got {_go_type(value)}"
    if node.scalar == "string" and not isinstance(value, str):
        return f"expected string, got {pathelement.json_value(value)}"
    if node.scalar == "boolean" and not isinstance(value, bool):
        return f"expected boolean, got {pathelement.json_value(value)}"
    return None


def _go_type(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    return type(value).__name__


def _to_set(node: Node, value: Any, path: Path, out: FieldSet, errors: list[str] | None) -> None:
    kind = shape(node, value)
    if not kind:
        if errors is not None:
            problem = _type_error(node, value)
            if problem:
                errors.append(f"{pathelement.display_path(path)}: {problem}")
                return
        out.insert(path)
        return
    if value is None:
        return
    if kind == "map":
        for name, sub in value.items():
            pe = "f:" + name
            declared = name in node.fields
            child = node.field(name)
            if child is None:
                if errors is not None:
                    errors.append(f"{pathelement.display_path((*path, pe))}: field not declared in schema")
                    continue
                child = _DEDUCED
            sub_path = (*path, pe)
            _to_set(child, sub, sub_path, out, errors)
            if not declared or sub is None or (isinstance(sub, dict) and not sub):
                out.insert(sub_path)
        return
    try:
        indexed = index_items(node, value)
    except ItemError as err:
        if errors is not None:
            errors.append(f"{pathelement.display_path(path)}: element {err.index}: {err}")  # type: ignore[attr-defined]
        out.insert(path)
        return
    if indexed.dups and errors is not None:
        for pe in indexed.dups:
            errors.append(f"{pathelement.display_path(path)}: duplicate entries for key {pathelement.display(pe)}")
    elem = node.elem or _DEDUCED
    for pe in indexed.order:
        sub_path = (*path, pe)
        if pe not in indexed.dups:
            _to_set(elem, indexed.items[pe], sub_path, out, errors)
        out.insert(sub_path)


# ----------------------------------------------------------------------------- comparison


class Comparison:
    """Fields a change added, modified and removed (a path is in at most one of them)."""

    __slots__ = ("added", "modified", "removed")

    def __init__(self) -> None:
        self.added = FieldSet()
        self.modified = FieldSet()
        self.removed = FieldSet()

    def changed(self) -> FieldSet:
        """Added and modified fields: what a writer takes from other owners."""
        return self.added.union(self.modified)

    def excluding(self, ignored: FieldSet | None) -> Comparison:
        """The comparison without the fields (and subtrees) of ``ignored``."""
        if ignored is None or ignored.empty():
            return self
        out = Comparison()
        out.added = self.added.recursive_difference(ignored)
        out.modified = self.modified.recursive_difference(ignored)
        out.removed = self.removed.recursive_difference(ignored)
        return out

    def same(self) -> bool:
        """Whether nothing changed."""
        return self.added.empty() and self.modified.empty() and self.removed.empty()


def compare(node: Node, lhs: Any, rhs: Any) -> Comparison:
    """How ``rhs`` differs from ``lhs`` (either may be ``MISSING``)."""
    out = Comparison()
    _compare(node, lhs, rhs, (), out)
    return out


def _leaf(lhs: Any, rhs: Any, path: Path, out: Comparison) -> None:
    if lhs is MISSING:
        out.added.insert(path)
    elif rhs is MISSING:
        out.removed.insert(path)
    elif not equal(lhs, rhs):
        out.modified.insert(path)


def _compare(node: Node, lhs: Any, rhs: Any, path: Path, out: Comparison) -> None:
    # Python's == cannot tell true from 1; a change between those alone is not seen here
    if lhs is not MISSING and rhs is not MISSING and lhs == rhs:
        return
    left = shape(node, lhs) if lhs is not MISSING else None
    right = shape(node, rhs) if rhs is not MISSING else None
    if left is None:
        left = right
    if right is None:
        right = left
    if left != right:
        # the value changed type (possible where the schema says "anything")
        if left:
            _compare_items(node, left, lhs, MISSING, path, out)
        if right:
            _compare_items(node, right, MISSING, rhs, path, out)
        _leaf(lhs, rhs, path, out)
        return
    if not left or (_empty(lhs) and _empty(rhs)):
        _leaf(lhs, rhs, path, out)
        return
    if _compare_items(node, left, lhs, rhs, path, out):
        if lhs is MISSING:
            out.added.insert(path)
        elif rhs is MISSING:
            out.removed.insert(path)


def _empty(value: Any) -> bool:
    return value is MISSING or value is None or (isinstance(value, dict | list) and not value)


def _compare_items(node: Node, kind: str, lhs: Any, rhs: Any, path: Path, out: Comparison) -> bool:
    """Compare the items of two containers; ``False`` when the list had to be taken whole."""
    left = lhs if lhs is not MISSING and lhs is not None else None
    right = rhs if rhs is not MISSING and rhs is not None else None
    if kind == "map":
        left, right = left or {}, right or {}
        for name, lv in left.items():
            _compare(child_of(node, name), lv, right.get(name, MISSING), (*path, "f:" + name), out)
        for name, rv in right.items():
            if name not in left:
                _compare(child_of(node, name), MISSING, rv, (*path, "f:" + name), out)
        return True
    try:
        li, ri = index_items(node, left), index_items(node, right)
    except ItemError:
        _leaf(lhs, rhs, path, out)
        return False
    elem = node.elem or _DEDUCED
    for pe in li.order:
        lv = li.dups.get(pe, li.items[pe])
        rv = ri.dups.get(pe, ri.items.get(pe, MISSING))
        if pe in li.dups or pe in ri.dups:
            _leaf(lv, rv, (*path, pe), out)
        else:
            _compare(elem, lv, rv, (*path, pe), out)
    for pe in ri.order:
        if pe not in li.items:
            if pe in ri.dups:
                _leaf(MISSING, ri.dups[pe], (*path, pe), out)
            else:
                _compare(elem, MISSING, ri.items[pe], (*path, pe), out)
    return True
