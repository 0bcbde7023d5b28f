"""Component schemas for custom resources, built from a CustomResourceDefinition's versions.

Kubernetes names a custom kind's component by its reversed group (``stable.example.com`` ->
``com.example.stable.v1.CronTab``) and completes the user's ``openAPIV3Schema`` with the object
fields every kind has (apiVersion, kind, a reference to ObjectMeta); the list kind is generated.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeprov.apiserver.openapi.schemas import LIST_META, OBJECT_META, REF_PREFIX

API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values."
)
KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase."
)
METADATA_DESCRIPTION = "Standard object's metadata."
LIST_METADATA_DESCRIPTION = "Standard list metadata."


def component_name(group: str, version: str, kind: str) -> str:
    """``stable.example.com``, ``v1``, ``CronTab`` -> ``com.example.stable.v1.CronTab``."""
    reversed_group = ".".join(reversed(group.split(".")))
    return f"{reversed_group}.{version}.{kind}"


def _int_or_string_alternatives(node: Any) -> Any:
    """Published schemas spell ``x-kubernetes-int-or-string`` with its two alternatives, as Kubernetes does."""
    if isinstance(node, list):
        return [_int_or_string_alternatives(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _int_or_string_alternatives(value) if key != "enum" and key != "default" else value
           for key, value in node.items()}
    if out.get("x-kubernetes-int-or-string") is True and "anyOf" not in out and "type" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


def _ref(name: str, description: str) -> dict:
    return {"allOf": [{"$ref": REF_PREFIX + name}], "description": description}


def _kind_schema(group: str, version: str, kind: str, schema: dict | None) -> dict:
    if schema:
        out = _int_or_string_alternatives(copy.deepcopy(schema))
    else:
        out = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    props = dict(out.get("properties", {}))
    props["apiVersion"] = {"description": API_VERSION_DESCRIPTION, "type": "string"}
    props["kind"] = {"description": KIND_DESCRIPTION, "type": "string"}
    props["metadata"] = _ref(OBJECT_META, METADATA_DESCRIPTION)
    out["properties"] = dict(sorted(props.items()))
    out.setdefault("type", "object")
    out["x-kubernetes-group-version-kind"] = [{"group": group, "kind": kind, "version": version}]
    return out


def _list_schema(group: str, version: str, kind: str, item_name: str) -> dict:
    return {
        "description": f"{kind}List is a list of {kind}",
        "properties": {
            "apiVersion": {"description": API_VERSION_DESCRIPTION, "type": "string"},
            "items": {
                "description": f"List of {kind.lower()}s.",
                "items": {"$ref": REF_PREFIX + item_name},
                "type": "array",
            },
            "kind": {"description": KIND_DESCRIPTION, "type": "string"},
            "metadata": _ref(LIST_META, LIST_METADATA_DESCRIPTION),
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": group, "kind": f"{kind}List", "version": version}],
    }


def crd_schemas(crd: dict, version: str | None = None) -> dict[str, dict]:
    """Components for a CRD's served versions (or only ``version``): the kind and its list kind.

    The kind schema carries ``x-kubernetes-group-version-kind`` so kubectl explain and kubectl's
    field-validation check find it; references point at ObjectMeta/ListMeta in the built-in set.
    """
    spec = crd.get("spec", {})
    group = spec.get("group", "")
    kind = spec.get("names", {}).get("kind", "")
    out: dict[str, dict] = {}
    for entry in spec.get("versions", []):
        name = entry.get("name", "")
        if not entry.get("served", True) or (version is not None and name != version):
            continue
        schema = (entry.get("schema") or {}).get("openAPIV3Schema")
        item_name = component_name(group, name, kind)
        out[item_name] = _kind_schema(group, name, kind, schema)
        out[component_name(group, name, f"{kind}List")] = _list_schema(group, name, kind, item_name)
    return out
