"""Kubernetes 1.32 component schemas, read from the kubernetes-validate package and spelled as OpenAPI 3.0.

kubernetes-validate ships the 1.32 definitions (descriptions, required lists, list-map keys, patch
strategies) as JSON Schema: ``$defs`` references, ``["object", "null"]`` nullable types and an
``enum`` pinning each kind's apiVersion/kind. Kubernetes' own OpenAPI v3 documents spell the same
schemas with ``#/components/schemas`` references, a reference with siblings wrapped in ``allOf``,
plain types, and the two multi-type schemas (IntOrString, Quantity) as ``oneOf``; we convert to that
spelling so kubectl explain and kubectl apply read them as they read a real server's.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SOURCE_PACKAGE = "kubernetes_validate"
SOURCE_FILE = ("kubernetes-json-schema", "v1.32.0-local", "_definitions.json")
REF_PREFIX = "#/components/schemas/"
_SOURCE_REF_PREFIX = "#/$defs/"

INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"

# The two schemas whose value may take two JSON types; Kubernetes' v3 documents spell them with oneOf.
_SPECIAL: dict[str, dict] = {
    INT_OR_STRING: {
        "description": "IntOrString is a type that can hold an int32 or a string. In JSON or YAML it is "
        "written as whichever of the two it holds, so a field can accept a name or a number.",
        "format": "int-or-string",
        "oneOf": [{"type": "integer"}, {"type": "string"}],
    },
    QUANTITY: {
        "description": "Quantity is a fixed-point representation of a number, written as a string such as "
        "\"100m\", \"1.5Gi\" or \"2\" (a decimal or binary SI suffix, or an exponent); a bare number is "
        "accepted too. Values are serialized in canonical form.",
        "oneOf": [{"type": "string"}, {"type": "number"}],
    },
}


def _plain_type(value: Any) -> Any:
    """``["object", "null"]`` -> ``"object"``: Kubernetes does not mark built-in fields nullable."""
    if isinstance(value, list):
        types = [t for t in value if t != "null"]
        return types[0] if len(types) == 1 else types
    return value


def convert_schema(schema: Any) -> Any:
    """One JSON Schema node -> the OpenAPI 3.0 node Kubernetes would publish."""
    if isinstance(schema, list):
        return [convert_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref":
            out[key] = REF_PREFIX + value.removeprefix(_SOURCE_REF_PREFIX)
        elif key == "type":
            out[key] = _plain_type(value)
        elif key == "properties":
            out[key] = {name: convert_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = convert_schema(value)
        else:
            out[key] = value
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    return out


def _drop_pinned_type_meta(schema: dict) -> None:
    """kubernetes-validate pins apiVersion/kind of each kind with an enum; real documents leave them open."""
    for name in ("apiVersion", "kind"):
        prop = schema.get("properties", {}).get(name)
        if isinstance(prop, dict):
            prop.pop("enum", None)


GVK = tuple[str, str, str]


def load_components() -> tuple[dict[str, dict], dict[GVK, str]]:
    """Read and convert the package's definitions: components by name, and names by (group, version, kind)."""
    source = resources.files(SOURCE_PACKAGE).joinpath(*SOURCE_FILE)
    raw = json.loads(source.read_text(encoding="utf-8"))["$defs"]
    components: dict[str, dict] = {}
    by_gvk: dict[GVK, str] = {}
    for name, schema in raw.items():
        converted = dict(_SPECIAL[name]) if name in _SPECIAL else convert_schema(schema)
        gvks = converted.get("x-kubernetes-group-version-kind", [])
        if gvks:
            _drop_pinned_type_meta(converted)
        for gvk in gvks:
            by_gvk.setdefault((gvk.get("group", ""), gvk["version"], gvk["kind"]), name)
        components[name] = converted
    return components, by_gvk


class BuiltinSchemas:
    """The converted 1.32 component schemas, loaded from the installed package on first use.

    One instance is meant to live as long as the server process; the ~1 MB source is read and
    converted once, on the first call that needs it.
    """

    def __init__(self) -> None:
        self._loaded: tuple[dict[str, dict], dict[GVK, str]] | None = None

    def _get(self) -> tuple[dict[str, dict], dict[GVK, str]]:
        if self._loaded is None:
            self._loaded = load_components()
        return self._loaded

    @property
    def components(self) -> dict[str, dict]:
        """Every converted schema by its Kubernetes name (``io.k8s.api.apps.v1.Deployment``). Do not mutate."""
        return self._get()[0]

    def name_for(self, group: str, version: str, kind: str) -> str | None:
        """The component name of a kind (its ``x-kubernetes-group-version-kind``), or None if unknown."""
        return self._get()[1].get((group, version, kind))


# schema keywords whose value maps names to schemas
NAMED_SCHEMAS = ("properties", "patternProperties", "definitions")


def referenced_names(schema: Any) -> set[str]:
    """Component names a schema points at directly."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(REF_PREFIX):
                found.add(ref.removeprefix(REF_PREFIX))
            for key, value in node.items():
                if key in NAMED_SCHEMAS and isinstance(value, dict):
                    # keys here are field names (``x-kubernetes-validations`` is one), every value a schema
                    stack.extend(value.values())
                elif not key.startswith("x-kubernetes") and key != "enum":
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


def closure(roots: set[str], lookup: dict[str, dict], extra: dict[str, dict] | None = None) -> dict[str, dict]:
    """Every schema reachable from ``roots`` through references, from ``extra`` first then ``lookup``."""
    extra = extra or {}
    result: dict[str, dict] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in result:
            continue
        schema = extra.get(name) or lookup.get(name)
        if schema is None:
            continue
        result[name] = schema
        pending.extend(referenced_names(schema) - result.keys())
    return result
