"""Building blocks of the per-kind printers: column definitions and the formatting kubectl users know."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

NONE = "<none>"
UNSET = "<unset>"

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically."
)
AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is represented in RFC3339 form and is in UTC."
)
CONTAINERS_DESCRIPTION = "Names of each container in the template."
IMAGES_DESCRIPTION = "Images referenced by each container in the template."

Cell = Any
CellsFn = Callable[[dict, datetime], list[Cell]]
ConditionsFn = Callable[[dict], list[dict]]


@dataclass(frozen=True)
class Column:
    """One ``columnDefinitions`` entry; priority 1 columns are shown by kubectl only with ``-o wide``."""

    name: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""

    def definition(self) -> dict:
        return {"name": self.name, "type": self.type, "format": self.format, "description": self.description,
                "priority": self.priority}


@dataclass(frozen=True)
class Printer:
    """Columns of one kind and the function giving a row's cells (always every column, wide ones included)."""

    columns: tuple[Column, ...]
    cells: CellsFn
    conditions: ConditionsFn | None = None


NAME = Column("Name", description=NAME_DESCRIPTION, format="name")
AGE = Column("Age", description=AGE_DESCRIPTION)


def wide(name: str, description: str = "", type_: str = "string") -> Column:
    return Column(name, type=type_, description=description, priority=1)


def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """Nested lookup that tolerates missing keys, nulls and short lists."""
    node = obj
    for key in path:
        if isinstance(key, int):
            if not isinstance(node, list) or not -len(node) <= key < len(node):
                return default
            node = node[key]
        elif isinstance(node, Mapping):
            node = node.get(key)
        else:
            return default
        if node is None:
            return default
    return node


def name_of(obj: dict) -> str:
    return get(obj, "metadata", "name", default="")


def creation(obj: dict) -> Any:
    return get(obj, "metadata", "creationTimestamp")


def format_labels(labels: Mapping[str, str] | None) -> str:
    """``a=1,b=2`` sorted by key, or ``<none>``."""
    if not labels:
        return NONE
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """A LabelSelector in label-query syntax (``app=web,tier in (a,b),!legacy``), requirements sorted by key.

    A missing or empty selector gives ``""``; callers choose what to show instead.
    """
    if not selector:
        return ""
    requirements: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        requirements.append((key, f"{key}={value}"))
    for expr in selector.get("matchExpressions") or []:
        key = expr.get("key", "")
        operator = expr.get("operator", "")
        values = ",".join(sorted(expr.get("values") or []))
        if operator == "In":
            text = f"{key} in ({values})"
        elif operator == "NotIn":
            text = f"{key} notin ({values})"
        elif operator == "Exists":
            text = key
        elif operator == "DoesNotExist":
            text = f"!{key}"
        else:
            return "<error>"
        requirements.append((key, text))
    requirements.sort(key=lambda r: r[0])
    return ",".join(text for _, text in requirements)


def format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """A LabelSelector as kubectl prints it: the query, or ``<none>`` when it selects by nothing."""
    return selector_string(selector) or NONE


def containers(pod_spec: Mapping[str, Any] | None) -> tuple[str, str]:
    """Container names and images, each comma-joined, for CONTAINERS/IMAGES columns."""
    items = (pod_spec or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in items), ",".join(c.get("image", "") for c in items)


def int_or_string(value: Any) -> str:
    return str(value) if value is not None else ""


def bool_word(value: Any) -> str:
    """Kubernetes' printBoolPtr: True/False, or ``<unset>`` when the field is absent."""
    if value is None:
        return UNSET
    return "True" if value else "False"


def more_list(items: list[str], total: int, limit: int = 3, empty: str = UNSET) -> str:
    """``a,b,c + 2 more...`` when ``total`` exceeds the ``limit`` shown."""
    text = ",".join(items[:limit])
    if total > limit:
        return f"{text} + {total - limit} more..."
    return text or empty
