"""Schema validation of custom resources: Kubernetes' exact messages for each keyword."""

from __future__ import annotations

from typing import Any

import pytest

from kubeprov.apiserver.crd.validation import (
    go_number,
    structural_problems,
    validate_embedded,
    validate_list_types,
    validate_schema,
)


def errors(value: Any, schema: dict[str, Any], field: str = "x") -> list[str]:
    """Messages for ``spec.<field>: value`` under ``schema``."""
    root = {"type": "object", "properties": {"spec": {"type": "object", "properties": {field: schema}}}}
    return [str(e) for e in validate_schema({"spec": {field: value}}, root)]


# ---- types -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("schema", "value", "found"), [
    ({"type": "integer"}, "string", "string"),
    ({"type": "integer"}, 1.5, "number"),
    ({"type": "integer"}, True, "boolean"),
    ({"type": "string"}, 3, "integer"),
    ({"type": "object"}, [1], "array"),
    ({"type": "array"}, {"a": 1}, "object"),
    ({"type": "boolean"}, "true", "string"),
])
def test_wrong_type(schema: dict, value: Any, found: str) -> None:
    assert errors(value, schema) == [
        f'spec.x: Invalid value: "{found}": spec.x in body must be of type {schema["type"]}: "{found}"']


def test_integral_number_is_an_integer_and_integer_is_a_number() -> None:
    assert errors(2.0, {"type": "integer"}) == []
    assert errors(2, {"type": "number"}) == []


def test_replicas_as_string_matches_kubernetes() -> None:
    assert errors("string", {"type": "integer"}, "replicas") == [
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"']


def test_null_needs_nullable() -> None:
    assert errors(None, {"type": "string"}) == [
        'spec.x: Invalid value: "null": spec.x in body must be of type string: "null"']
    assert errors(None, {"type": "string", "nullable": True}) == []


def test_int_or_string() -> None:
    schema = {"x-kubernetes-int-or-string": True}
    assert errors(80, schema) == errors("http", schema) == []
    assert errors(True, schema) == [
        'spec.x: Invalid value: "boolean": spec.x in body must be of type integer,string: "boolean"']


def test_no_type_accepts_anything() -> None:
    assert errors({"a": [1]}, {"x-kubernetes-preserve-unknown-fields": True}) == []


# ---- required, enum, numbers -----------------------------------------------------------------


def test_required() -> None:
    root = {"type": "object", "properties": {"spec": {"type": "object", "required": ["cronSpec", "image"],
                                                      "properties": {"cronSpec": {"type": "string"}}}}}
    assert [str(e) for e in validate_schema({"spec": {}}, root)] == [
        "spec.cronSpec: Required value", "spec.image: Required value"]
    assert [str(e) for e in validate_schema({}, {"type": "object", "required": ["spec"]})] == [
        "spec: Required value"]


def test_enum() -> None:
    assert errors("x", {"type": "string", "enum": ["a", "b"]}, "image") == [
        'spec.image: Unsupported value: "x": supported values: "a", "b"']
    assert errors(3, {"type": "integer", "enum": [1, 2]}) == [
        'spec.x: Unsupported value: 3: supported values: "1", "2"']
    assert errors(2.0, {"type": "integer", "enum": [1, 2]}) == []
    assert errors(True, {"enum": [1]}) == ['spec.x: Unsupported value: true: supported values: "1"']


def test_maximum_and_minimum() -> None:
    schema = {"type": "integer", "minimum": 1, "maximum": 10}
    assert errors(20, schema, "replicas") == [
        "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10"]
    assert errors(0, schema) == ["spec.x: Invalid value: 0: spec.x in body should be greater than or equal to 1"]
    assert errors(10, {**schema, "exclusiveMaximum": True}) == [
        "spec.x: Invalid value: 10: spec.x in body should be less than 10"]
    assert errors(1, {**schema, "exclusiveMinimum": True}) == [
        "spec.x: Invalid value: 1: spec.x in body should be greater than 1"]
    assert errors(2.5, {"type": "number", "maximum": 1.5}) == [
        "spec.x: Invalid value: 2.5: spec.x in body should be less than or equal to 1.5"]
    [big] = errors(2e6, {"type": "number", "maximum": 1e6})
    assert big.endswith(": spec.x in body should be less than or equal to 1e+06")  # Go's %v of the bound


def test_multiple_of() -> None:
    assert errors(7, {"type": "integer", "multipleOf": 3}) == [
        "spec.x: Invalid value: 7: spec.x in body should be a multiple of 3"]
    assert errors(9, {"type": "integer", "multipleOf": 3}) == []
    assert errors(0.3, {"type": "number", "multipleOf": 0.1}) == []
    assert errors(0.35, {"type": "number", "multipleOf": 0.1}) == [
        "spec.x: Invalid value: 0.35: spec.x in body should be a multiple of 0.1"]


# ---- strings ---------------------------------------------------------------------------------


def test_string_lengths_and_pattern() -> None:
    assert errors("abcd", {"type": "string", "maxLength": 3}) == ["spec.x: Too long: may not be more than 3 bytes"]
    assert errors("a", {"type": "string", "minLength": 2}) == [
        'spec.x: Invalid value: "a": spec.x in body should be at least 2 chars long']
    assert errors("ab", {"type": "string", "maxLength": 2, "minLength": 2}) == []
    assert errors("日本", {"type": "string", "maxLength": 2}) == []  # characters, not bytes
    assert errors("x y", {"type": "string", "pattern": "^[a-z]+$"}) == [
        "spec.x: Invalid value: \"x y\": spec.x in body should match '^[a-z]+$'"]


@pytest.mark.parametrize(("fmt", "good", "bad"), [
    ("date-time", "2024-05-01T10:00:00Z", "yesterday"),
    ("date", "2024-05-01", "2024-13-01"),
    ("ipv4", "10.0.0.1", "10.0.0.300"),
    ("ipv6", "fd00::1", "10.0.0.1"),
    ("cidr", "10.0.0.0/8", "10.0.0.0"),
    ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123"),
    ("byte", "aGVsbG8=", "not base64!"),
    ("email", "a@example.com", "nobody"),
    ("hostname", "example.com", "-bad-"),
    ("duration", "1h30m", "soon"),
    ("quantity", "10Gi", "ten"),
    ("mac", "00:11:22:33:44:55", "00:11"),
    ("hexcolor", "#ffffff", "#ggg"),
])
def test_formats(fmt: str, good: str, bad: str) -> None:
    schema = {"type": "string", "format": fmt}
    assert errors(good, schema) == []
    assert errors(bad, schema) == [f'spec.x: Invalid value: "{bad}": spec.x in body must be of type {fmt}: "{bad}"']


def test_unknown_and_numeric_formats_are_ignored() -> None:
    assert errors("anything", {"type": "string", "format": "no-such-format"}) == []
    assert errors(2**40, {"type": "integer", "format": "int32"}) == []
    assert errors(1.5, {"type": "number", "format": "double"}) == []


# ---- arrays and objects ----------------------------------------------------------------------


def test_array_bounds_and_items() -> None:
    schema = {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}}
    assert errors(["a", "b", "c"], schema) == ["spec.x: Too many: 3: must have at most 2 items"]
    assert errors([], schema) == ["spec.x: Invalid value: 0: spec.x in body should have at least 1 items"]
    assert errors(["a", 1], schema) == [
        'spec.x[1]: Invalid value: "integer": spec.x[1] in body must be of type string: "integer"']
    assert errors([1, 1], {"type": "array", "uniqueItems": True}) == [
        'spec.x: Invalid value: "": spec.x in body shouldn\'t contain duplicates']


