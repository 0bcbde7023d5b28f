"""The JSON Schema of stack files, in their YAML spelling, for editors and documentation."""

from __future__ import annotations

from typing import Any

from kubeprov.stack.model import Stack

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def stack_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a stack file; cross-field rules are only checked by kubeprov."""
    schema = Stack.model_json_schema(by_alias=True, mode="validation")
    for definition in [schema, *schema.get("$defs", {}).values()]:
        _title_properties_by_key(definition)
    return {
        "$schema": SCHEMA_DIALECT,
        **schema,
        "title": "kubeprov stack",
        "description": (
            "A kubeprov stack file: one Kubernetes-compatible cluster, its machines and its network. "
            "`kubeprov stack validate FILE` also checks the rules that relate fields to each other."
        ),
    }


def _title_properties_by_key(definition: dict[str, Any]) -> None:
    """Editors show titles next to keys; pydantic would derive "Controlplane" from "controlPlane"."""
    for key, prop in definition.get("properties", {}).items():
        prop["title"] = key
