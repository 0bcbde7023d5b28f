"""JSON Merge Patch (RFC 7386): objects merge key by key, ``null`` deletes, anything else
(arrays included) replaces."""

from __future__ import annotations

import copy
from typing import Any


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Apply ``patch`` to ``target`` and return the result; the inputs are not modified."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = apply_merge_patch(result.get(name), value)
    return result


def create_merge_patch(original: Any, modified: Any) -> Any:
    """The smallest merge patch turning ``original`` into ``modified``.

    Objects are diffed key by key (removed keys become ``null``); any other change replaces
    the value whole. Values that are ``null`` inside objects cannot be expressed by a merge
    patch and are dropped, as RFC 7386 itself does.
    """
    if not isinstance(original, dict) or not isinstance(modified, dict):
        return copy.deepcopy(modified)
    patch: dict[str, Any] = {}
    for name in original:
        if name not in modified:
            patch[name] = None
    for name, value in modified.items():
        if name not in original:
            patch[name] = copy.deepcopy(value)
        elif isinstance(original[name], dict) and isinstance(value, dict):
            sub = create_merge_patch(original[name], value)
            if sub:
                patch[name] = sub
        elif not _same(original[name], value):
            patch[name] = copy.deepcopy(value)
    return patch


def _same(a: Any, b: Any) -> bool:
    # Distinguish True from 1 and 1 from 1.0 so a type change is never lost.
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