def test_object_maps_and_properties() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "integer"}}
    assert errors({"a": 1, "b": "two"}, schema) == [
        'spec.x.b: Invalid value: "string": spec.x.b in body must be of type integer: "string"']
    assert errors({"a": 1, "b": 2}, {"type": "object", "maxProperties": 1}) == [
        "spec.x: Too many: 2: must have at most 1 item"]
    assert errors({"a": 1}, {"type": "object", "properties": {}, "additionalProperties": False}) == [
        'spec.x: Invalid value: "a": spec.x.a in body is a forbidden property']


def test_nested_errors_are_sorted_by_field() -> None:
    schema = {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "string"}}}
    assert errors({"b": 1, "a": 2}, schema) == [
        'spec.x.a: Invalid value: "integer": spec.x.a in body must be of type string: "integer"',
        'spec.x.b: Invalid value: "integer": spec.x.b in body must be of type string: "integer"',
    ]


# ---- composition -----------------------------------------------------------------------------


def test_any_of() -> None:
    schema = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+%$"}]}
    assert errors(5, schema) == errors("50%", schema) == []
    assert errors("half", schema) == [
        '<nil>: Invalid value: "": "spec.x" must validate at least one schema (anyOf)',
        "spec.x: Invalid value: \"half\": spec.x in body should match '^[0-9]+%$'",
    ]


def test_one_of_all_of_not() -> None:
    one_of = {"type": "integer", "oneOf": [{"minimum": 5}, {"maximum": 10}]}
    assert errors(1, one_of) == []
    assert errors(7, one_of) == [
        '<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found 2 valid alternatives']
    all_of = {"type": "integer", "allOf": [{"minimum": 5}, {"maximum": 10}]}
    assert errors(11, all_of) == [
        "spec.x: Invalid value: 11: spec.x in body should be less than or equal to 10",
        '<nil>: Invalid value: "": "spec.x" must validate all the schemas (allOf)',
    ]
    assert errors("b", {"type": "string", "not": {"enum": ["b"]}}) == [
        '<nil>: Invalid value: "": "spec.x" must not validate the schema (not)']


# ---- list types, embedded resources, structural check ------------------------------------------


def test_list_type_set_and_map() -> None:
    schema = {"type": "object", "properties": {
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}}
    obj = {"tags": ["a", "b", "a"], "ports": [{"name": "http", "port": 1}, {"name": "http", "port": 2}]}
    assert [str(e) for e in validate_list_types(obj, schema)] == [
        'ports[1]: Duplicate value: {"name":"http"}',
        'tags[2]: Duplicate value: "a"',
    ]


def test_embedded_resource_needs_type_meta() -> None:
    schema = {"type": "object", "properties": {"template": {"type": "object", "x-kubernetes-embedded-resource": True,
                                                            "x-kubernetes-preserve-unknown-fields": True}}}
    assert [str(e) for e in validate_embedded({"template": {"metadata": {"name": "a/b"}}}, schema)] == [
        "template.apiVersion: Required value",
        "template.kind: Required value",
        "template.metadata.name: Invalid value: \"a/b\": may not contain '/'",
    ]
    assert validate_embedded({"template": {"apiVersion": "v1", "kind": "Pod"}}, schema) == []


def test_structural_problems() -> None:
    assert structural_problems({"type": "object", "properties": {"spec": {"type": "object"}}}) == []
    assert structural_problems({"type": "object", "properties": {"spec": {}}}) == [
        "openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"]


def test_go_number() -> None:
    assert [go_number(v) for v in (10, 10.0, 1.5, 1e6, 123456.0, 1.5e-5, 0.0001, -2.5)] == [
        "10", "10", "1.5", "1e+06", "123456", "1.5e-05", "0.0001", "-2.5"]
