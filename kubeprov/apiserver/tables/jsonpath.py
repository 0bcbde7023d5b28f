"""The JSONPath subset CRD printer columns use: ``.spec.x``, ``.status.items[0].y``, ``.a['b.c']``,
``.status.conditions[?(@.type=="Ready")].status`` and ``[*]``. Only the first match is printed."""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(
    r"""\.(?P<field>(?:\\.|[^.\[\\])+)"""
    r"""|\[(?P<index>-?\d+)\]"""
    r"""|\[(?P<quote>['"])(?P<key>.*?)(?P=quote)\]"""
    r"""|\[\?\(@(?P<fpath>(?:\.[\w\-/]+)+)\s*==\s*(?P<fquote>['"])(?P<fvalue>.*?)(?P=fquote)\)\]"""
    r"""|\[\*\]"""
)


class JSONPathError(ValueError):
    """The expression uses syntax outside the supported subset."""


def parse(expression: str) -> list[tuple[str, Any]]:
    """``.status.conditions[0].type`` -> [("field", "status"), ("field", "conditions"), ("index", 0), ...]."""
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    text = text.removeprefix("$")
    steps: list[tuple[str, Any]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise JSONPathError(f"unsupported JSONPath {expression!r} at {text[position:]!r}")
        if match.group("field") is not None:
            steps.append(("field", re.sub(r"\\(.)", r"\1", match.group("field"))))
        elif match.group("index") is not None:
            steps.append(("index", int(match.group("index"))))
        elif match.group("key") is not None:
            steps.append(("field", match.group("key")))
        elif match.group("fpath") is not None:
            steps.append(("filter", (match.group("fpath").strip(".").split("."), match.group("fvalue"))))
        else:
            steps.append(("all", None))
        position = match.end()
    return steps


def as_text(value: Any) -> str:
    """A found value as JSONPath prints it: strings bare, JSON for everything else."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _lookup(node: Any, fields: list[str]) -> Any:
    for name in fields:
        if not isinstance(node, dict):
            return None
        node = node.get(name)
    return node


def find(obj: Any, expression: str) -> list[Any]:
    """Every value the expression reaches in ``obj``; missing keys give no match rather than an error."""
    current = [obj]
    for kind, arg in parse(expression):
        following: list[Any] = []
        for node in current:
            if kind == "field" and isinstance(node, dict) and arg in node:
                following.append(node[arg])
            elif kind == "index" and isinstance(node, list) and -len(node) <= arg < len(node):
                following.append(node[arg])
            elif kind == "all" and isinstance(node, list):
                following.extend(node)
            elif kind == "all" and isinstance(node, dict):
                following.extend(node.values())
            elif kind == "filter" and isinstance(node, list):
                path, wanted = arg
                following.extend(item for item in node if as_text(_lookup(item, path)) == wanted)
        current = following
    return current
