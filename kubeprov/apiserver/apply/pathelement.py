"""Path elements: the steps of a field path, spelled as Kubernetes' FieldsV1 spells them.

A path element is kept as its FieldsV1 key string, so set operations are plain string
operations and encoding is free:

* ``f:<name>``  a field of an object or a key of a map;
* ``k:<json>``  an item of a list keyed by fields (``k:{"containerPort":80,"protocol":"TCP"}``),
  key names sorted, values JSON-encoded as Go encodes them;
* ``v:<json>``  an item of a set, by its JSON value (``v:"foregroundDeletion"``);
* ``i:<n>``     an item by position (only ever met when decoding what someone else wrote).

Ordering follows structured-merge-diff: field names first (byte order), then keys, then
values, then indices; that order decides the key order of encoded FieldsV1 and the order in
which conflicts are listed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from kubeprov.api.fielderrors import go_float, go_json, go_quote

_PLAIN = re.compile(r'[^"\\\x00-\x1f<>&\u2028\u2029]*\Z')


def json_value(value: Any) -> str:
    """``value`` encoded as the Go JSON encoder behind FieldsV1 keys encodes it."""
    if type(value) is str and _PLAIN.match(value):
        return f'"{value}"'
    if type(value) is int:
        return str(value)
    return go_json(value)


def field(name: str) -> str:
    """The element selecting field or map key ``name``."""
    return "f:" + name


def key(fields: Iterable[tuple[str, Any]]) -> str:
    """The element selecting the list item whose key fields have these values."""
    parts = [f"{json_value(name)}:{json_value(value)}" for name, value in sorted(fields, key=lambda kv: kv[0])]
    return "k:{" + ",".join(parts) + "}"


def value(item: Any) -> str:
    """The element selecting the set item equal to ``item``."""
    return "v:" + json_value(item)


def index(i: int) -> str:
    """The element selecting the list item at position ``i``."""
    return f"i:{i}"


def is_valid(pe: str) -> bool:
    """Whether ``pe`` is an element this server understands (unknown kinds are skipped on decode)."""
    if len(pe) < 2 or pe[1] != ":" or pe[0] not in "fkvi":
        return False
    if pe[0] == "f":
        return True
    if pe[0] == "i":
        return pe[2:].isdigit()
    try:
        decoded = json.loads(pe[2:])
    except ValueError:
        return False
    return pe[0] == "v" or isinstance(decoded, dict)


# ----------------------------------------------------------------------------- ordering


def sort_key(pe: str) -> tuple[Any, ...]:
    """Sort key giving structured-merge-diff's total order of path elements."""
    kind = pe[0]
    if kind == "f":
        return (0, pe[2:])
    if kind == "k":
        fields = json.loads(pe[2:])
        return (1, tuple((name, _value_key(fields[name])) for name in sorted(fields)))
    if kind == "v":
        return (2, _value_key(json.loads(pe[2:])))
    return (3, int(pe[2:]))


def _value_key(v: Any) -> tuple[Any, ...]:
    # numbers < strings < booleans < lists < maps < null, as value.Compare orders them
    if v is None:
        return (5,)
    if v is True or v is False:
        return (2, v)
    if isinstance(v, int | float):
        return (0, v)
    if isinstance(v, str):
        return (1, v)
    if isinstance(v, list):
        return (3, tuple(_value_key(x) for x in v))
    if isinstance(v, dict):
        return (4, tuple((k, _value_key(v[k])) for k in sorted(v)))
    return (6,)


def sorted_elements(elements: Iterable[str]) -> list[str]:
    """``elements`` in structured-merge-diff order (fast when they are all field names)."""
    items = list(elements)
    if all(pe[0] == "f" for pe in items):
        items.sort()
        return items
    return sorted(items, key=sort_key)


# ----------------------------------------------------------------------------- display


def display(pe: str) -> str:
    """How conflict messages show an element: ``.name``, ``[name="nginx"]``, ``[=x]``, ``[0]``."""
    kind = pe[0]
    if kind == "f":
        return "." + pe[2:]
    if kind == "i":
        return f"[{pe[2:]}]"
    decoded = json.loads(pe[2:])
    if kind == "v":
        return f"[={to_string(decoded)}]"
    return "[" + ",".join(f"{name}={to_string(decoded[name])}" for name in decoded) + "]"


def display_path(path: Iterable[str]) -> str:
    """A whole path as conflict messages show it: ``.spec.template.spec.containers[name="nginx"].image``."""
    return "".join(display(pe) for pe in path)


def to_string(v: Any) -> str:
    """A value the way structured-merge-diff prints it in paths (strings Go-quoted)."""
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, list):
        return "[" + ",".join(to_string(x) for x in v) + "]"
    if isinstance(v, dict):
        return "".join(f"{k}={to_string(v[k])}" for k in sorted(v))
    return str(v)
