"""Structural schemas carry the merge semantics Kubernetes derives from its OpenAPI."""

from __future__ import annotations

import pytest

from kubeprov.apiserver.apply.schema import ANY, LIST, MAP, SCALAR, Node, SchemaStore


@pytest.fixture(scope="module")
def store() -> SchemaStore:
    return SchemaStore()


def _at(node: Node, *names: str) -> Node:
    for name in names:
        node = node.elem if name == "[]" else node.fields[name]
    return node


def test_kinds_are_indexed_by_group_version_kind(store):
    assert store.for_kind("apps", "v1", "Deployment").kind == MAP
    assert store.for_kind("", "v1", "ConfigMap") is not None
    assert store.for_kind("apps", "v1", "NoSuchKind") is None


def test_each_store_loads_its_own_copy():
    a, b = SchemaStore(), SchemaStore()
    assert a.for_kind("", "v1", "Pod") is not b.for_kind("", "v1", "Pod")


def test_containers_are_a_list_keyed_by_name(store):
    containers = _at(store.for_kind("", "v1", "Pod"), "spec", "containers")
    assert (containers.kind, containers.list_type, containers.keys) == (LIST, "map", ("name",))


def test_container_ports_are_keyed_by_port_and_protocol_with_tcp_default(store):
    ports = _at(store.for_kind("", "v1", "Pod"), "spec", "containers", "[]", "ports")
    assert ports.keys == ("containerPort", "protocol")
    assert ports.key_defaults == {"protocol": "TCP"}


def test_args_are_atomic_and_finalizers_a_set(store):
    pod = store.for_kind("", "v1", "Pod")
    assert _at(pod, "spec", "containers", "[]", "args").list_type == "atomic"
    assert _at(pod, "metadata", "finalizers").list_type == "set"


def test_map_type_atomic_makes_selectors_atomic(store):
    deployment = store.for_kind("apps", "v1", "Deployment")
    assert _at(deployment, "spec", "selector").atomic
    assert _at(store.for_kind("", "v1", "Pod"), "spec", "nodeSelector").atomic
    assert not _at(deployment, "metadata", "labels").atomic


def test_list_without_list_type_follows_its_patch_strategy():
    schema = {
        "type": "object",
        "properties": {
            "keyed": {"type": "array", "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "id",
                      "items": {"type": "object", "properties": {"id": {"type": "string"}}}},
            "merged": {"type": "array", "x-kubernetes-patch-strategy": "merge", "items": {"type": "string"}},
            "plain": {"type": "array", "items": {"type": "string"}},
        },
    }
    node = Node.from_openapi_v3(schema)
    assert (node.fields["keyed"].list_type, node.fields["keyed"].keys) == ("map", ("id",))
    assert node.fields["merged"].list_type == "set"
    assert node.fields["plain"].list_type == "atomic"


def test_quantities_and_int_or_string_are_untyped_scalars(store):
    container = _at(store.for_kind("", "v1", "Pod"), "spec", "containers", "[]")
    assert _at(container, "resources", "limits", "[]").kind == SCALAR
    deployment = store.for_kind("apps", "v1", "Deployment")
    assert _at(deployment, "spec", "strategy", "rollingUpdate", "maxSurge").kind == SCALAR


def test_recursive_definitions_resolve(store):
    crd = store.for_kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
    props = _at(crd, "spec", "versions", "[]", "schema", "openAPIV3Schema", "properties", "[]")
    assert props is _at(props, "properties", "[]")


def test_go_zero_value_has_value_structs_and_null_times(store):
    zero = store.for_kind("apps", "v1", "Deployment").zero_value()
    assert zero == {
        "metadata": {"creationTimestamp": None},
        "spec": {
            "template": {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}},
            "strategy": {},
        },
        "status": {},
    }


def test_crd_schema_conversion_keeps_extensions(store):
    node = store.for_custom({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "port": {"x-kubernetes-int-or-string": True},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
                              "items": {"type": "object", "properties": {"k": {"type": "string", "default": "x"}}}},
                    "child": {"type": "object", "x-kubernetes-embedded-resource": True,
                              "x-kubernetes-preserve-unknown-fields": True},
                    "anything": {"x-kubernetes-preserve-unknown-fields": True},
                },
            }
        },
    })
    spec = node.fields["spec"]
    assert spec.fields["port"].kind == SCALAR
    assert spec.fields["free"].elem is not None
    assert spec.fields["items"].key_defaults == {"k": "x"}
    assert {"apiVersion", "kind", "metadata"} <= set(spec.fields["child"].fields)
    assert spec.fields["anything"].kind == ANY
    assert node.fields["metadata"] is store.object_meta()
