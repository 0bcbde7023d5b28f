"""``/openapi/v2``: Swagger 2.0 conversion of the v3 schemas, the gnostic protobuf encoding, and serving."""

from __future__ import annotations

import copy
import json
import struct
from typing import Any

import pytest
import yaml

from kubeprov.apiserver.openapi import BuiltinSchemas
from kubeprov.apiserver.openapi.v2 import (
    JSON,
    PROTOBUF,
    PROTOBUF_DEPRECATED,
    OpenAPIV2Service,
    encode_document,
    encode_schema,
    swagger_document,
    v2_schema,
)
from kubeprov.apiserver.resources import Registry, ResourceType, builtin_resources

DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.v2.example.com"},
    "spec": {
        "group": "v2.example.com", "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object", "properties": {"spec": {"type": "object", "required": ["size", "note"], "properties": {
                "size": {"type": "integer"},
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                          "properties": {"known": {"type": "string"}}},
                "mode": {"type": "string", "oneOf": [{"enum": ["a"]}, {"enum": ["b"]}]}}}}}}}],
    },
}


def gadget_type(crd: dict = CRD) -> ResourceType:
    return ResourceType("v2.example.com", "v1", "gadgets", "Gadget", True, singular="gadget", custom=True,
                        extra={"crd": crd})


@pytest.fixture(scope="module")
def schemas() -> BuiltinSchemas:
    return BuiltinSchemas()


@pytest.fixture(scope="module")
def document(schemas: BuiltinSchemas) -> dict:
    return swagger_document(Registry([*builtin_resources(), gadget_type()]), schemas)


# ---- a tiny protobuf wire decoder: field number -> list of raw values ------------------------------


def fields(data: bytes) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = value = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value: Any = varint()
        elif wire == 1:
            value = struct.unpack("<d", data[pos:pos + 8])[0]
            pos += 8
        elif wire == 2:
            length = varint()
            value = data[pos:pos + length]
            pos += length
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def named(entries: list[bytes]) -> dict[str, bytes]:
    """Repeated NamedX messages (1: name, 2: value) as a dict."""
    out = {}
    for entry in entries:
        f = fields(entry)
        out[f[1][0].decode()] = f.get(2, [b""])[0]
    return out


# ---- conversion ---------------------------------------------------------------------------------


def test_reference_with_siblings_becomes_a_plain_definitions_reference() -> None:
    node = {"allOf": [{"$ref": "#/components/schemas/io.k8s.X"}], "description": "d", "default": {}}
    assert v2_schema(node) == {"$ref": "#/definitions/io.k8s.X", "description": "d", "default": {}}


