"""JSON Patch follows RFC 6902 (the examples of its appendix A) and RFC 6901 pointers."""

from __future__ import annotations

import pytest

from kubeprov.api.patch.json_patch import JSONPatchError, apply_json_patch, json_equal, parse_pointer


@pytest.mark.parametrize(
    ("doc", "patch", "expected"),
    [
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux"}],
            {"baz": "qux", "foo": "bar"},
            id="A.1 adding an object member",
        ),
        pytest.param(
            {"foo": ["bar", "baz"]},
            [{"op": "add", "path": "/foo/1", "value": "qux"}],
            {"foo": ["bar", "qux", "baz"]},
            id="A.2 adding an array element",
        ),
        pytest.param(
            {"baz": "qux", "foo": "bar"},
            [{"op": "remove", "path": "/baz"}],
            {"foo": "bar"},
            id="A.3 removing an object member",
        ),
        pytest.param(
            {"foo": ["bar", "qux", "baz"]},
            [{"op": "remove", "path": "/foo/1"}],
            {"foo": ["bar", "baz"]},
            id="A.4 removing an array element",
        ),
        pytest.param(
            {"baz": "qux", "foo": "bar"},
            [{"op": "replace", "path": "/baz", "value": "boo"}],
            {"baz": "boo", "foo": "bar"},
            id="A.5 replacing a value",
        ),
        pytest.param(
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
            id="A.6 moving a value",
        ),
        pytest.param(
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
            id="A.7 moving an array element",
        ),
        pytest.param(
            {"baz": "qux", "foo": ["a", 2, "c"]},
            [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
            {"baz": "qux", "foo": ["a", 2, "c"]},
            id="A.8 testing a value: success",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
            id="A.10 adding a nested member object",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
            {"foo": "bar", "baz": "qux"},
            id="A.11 ignoring unrecognized elements",
        ),
        pytest.param(
            {"/": 9, "~1": 10},
            [{"op": "test", "path": "/~01", "value": 10}],
            {"/": 9, "~1": 10},
            id="A.14 ~ escape ordering",
        ),
        pytest.param(
            {"foo": ["bar"]},
            [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
            {"foo": ["bar", ["abc", "def"]]},
            id="A.16 adding an array value",
        ),
    ],
)
def test_rfc6902_appendix_a(doc, patch, expected):
    assert apply_json_patch(doc, patch) == expected


@pytest.mark.parametrize(
    ("doc", "patch"),
    [
        pytest.param({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], id="A.9 test failure"),
        pytest.param(
            {"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], id="A.12 missing target"
        ),
        pytest.param(
            {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}], id="A.15 string vs number"
        ),
    ],
)
def test_rfc6902_appendix_a_errors(doc, patch):
    with pytest.raises(JSONPatchError):
        apply_json_patch(doc, patch)


def test_copy_deep_copies_the_value():
    doc = {"a": {"x": [1]}}
    result = apply_json_patch(
        doc, [{"op": "copy", "from": "/a", "path": "/b"}, {"op": "add", "path": "/b/x/-", "value": 2}]
    )
    assert result == {"a": {"x": [1]}, "b": {"x": [1, 2]}}


def test_replace_and_add_at_root_replace_the_document():
    assert apply_json_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}]) == [1]
    assert apply_json_patch({"a": 1}, [{"op": "add", "path": "", "value": {"b": 2}}]) == {"b": 2}


def test_typical_kubectl_json_patch():
    deployment = {
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
    }
    patch = [
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.27"},
        {"op": "add", "path": "/metadata", "value": {"labels": {"app.kubernetes.io~1name": "web"}}},
    ]
    result = apply_json_patch(deployment, patch)
    assert result["spec"]["replicas"] == 3
    assert result["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert deployment["spec"]["replicas"] == 1


def test_pointer_unescaping():
    assert parse_pointer("/a~1b/m~0n/~01") == ["a/b", "m~n", "~1"]
    assert parse_pointer("") == []
    assert parse_pointer("/") == [""]


@pytest.mark.parametrize(
    "patch",
    [
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "add", "path": "/list/5", "value": 1}],
        [{"op": "add", "path": "/list/01", "value": 1}],
        [{"op": "remove", "path": "/list/-"}],
        [{"op": "add", "path": "/a~2", "value": 1}],
        [{"op": "add", "path": "nope", "value": 1}],
        [{"op": "add", "path": "/x"}],
        [{"op": "move", "path": "/x"}],
        [{"op": "move", "from": "/obj", "path": "/obj/child"}],
        [{"op": "frobnicate", "path": "/x"}],
        [{"path": "/x"}],
        {"op": "add", "path": "/x", "value": 1},
        ["add"],
    ],
)
def test_invalid_or_inapplicable_patches_raise(patch):
    with pytest.raises(JSONPatchError):
        apply_json_patch({"list": [1, 2], "obj": {}}, patch)


def test_a_failing_operation_leaves_the_document_untouched():
    doc = {"a": 1}
    with pytest.raises(JSONPatchError):
        apply_json_patch(doc, [{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/zz"}])
    assert doc == {"a": 1}


def test_unknown_operation_message():
    with pytest.raises(JSONPatchError, match="Unexpected kind: frobnicate"):
        apply_json_patch({}, [{"op": "frobnicate", "path": "/x"}])


def test_json_equality_rules():
    assert json_equal(1, 1.0)
    assert not json_equal(True, 1)
    assert not json_equal("1", 1)
    assert json_equal({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})
    assert not json_equal([1, 2], [2, 1])


def test_error_statuses_follow_the_api_server():
    with pytest.raises(JSONPatchError) as info:
        apply_json_patch({}, {"op": "add"})
    assert info.value.to_status()["code"] == 400
    with pytest.raises(JSONPatchError) as info:
        apply_json_patch({}, [{"op": "remove", "path": "/x"}])
    result = info.value.to_status()
    assert (result["code"], result["reason"], result["message"]) == (
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    )
