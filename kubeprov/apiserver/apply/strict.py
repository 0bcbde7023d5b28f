"""Strict field validation: unknown and duplicate fields in a request body.

With ``fieldValidation=Strict`` Kubernetes rejects a body naming fields its schema does not
have, or naming a field twice; with ``Warn`` it sends the same findings as warnings. They read
``unknown field "spec.template.spec.containers[0].imagee"`` and ``duplicate field
"spec.replicas"``: the path of the field in the JSON document, as the strict JSON decoder
Kubernetes uses (``sigs.k8s.io/json``) spells it, in document order. The REST layer joins them
into ``strict decoding error: <problem>, <problem>`` or one warning each.

Unknown means not declared by the schema: objects accept only their properties, maps any key,
and everything below ``x-kubernetes-preserve-unknown-fields`` (or an untyped built-in value
such as ``RawExtension``) is accepted as is.
"""

from __future__ import annotations

import json
from typing import Any

from kubeprov.apiserver.apply.schema import ANY, LIST, MAP, Node


class _Pairs(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs, duplicates kept."""


def _parse(raw: bytes | str) -> Any:
    return json.loads(raw, object_pairs_hook=_Pairs)


def strict_problems(obj: dict[str, Any], node: Node, raw_json: bytes | None = None) -> list[str]:
    """The unknown and duplicate fields of ``obj`` (duplicates can only be seen in the raw JSON
    body, which is used instead of ``obj`` when given and parseable)."""
    value: Any = obj
    if raw_json is not None:
        try:
            value = _parse(raw_json)
        except (ValueError, UnicodeDecodeError):
            value = obj
    out: list[str] = []
    _walk(node, value, "", out)
    return out


def _pairs(value: Any) -> list[tuple[str, Any]] | None:
    if isinstance(value, _Pairs):
        return list(value)
    if isinstance(value, dict):
        return list(value.items())
    return None


def _walk(node: Node, value: Any, path: str, out: list[str]) -> None:
    pairs = _pairs(value)
    if pairs is not None:
        if node.kind == MAP:
            _walk_object(node, pairs, path, out)
        elif node.kind == ANY and not node.opaque:
            _walk_object(node, pairs, path, out)
        return
    if isinstance(value, list) and node.kind == LIST and node.elem is not None:
        for i, item in enumerate(value):
            _walk(node.elem, item, f"{path}[{i}]", out)


def _walk_object(node: Node, pairs: list[tuple[str, Any]], path: str, out: list[str]) -> None:
    seen: set[str] = set()
    for name, sub in pairs:
        sub_path = f"{path}.{name}" if path else name
        if name in seen:
            out.append(f'duplicate field "{sub_path}"')
        seen.add(name)
        child = node.fields.get(name) or node.elem
        if child is None:
            out.append(f'unknown field "{sub_path}"')
            continue
        _walk(child, sub, sub_path, out)
