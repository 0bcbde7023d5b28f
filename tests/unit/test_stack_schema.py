"""The JSON Schema of stack files, as editors consume it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from kubeprov.stack import stack_json_schema

REPO = Path(__file__).resolve().parents[2]


def test_schema_declares_draft_2020_12_and_a_title():
    schema = stack_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "kubeprov stack"


def test_schema_uses_the_yaml_spelling_of_keys():
    schema = stack_json_schema()
    network = schema["$defs"]["Network"]["properties"]
    assert {"controlPlane", "apiVersion"} <= set(schema["properties"])
    assert {"podCIDR", "serviceCIDR", "machineSubnet", "apiServerPort"} <= set(network)
    assert "control_plane" not in schema["properties"]


def test_schema_requires_only_the_name():
    assert stack_json_schema()["required"] == ["name"]


def test_every_object_refuses_unknown_keys():
    schema = stack_json_schema()
    objects = [schema, *schema["$defs"].values()]
    assert all(o.get("additionalProperties") is False for o in objects)


def test_every_top_level_field_is_described():
    properties = stack_json_schema()["properties"]
    assert [key for key, value in properties.items() if not value.get("description")] == []


def test_provider_is_chosen_by_its_type():
    provider = stack_json_schema()["properties"]["provider"]
    assert provider["discriminator"]["propertyName"] == "type"
    assert set(provider["discriminator"]["mapping"]) == {"local", "ssh", "aws", "gcp"}


def test_schema_is_plain_json():
    schema = stack_json_schema()
    assert json.loads(json.dumps(schema)) == schema


def _keys_outside_schema(value: object, schema: dict, defs: dict, path: str) -> list[str]:
    """Keys of ``value`` that the schema does not declare (a small walk, enough for the examples)."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    if isinstance(value, dict) and "discriminator" in schema:
        ref = schema["discriminator"]["mapping"][value["type"]]
        return _keys_outside_schema(value, {"$ref": ref}, defs, path)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        schema = options[0] if len(options) == 1 else schema
    if isinstance(value, dict) and "properties" in schema:
        unknown = [f"{path}.{key}" for key in value if key not in schema["properties"]]
        for key, item in value.items():
            if key in schema["properties"]:
                unknown += _keys_outside_schema(item, schema["properties"][key], defs, f"{path}.{key}")
        return unknown
    if isinstance(value, list) and "items" in schema:
        return [k for item in value for k in _keys_outside_schema(item, schema["items"], defs, path)]
    return []


def test_schema_declares_every_key_used_by_the_examples():
    schema = stack_json_schema()
    unknown = []
    for example in sorted((REPO / "stacks").glob("*.yaml")):
        data = yaml.safe_load(example.read_text())
        unknown += _keys_outside_schema(data, schema, schema["$defs"], example.name)
    assert unknown == []


def test_property_titles_are_the_yaml_keys():
    properties = stack_json_schema()["properties"]
    assert properties["controlPlane"]["title"] == "controlPlane"
