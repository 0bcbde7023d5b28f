"""Reject bodies whose JSON types do not fit the kind, as kube-apiserver's decoder does (400, not 422).

Kubernetes decodes a body into Go structs before anything else runs, so ``"replicas": "two"`` or a
numeric ``metadata.name`` fail with ``json: cannot unmarshal ...`` naming the Go struct and field.
The walk follows the 1.32 OpenAPI components and stops at the first mismatch, like the decoder.
"""

from __future__ import annotations

from typing import Any

from kubeprov.api import status
from kubeprov.api.status import StatusError
from kubeprov.apiserver.openapi import BuiltinSchemas
from kubeprov.apiserver.resources.types import ResourceType

_REF = "#/components/schemas/"
# schemas that accept a string or a number (IntOrString, Quantity)
_SCALAR_UNIONS = ("int-or-string",)
MAX_DEPTH = 100


class _Mismatch(Exception):
    def __init__(self, json_type: str, struct: str, path: str, go_type: str) -> None:
        super().__init__(f"json: cannot unmarshal {json_type} into Go struct field {struct}.{path} of type {go_type}")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class TypeChecker:
    def __init__(self, schemas: BuiltinSchemas) -> None:
        self.schemas = schemas

    def check(self, rt: ResourceType, obj: Any) -> None:
        if rt.custom or not isinstance(obj, dict):
            return
        name = self.schemas.name_for(rt.group, rt.version, rt.kind)
        if name is None:
            return
        try:
            self._walk(self._component(name), obj, name.rsplit(".", 1)[-1], "", 0)
        except _Mismatch as exc:
            raise StatusError(status.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {exc}')) from None

    def _component(self, name: str) -> dict[str, Any]:
        return self.schemas.components.get(name) or {}

    def _resolve(self, schema: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """Follow $ref / allOf[$ref]; returns the schema and its component name when it is one."""
        ref = schema.get("$ref")
        if ref is None and schema.get("allOf") and isinstance(schema["allOf"][0], dict):
            ref = schema["allOf"][0].get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            name = ref[len(_REF):]
            return self._component(name), name
        return schema, None

    def _go_type(self, schema: dict[str, Any]) -> str:
        resolved, name = self._resolve(schema)
        if name is not None and resolved.get("type") in (None, "object") and "properties" in resolved:
            parts = name.split(".")
            return f"{parts[-2]}.{parts[-1]}"
        kind = resolved.get("type")
        if kind == "array":
            return "[]" + self._go_type(resolved.get("items") or {})
        if kind == "object":
            extra = resolved.get("additionalProperties")
            return "map[string]" + (self._go_type(extra) if isinstance(extra, dict) else "interface {}")
        if kind == "integer":
            return {"int32": "int32", "int64": "int64"}.get(resolved.get("format", ""), "int")
        if kind == "number":
            return "float64"
        if kind == "boolean":
            return "bool"
        if name is not None:
            return name.rsplit(".", 2)[-2] + "." + name.rsplit(".", 1)[-1]
        return "string"

    def _walk(self, schema: dict[str, Any], value: Any, struct: str, path: str, depth: int) -> None:
        if value is None or depth > MAX_DEPTH:
            return
        resolved, name = self._resolve(schema)
        if name is not None and "properties" in resolved:
            struct = name.rsplit(".", 1)[-1]
        if resolved.get("format") in _SCALAR_UNIONS or "oneOf" in resolved:
            if isinstance(value, dict | list | bool):
                raise _Mismatch(_json_type(value), struct, path, self._go_type(schema))
            return
        kind = resolved.get("type")
        properties = resolved.get("properties")
        if properties is not None or kind == "object":
            if not isinstance(value, dict):
                raise _Mismatch(_json_type(value), struct, path, self._go_type(schema))
            if properties is not None:
                for key, item in value.items():
                    child = properties.get(key)
                    if isinstance(child, dict):
                        self._walk(child, item, struct, f"{path}.{key}" if path else key, depth + 1)
                return
            extra = resolved.get("additionalProperties")
            if isinstance(extra, dict):
                for item in value.values():
                    self._walk(extra, item, struct, path, depth + 1)
            return
        if kind == "array":
            if not isinstance(value, list):
                raise _Mismatch(_json_type(value), struct, path, self._go_type(schema))
            items = resolved.get("items")
            if isinstance(items, dict):
                for item in value:
                    self._walk(items, item, struct, path, depth + 1)
            return
        expected = {"string": str, "boolean": bool}.get(kind or "")
        if expected is not None and not isinstance(value, expected):
            raise _Mismatch(_json_type(value), struct, path, self._go_type(schema))
        if kind in ("integer", "number") and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _Mismatch(_json_type(value), struct, path, self._go_type(schema))
        if kind == "integer" and isinstance(value, float) and not value.is_integer():
            raise _Mismatch("number " + repr(value), struct, path, self._go_type(schema))
