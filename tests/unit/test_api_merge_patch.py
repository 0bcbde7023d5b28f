"""JSON Merge Patch follows RFC 7386 (the examples of its appendix A)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeprov.api.patch.merge_patch import apply_merge_patch, create_merge_patch


@pytest.mark.parametrize(
    ("original", "patch", "result"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_rfc7386_appendix_a(original, patch, result):
    assert apply_merge_patch(original, patch) == result


def test_inputs_are_not_modified():
    original = {"a": {"b": 1}}
    patch = {"a": {"c": 2}}
    apply_merge_patch(original, patch)
    assert original == {"a": {"b": 1}}
    assert patch == {"a": {"c": 2}}


def test_kubectl_merge_patch_on_a_deployment():
    deployment = {"metadata": {"labels": {"app": "web", "tier": "fe"}}, "spec": {"replicas": 1}}
    patch = {"metadata": {"labels": {"tier": None, "env": "prod"}}, "spec": {"replicas": 3}}
    assert apply_merge_patch(deployment, patch) == {
        "metadata": {"labels": {"app": "web", "env": "prod"}},
        "spec": {"replicas": 3},
    }


def test_create_merge_patch_marks_removed_keys_null():
    assert create_merge_patch({"a": 1, "b": {"c": 1, "d": 2}}, {"b": {"c": 1, "d": 3}}) == {
        "a": None,
        "b": {"d": 3},
    }
    assert create_merge_patch({"a": 1}, {"a": 1}) == {}
    assert create_merge_patch({"a": 1}, {"a": True}) == {"a": True}


# JSON values without nulls inside objects: merge patches cannot express those.
_scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.text(max_size=3), st.floats(allow_nan=False))
_json = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(st.one_of(children, st.none()), max_size=3),
        st.dictionaries(st.text(max_size=3), children, max_size=4),
    ),
    max_leaves=12,
)
_objects = st.dictionaries(st.text(max_size=3), _json, max_size=5)


@given(_objects, _objects)
def test_diff_of_two_objects_turns_one_into_the_other(original, modified):
    patch = create_merge_patch(original, modified)
    assert apply_merge_patch(original, patch) == modified


@given(_objects, _objects)
def test_applying_a_patch_twice_changes_nothing_more(original, patch):
    once = apply_merge_patch(original, patch)
    assert apply_merge_patch(once, patch) == once
