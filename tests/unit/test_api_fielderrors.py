"""Field errors and paths render exactly as the Kubernetes API server renders them."""

from __future__ import annotations

import pytest

from kubeprov.api.fielderrors import (
    ErrorType,
    FieldError,
    Path,
    aggregate,
    duplicate,
    forbidden,
    go_json,
    go_quote,
    internal_error,
    invalid,
    not_found,
    not_supported,
    render_value,
    required,
    too_long,
    too_many,
    type_invalid,
)


def test_path_renders_children_with_dots_indexes_and_keys_in_brackets():
    path = Path("spec").child("containers").index(0).child("env").key("app")
    assert str(path) == "spec.containers[0].env[app]"


def test_path_from_several_names_and_empty_root():
    assert str(Path("spec", "template", "metadata")) == "spec.template.metadata"
    assert str(Path().child("metadata")) == "metadata"
    assert str(Path()) == ""


def test_paths_are_immutable_values():
    base = Path("spec")
    assert str(base.child("a")) == "spec.a"
    assert str(base) == "spec"
    assert base.child("x") == Path("spec", "x")


def test_invalid_composite_value_is_rendered_as_compact_json():
    err = invalid(
        Path("spec", "template", "metadata", "labels"),
        {"app": "x"},
        "`selector` does not match template `labels`",
    )
    assert str(err) == (
        'spec.template.metadata.labels: Invalid value: {"app":"x"}: '
        "`selector` does not match template `labels`"
    )


def test_required_name_message():
    err = required(Path("metadata", "name"), "name or generateName is required")
    assert str(err) == "metadata.name: Required value: name or generateName is required"


def test_required_without_detail_has_no_trailing_colon():
    assert str(required(Path("metadata", "namespace"))) == "metadata.namespace: Required value"


def test_invalid_integer_value():
    err = invalid("spec.replicas", -1, "must be greater than or equal to 0")
    assert str(err) == "spec.replicas: Invalid value: -1: must be greater than or equal to 0"


def test_not_supported_lists_quoted_supported_values():
    err = not_supported("spec.type", "Foo", ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"])
    assert str(err) == (
        'spec.type: Unsupported value: "Foo": supported values: '
        '"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'
    )


def test_too_long_never_echoes_the_value():
    err = too_long(Path("metadata", "annotations"), 262144)
    assert str(err) == "metadata.annotations: Too long: may not be more than 262144 bytes"


def test_too_many_shows_the_count():
    assert str(too_many("spec.items", 3, 2)) == "spec.items: Too many: 3: must have at most 2 items"
    assert str(too_many("spec.items", -1, 1)) == "spec.items: Too many: must have at most 1 item"


def test_duplicate_not_found_forbidden_internal_type_invalid():
    assert str(duplicate("spec.ports[1].port", 80)) == "spec.ports[1].port: Duplicate value: 80"
    assert str(not_found("spec.x", "y")) == 'spec.x: Not found: "y"'
    assert str(forbidden("metadata.namespace", "not allowed on this type")) == (
        "metadata.namespace: Forbidden: not allowed on this type"
    )
    assert str(internal_error("spec", "boom")) == "spec: Internal error: boom"
    assert str(type_invalid("spec.replicas", "x", "must be an integer")) == (
        'spec.replicas: Invalid value: "x": must be an integer'
    )


def test_error_without_field_path_shows_nil():
    assert str(invalid(None, "-a", "bad")) == '<nil>: Invalid value: "-a": bad'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (None, "null"),
        (1.5, "1.5"),
        (2.0, "2"),
        (1e21, "1e+21"),
        ('a"b\n', '"a\\"b\\n"'),
        (["a", 1], '["a",1]'),
        ({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}'),
    ],
)
def test_bad_values_render_like_the_api_server(value, text):
    assert render_value(value) == text


def test_go_quote_escapes_control_and_keeps_printable_unicode():
    assert go_quote("é\t\x00\x7f") == '"é\\t\\x00\\x7f"'


def test_go_json_escapes_html_characters_and_formats_floats():
    assert go_json({"k": "<a&b>"}) == '{"k":"\\u003ca\\u0026b\\u003e"}'
    assert go_json([1.0, 0.5, 1e-7]) == "[1,0.5,1e-7]"


def test_cause_carries_reason_body_and_field():
    err = invalid("spec.replicas", -1, "must be greater than or equal to 0")
    assert err.cause() == {
        "reason": "FieldValueInvalid",
        "message": "Invalid value: -1: must be greater than or equal to 0",
        "field": "spec.replicas",
    }


def test_error_type_values_are_status_cause_reasons():
    assert FieldError(ErrorType.NOT_SUPPORTED, "f", "x").cause()["reason"] == "FieldValueNotSupported"
    assert FieldError("FieldValueRequired", Path("a"), "").field == "a"


def test_aggregate_single_error_is_bare_and_several_are_bracketed():
    a = required("metadata.name", "name or generateName is required")
    b = invalid("spec.replicas", -1, "must be greater than or equal to 0")
    assert aggregate([a]) == "metadata.name: Required value: name or generateName is required"
    assert aggregate([a, b, a]) == (
        "[metadata.name: Required value: name or generateName is required, "
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0]"
    )
    assert aggregate([]) == ""
