"""Pruning, null dropping and defaulting of custom resources."""

from __future__ import annotations

import copy

from kubeprov.apiserver.crd.defaulting import apply_defaults, coerce_metadata, normalize, prune, prune_nulls

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "replicas": {"type": "integer", "default": 1},
                "image": {"type": "string"},
                "mode": {"type": "string", "default": "fast", "nullable": True},
                "limits": {"type": "object", "additionalProperties": {"type": "string", "default": "0"}},
                "extras": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                           "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                "ports": {"type": "array", "items": {"type": "object", "properties": {
                    "port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}}},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}},
                "settings": {"type": "object", "default": {"level": 3}},
            },
        },
    },
}


def test_prune_drops_unknown_fields_but_keeps_type_and_object_meta() -> None:
    obj = {"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "n"}, "spec": {"image": "x", "junk": 1},
           "top": True}
    prune(obj, SCHEMA)
    assert obj == {"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "n"}, "spec": {"image": "x"}}


def test_prune_keeps_unknown_under_preserve_but_prunes_declared_children() -> None:
    obj = {"spec": {"extras": {"free": {"any": 1}, "known": {"a": "x", "b": "gone"}}}}
    prune(obj, SCHEMA)
    assert obj == {"spec": {"extras": {"free": {"any": 1}, "known": {"a": "x"}}}}


def test_prune_embedded_resource_keeps_its_type_meta() -> None:
    obj = {"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                 "spec": {"x": "y", "z": 1}, "other": 2}}}
    prune(obj, SCHEMA)
    assert obj["spec"]["template"] == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                       "spec": {"x": "y"}}


def test_root_schema_preserving_unknown_fields_prunes_nothing() -> None:
    obj = {"spec": {"anything": [1, {"deep": True}]}, "more": 1}
    prune(obj, {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    assert obj == {"spec": {"anything": [1, {"deep": True}]}, "more": 1}


def test_nulls_of_non_nullable_fields_without_default_are_dropped() -> None:
    obj = {"spec": {"image": None, "mode": None, "replicas": None}}
    prune_nulls(obj, SCHEMA)
    assert obj == {"spec": {"mode": None, "replicas": None}}  # nullable, and defaulted later


def test_defaults_fill_missing_fields_items_and_map_values() -> None:
    obj = {"spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}], "limits": {"cpu": None}}}
    apply_defaults(obj, SCHEMA)
    assert obj["spec"] == {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                           "limits": {"cpu": "0"}, "replicas": 1, "mode": "fast", "settings": {"level": 3}}


def test_defaults_replace_non_nullable_null_but_keep_nullable_null() -> None:
    obj = {"spec": {"replicas": None, "mode": None}}
    apply_defaults(obj, SCHEMA)
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["mode"] is None


def test_defaults_are_copies() -> None:
    first, second = {"spec": {}}, {"spec": {}}
    apply_defaults(first, SCHEMA)
    apply_defaults(second, SCHEMA)
    first["spec"]["settings"]["level"] = 9
    assert second["spec"]["settings"] == {"level": 3}
    assert SCHEMA["properties"]["spec"]["properties"]["settings"]["default"] == {"level": 3}


def test_object_meta_keeps_only_its_fields() -> None:
    obj = {"metadata": {"name": "n", "labels": {"a": "b"}, "bogus": 1},
           "spec": {"template": {"metadata": {"name": "t", "weird": True}}}}
    coerce_metadata(obj, SCHEMA)
    assert obj["metadata"] == {"name": "n", "labels": {"a": "b"}}
    assert obj["spec"]["template"]["metadata"] == {"name": "t"}


def test_normalize_runs_everything_in_order() -> None:
    obj = {"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "n"},
           "spec": {"image": None, "replicas": None, "unknown": 1}}
    before = copy.deepcopy(SCHEMA)
    normalize(obj, SCHEMA)
    assert obj["spec"] == {"replicas": 1, "mode": "fast", "settings": {"level": 3}}
    assert SCHEMA == before