def test_definitions_are_keyed_by_kubernetes_names_and_refs_point_at_them(document: dict) -> None:
    metadata = document["definitions"][DEPLOYMENT]["properties"]["metadata"]
    assert metadata["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert "allOf" not in metadata


def test_every_reference_names_a_definition(document: dict) -> None:
    text = json.dumps(document)
    refs = {part.split('"')[0] for part in text.split('"$ref": "#/definitions/')[1:]}
    assert refs and refs <= set(document["definitions"])


def test_references_under_x_prefixed_property_names_are_followed(document: dict) -> None:
    assert "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.ValidationRule" in document["definitions"]


def test_int_or_string_is_a_string_with_its_format(document: dict) -> None:
    assert document["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "format": "int-or-string", "type": "string"}


def test_quantity_is_a_string(document: dict) -> None:
    assert document["definitions"]["io.k8s.apimachinery.pkg.api.resource.Quantity"] == {"type": "string"}


def keywords(schema: dict) -> set[str]:
    """Every keyword used in a schema tree (property names are names, not keywords)."""
    found = set(schema)
    for sub in [*schema.get("properties", {}).values(), schema.get("items"), schema.get("additionalProperties")]:
        if isinstance(sub, dict):
            found |= keywords(sub)
    return found


def test_no_v3_only_keyword_is_left(document: dict) -> None:
    used = set().union(*(keywords(schema) for schema in document["definitions"].values()))
    assert not used & {"oneOf", "anyOf", "not", "nullable"}
    assert "#/components/" not in json.dumps(document["definitions"])


def test_vendor_extensions_are_kept(document: dict) -> None:
    definitions = document["definitions"]
    assert definitions[DEPLOYMENT]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    containers = definitions["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-list-type"] == "map"


def test_custom_kind_is_a_definition_with_its_group_version_kind(document: dict) -> None:
    gadget = document["definitions"]["com.example.v2.v1.Gadget"]
    assert gadget["x-kubernetes-group-version-kind"] == [{"group": "v2.example.com", "kind": "Gadget",
                                                          "version": "v1"}]
    assert "com.example.v2.v1.GadgetList" in document["definitions"]


def test_custom_int_or_string_field_is_a_string_with_its_format(document: dict) -> None:
    port = document["definitions"]["com.example.v2.v1.Gadget"]["properties"]["spec"]["properties"]["port"]
    assert (port["type"], port["format"], port["x-kubernetes-int-or-string"]) == ("string", "int-or-string", True)


def test_nullable_field_loses_its_type_and_is_no_longer_required(document: dict) -> None:
    spec = document["definitions"]["com.example.v2.v1.Gadget"]["properties"]["spec"]
    assert "type" not in spec["properties"]["note"]
    assert spec["required"] == ["size"]


def test_preserved_unknown_fields_lose_their_properties(document: dict) -> None:
    extra = document["definitions"]["com.example.v2.v1.Gadget"]["properties"]["spec"]["properties"]["extra"]
    assert extra == {"x-kubernetes-preserve-unknown-fields": True}


def test_array_without_items_loses_its_type() -> None:
    assert v2_schema({"type": "array", "description": "d"}) == {"description": "d"}


def test_paths_of_served_resources_have_v2_operations(document: dict) -> None:
    item = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    put = item["put"]
    assert put["parameters"][0] == {"in": "body", "name": "body", "required": True,
                                    "schema": {"$ref": f"#/definitions/{DEPLOYMENT}"}}
    assert put["responses"]["200"]["schema"] == {"$ref": f"#/definitions/{DEPLOYMENT}"}
    assert "application/json" in put["produces"]
    assert put["x-kubernetes-group-version-kind"] == {"group": "apps", "kind": "Deployment", "version": "v1"}
    assert {"in": "query", "name": "fieldValidation"}.items() <= next(
        p for p in item["patch"]["parameters"] if p["name"] == "fieldValidation").items()


# ---- protobuf -----------------------------------------------------------------------------------


def test_schema_fields_have_gnostic_numbers() -> None:
    schema = {"$ref": "#/definitions/X", "format": "int32", "description": "d", "default": 3, "maximum": 10,
              "minimum": 1, "maxLength": 5, "pattern": "^a", "uniqueItems": True, "required": ["a", "b"],
              "enum": ["x"], "type": "object", "x-kubernetes-list-type": "map"}
    f = fields(encode_schema(schema))
    assert f[1] == [b"#/definitions/X"]
    assert f[2] == [b"int32"]
    assert f[4] == [b"d"]
    assert yaml.safe_load(fields(f[5][0])[2][0]) == 3
    assert f[7] == [10.0] and f[9] == [1.0]
    assert f[11] == [5]
    assert f[13] == [b"^a"]
    assert f[16] == [1]
    assert f[19] == [b"a", b"b"]
    assert yaml.safe_load(fields(f[20][0])[2][0]) == "x"
    assert fields(f[22][0])[1] == [b"object"]
    extension = fields(f[31][0])
    assert extension[1] == [b"x-kubernetes-list-type"]
    assert yaml.safe_load(fields(extension[2][0])[2][0]) == "map"


def test_nested_schemas_decode_back() -> None:
    schema = {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
              "additionalProperties": False}
    f = fields(encode_schema(schema))
    tags = fields(named(fields(f[25][0])[1])["tags"])
    assert fields(tags[22][0])[1] == [b"array"]
    item = fields(fields(tags[23][0])[1][0])
    assert fields(item[22][0])[1] == [b"string"]
    assert fields(f[21][0]) == {2: [0]}


def test_document_decodes_to_the_same_definitions(document: dict) -> None:
    f = fields(encode_document(document))
    assert f[1] == [b"2.0"]
    definitions = named(fields(f[9][0])[1])
    assert list(definitions) == list(document["definitions"])
    deployment = fields(definitions[DEPLOYMENT])
    gvk = named(deployment[31])["x-kubernetes-group-version-kind"]
    assert yaml.safe_load(fields(gvk)[2][0]) == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert set(named(fields(deployment[25][0])[1])) == set(document["definitions"][DEPLOYMENT]["properties"])


def test_document_paths_decode_with_operations(document: dict) -> None:
    paths = named(fields(fields(encode_document(document))[8][0])[2])
    item = fields(paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"])
    put = fields(item[3][0])
    assert put[5] == [document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["put"]
                      ["operationId"].encode()]
    body = fields(fields(fields(put[8][0])[1][0])[1][0])
    assert (body[2], body[3], body[4]) == ([b"body"], [b"body"], [1])


# ---- serving ------------------------------------------------------------------------------------


def test_protobuf_is_served_for_either_spelling(schemas: BuiltinSchemas) -> None:
    service = OpenAPIV2Service(Registry(builtin_resources()), schemas)
    for accept in (PROTOBUF_DEPRECATED, PROTOBUF, f"{PROTOBUF_DEPRECATED}, application/json"):
        answer = service.respond(accept)
        assert answer.status == 200
        assert answer.headers["Content-Type"] == PROTOBUF
        assert fields(answer.body)[1] == [b"2.0"]


def test_json_is_served_by_default(schemas: BuiltinSchemas) -> None:
    service = OpenAPIV2Service(Registry(builtin_resources()), schemas)
    for accept in ("", JSON, "*/*"):
        answer = service.respond(accept)
        assert answer.headers["Content-Type"] == JSON
        assert json.loads(answer.body)["swagger"] == "2.0"


def test_other_media_types_are_406(schemas: BuiltinSchemas) -> None:
    assert OpenAPIV2Service(Registry(builtin_resources()), schemas).respond("text/html").status == 406


def test_matching_etag_is_304_per_encoding(schemas: BuiltinSchemas) -> None:
    service = OpenAPIV2Service(Registry(builtin_resources()), schemas)
    proto_etag = service.respond(PROTOBUF).headers["Etag"]
    json_etag = service.respond(JSON).headers["Etag"]
    assert proto_etag != json_etag
    answer = service.respond(PROTOBUF, if_none_match=proto_etag)
    assert (answer.status, answer.body) == (304, b"")
    assert service.respond(PROTOBUF, if_none_match=json_etag).status == 200


def test_document_is_kept_until_the_registry_changes(schemas: BuiltinSchemas) -> None:
    registry = Registry([*builtin_resources(), gadget_type()])
    service = OpenAPIV2Service(registry, schemas)
    first = service.build()
    assert service.build() is first
    changed = copy.deepcopy(CRD)
    changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["colour"] = {"type": "string"}
    registry.add(gadget_type(changed))
    rebuilt = service.build()
    assert rebuilt.json_etag != first.json_etag
    assert "colour" in json.loads(rebuilt.json_body)["definitions"]["com.example.v2.v1.Gadget"]["properties"]


def test_removed_custom_kind_leaves_the_document(schemas: BuiltinSchemas) -> None:
    registry = Registry([*builtin_resources(), gadget_type()])
    service = OpenAPIV2Service(registry, schemas)
    service.build()
    registry.remove("v2.example.com", "v1", "gadgets")
    assert "com.example.v2.v1.Gadget" not in json.loads(service.build().json_body)["definitions"]
