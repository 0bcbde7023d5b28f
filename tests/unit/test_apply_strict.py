"""Strict field validation finds unknown and duplicate fields with Kubernetes' paths."""

from __future__ import annotations

import json

import pytest

from kubeprov.apiserver.apply import SchemaStore, strict_problems


@pytest.fixture(scope="module")
def store() -> SchemaStore:
    return SchemaStore()


def test_unknown_fields_are_reported_with_their_full_path(store):
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"anything": "goes"}},
        "spec": {
            "replicass": 3,
            "template": {"spec": {"containers": [
                {"name": "a", "image": "x"},
                {"name": "b", "imagee": "y", "ports": [{"containerPort": 80, "hostPortt": 1}]},
            ]}},
        },
    }
    assert strict_problems(deployment, store.for_kind("apps", "v1", "Deployment")) == [
        'unknown field "spec.replicass"',
        'unknown field "spec.template.spec.containers[1].imagee"',
        'unknown field "spec.template.spec.containers[1].ports[0].hostPortt"',
    ]


def test_a_valid_object_has_no_problems(store):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {"a/b": "c"}},
           "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1"}}}]}}
    assert strict_problems(pod, store.for_kind("", "v1", "Pod")) == []


def test_duplicate_fields_are_found_in_the_raw_body_in_document_order(store):
    raw = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","name":"d"},"data":{"k":"1","k":"2"},"x":1}'
    assert strict_problems(json.loads(raw), store.for_kind("", "v1", "ConfigMap"), raw) == [
        'duplicate field "metadata.name"',
        'duplicate field "data.k"',
        'unknown field "x"',
    ]


def test_unparseable_raw_bodies_fall_back_to_the_decoded_object(store):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "bogus": True}
    assert strict_problems(obj, store.for_kind("", "v1", "ConfigMap"), b"kind: ConfigMap") == ['unknown field "bogus"']


def test_preserve_unknown_fields_accepts_anything_below_it(store):
    node = store.for_custom({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "size": {"type": "integer"},
            "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                       "properties": {"known": {"type": "string"}}},
        }}},
    })
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "bogus": 1},
        "spec": {"size": 1, "colour": "red", "config": {"known": "k", "free": {"deep": [{"x": 1}]}}},
    }
    assert strict_problems(widget, node) == ['unknown field "metadata.bogus"', 'unknown field "spec.colour"']


def test_managed_fields_sent_back_by_clients_are_accepted(store):
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "managedFields": [{
        "manager": "m", "operation": "Update", "apiVersion": "v1", "time": "2024-01-01T00:00:00Z",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {".": {}, "f:a": {}}}}]}, "data": {"a": "1"}}
    assert strict_problems(configmap, store.for_kind("", "v1", "ConfigMap")) == []


def test_raw_extension_contents_are_not_checked(store):
    revision = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r"}, "revision": 1,
                "data": {"spec": {"whatever": True}}}
    assert strict_problems(revision, store.for_kind("apps", "v1", "ControllerRevision")) == []
