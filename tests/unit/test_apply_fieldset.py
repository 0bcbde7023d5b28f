"""Field sets behave and encode exactly as structured-merge-diff's do."""

from __future__ import annotations

import pytest

from kubeprov.apiserver.apply import pathelement as pe
from kubeprov.apiserver.apply.fieldset import FieldSet, FieldsV1Error


def test_parent_with_children_and_membership_is_written_with_a_dot_entry():
    fields = FieldSet.of(("f:metadata", "f:labels"), ("f:metadata", "f:labels", "f:app"))
    assert fields.to_fields_v1() == {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}
    assert list(fields.to_fields_v1()["f:metadata"]["f:labels"]) == [".", "f:app"]


def test_children_without_membership_have_no_dot_entry():
    fields = FieldSet.of(("f:spec", "f:replicas"))
    assert fields.to_fields_v1() == {"f:spec": {"f:replicas": {}}}
    assert not fields.has(("f:spec",))


def test_element_order_is_fields_then_keys_then_values_then_indices():
    fields = FieldSet.of(
        ("i:1",),
        ('v:"b"',),
        ('k:{"name":"b"}',),
        ("f:z",),
        ('k:{"name":"a"}',),
        ("v:1",),
        ("f:a",),
    )
    assert list(fields.to_fields_v1()) == ["f:a", "f:z", 'k:{"name":"a"}', 'k:{"name":"b"}', "v:1", 'v:"b"', "i:1"]


def test_key_elements_sort_key_names_and_encode_values_as_go_json():
    assert pe.key([("protocol", "TCP"), ("containerPort", 80)]) == 'k:{"containerPort":80,"protocol":"TCP"}'
    assert pe.value("a<b") == 'v:"a\\u003cb"'
    assert pe.key([("n", 1.0)]) == 'k:{"n":1}'


def test_keys_order_numerically_by_value():
    fields = FieldSet.of(('k:{"port":10}',), ('k:{"port":9}',))
    assert list(fields.to_fields_v1()) == ['k:{"port":9}', 'k:{"port":10}']


def test_paths_are_displayed_as_in_conflict_messages():
    path = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"nginx"}', "f:image")
    assert pe.display_path(path) == '.spec.template.spec.containers[name="nginx"].image'
    assert pe.display_path(("f:metadata", "f:finalizers", 'v:"a"')) == '.metadata.finalizers[="a"]'
    assert pe.display_path(("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}')) == (
        '.ports[containerPort=80,protocol="TCP"]'
    )


def test_decoding_reads_members_children_and_dot_entries():
    doc = {"f:a": {}, "f:b": {".": {}, "f:c": {}}, "f:d": {"f:e": {}}}
    fields = FieldSet.from_fields_v1(doc)
    assert fields.has(("f:a",)) and fields.has(("f:b",)) and fields.has(("f:b", "f:c"))
    assert not fields.has(("f:d",)) and fields.has(("f:d", "f:e"))
    assert fields.to_fields_v1() == doc


def test_decoding_skips_unknown_element_kinds_and_rejects_garbage():
    assert FieldSet.from_fields_v1({"x:future": {}, "f:a": {}}).to_fields_v1() == {"f:a": {}}
    with pytest.raises(FieldsV1Error):
        FieldSet.from_fields_v1({"nocolon": {}})
    with pytest.raises(FieldsV1Error):
        FieldSet.from_fields_v1({"k:notjson": {}})


def test_difference_removes_exact_paths_and_keeps_children_of_removed_parents():
    owned = FieldSet.of(("f:spec",), ("f:spec", "f:replicas"), ("f:spec", "f:paused"))
    taken = FieldSet.of(("f:spec", "f:replicas"))
    assert owned.difference(taken).to_fields_v1() == {"f:spec": {".": {}, "f:paused": {}}}
    assert owned.difference(FieldSet.of(("f:spec",))).to_fields_v1() == {"f:spec": {"f:paused": {}, "f:replicas": {}}}


def test_recursive_difference_removes_whole_subtrees():
    owned = FieldSet.of(("f:spec", "f:replicas"), ("f:status", "f:replicas"))
    assert owned.recursive_difference(FieldSet.of(("f:status",))).to_fields_v1() == {"f:spec": {"f:replicas": {}}}


def test_union_and_intersection():
    a = FieldSet.of(("f:spec", "f:a"), ("f:spec", "f:b"))
    b = FieldSet.of(("f:spec", "f:b"), ("f:spec", "f:c"))
    assert a.union(b).to_fields_v1() == {"f:spec": {"f:a": {}, "f:b": {}, "f:c": {}}}
    assert a.intersection(b).to_fields_v1() == {"f:spec": {"f:b": {}}}
    assert a.intersection(FieldSet.of(("f:other",))).empty()


def test_iteration_lists_members_before_deeper_paths():
    fields = FieldSet.of(("f:spec", "f:template", "f:x"), ("f:spec", "f:replicas"), ("f:kind",))
    assert list(fields) == [("f:kind",), ("f:spec", "f:replicas"), ("f:spec", "f:template", "f:x")]
