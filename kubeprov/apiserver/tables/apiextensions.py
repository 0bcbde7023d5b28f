"""Tables of custom resources (their CRD's additionalPrinterColumns) and of kinds without a printer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubeprov.apiserver.tables.age import parse_timestamp, since
from kubeprov.apiserver.tables.common import AGE_DESCRIPTION, NAME, Column, Printer, creation, get, name_of
from kubeprov.apiserver.tables.jsonpath import JSONPathError, as_text, find

DEFAULT_COLUMNS = ({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                    "description": AGE_DESCRIPTION},)


def _cell(kind: str, value: Any, now: datetime) -> Any:
    """A found value as the column type wants it; None (printed ``<none>``) when it does not fit."""
    if value is None:
        return None
    if kind == "string":
        return as_text(value)
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        return since(value, now) if parse_timestamp(value) is not None else "<invalid>"
    return None


def _version_columns(crd: dict, version: str) -> list[dict]:
    for entry in get(crd, "spec", "versions", default=[]):
        if entry.get("name") == version:
            return entry.get("additionalPrinterColumns") or []
    return []


def custom_resource_printer(crd: dict | None, version: str) -> Printer:
    """NAME plus the CRD version's printer columns; a CRD without any gets the AGE column Kubernetes adds."""
    specs = (_version_columns(crd, version) if crd else []) or list(DEFAULT_COLUMNS)
    columns = [NAME]
    for spec in specs:
        path = spec.get("jsonPath", "")
        columns.append(Column(spec.get("name", ""), type=spec.get("type", "string"),
                              description=spec.get("description") or
                              f"Custom resource definition column (in JSONPath format): {path}",
                              priority=int(spec.get("priority") or 0), format=spec.get("format", "")))

    def cells(obj: dict, now: datetime) -> list:
        row: list = [name_of(obj)]
        for spec in specs:
            try:
                found = find(obj, spec.get("jsonPath", ""))
            except JSONPathError:
                found = []
            row.append(_cell(spec.get("type", "string"), found[0] if found else None, now))
        return row

    return Printer(tuple(columns), cells)


def _created_at(obj: dict) -> str:
    moment = parse_timestamp(creation(obj))
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "0001-01-01T00:00:00Z"


DEFAULT = Printer(
    (NAME, Column("Created At", type="date", description=AGE_DESCRIPTION)),
    lambda obj, now: [name_of(obj), _created_at(obj)],
)
"""Kinds Kubernetes has no printer for (roles, cluster roles, limit ranges, CRDs...): NAME and CREATED AT."""
