"""Label selectors parse, print and match like Kubernetes' ``labels`` package."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeprov.api.fielderrors import Path
from kubeprov.api.labels import (
    Operator,
    Requirement,
    Selector,
    SelectorError,
    from_label_selector,
    new_requirement,
    parse,
    selector_from_set,
    validate_label_selector,
)

QNAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
    "is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
    "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("a", "a"),
        ("!a", "!a"),
        ("a in (y,x)", "a in (x,y)"),
        ("a notin (x)", "a notin (x)"),
        ("b=1, a=2", "a=2,b=1"),
        ("  a  =  b  ", "a=b"),
        ("a=", "a="),
        ("a>1,a<5", "a>1,a<5"),
        ("env in (prod, staging),tier!=frontend,!canary", "!canary,env in (prod,staging),tier!=frontend"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("app.kubernetes.io/name=web", "app.kubernetes.io/name=web"),
        ("a in (in,notin)", "a in (in,notin)"),
    ],
)
def test_parse_gives_kubernetes_canonical_form(text, canonical):
    assert str(parse(text)) == canonical


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("a=b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a=b", {}, False),
        ("a!=b", {"a": "c"}, True),
        ("a!=b", {"a": "b"}, False),
        ("a!=b", {}, True),
        ("a in (x,y)", {"a": "y"}, True),
        ("a in (x,y)", {}, False),
        ("a notin (x)", {"a": "x"}, False),
        ("a notin (x)", {"a": "z"}, True),
        ("a notin (x)", {}, True),
        ("a", {"a": ""}, True),
        ("a", {"b": "x"}, False),
        ("!a", {"b": "x"}, True),
        ("!a", {"a": "x"}, False),
        ("a=", {"a": ""}, True),
        ("a>1", {"a": "2"}, True),
        ("a>1", {"a": "1"}, False),
        ("a>1", {"a": "x"}, False),
        ("a<1", {"a": "-3"}, True),
        ("a=b,c=d", {"a": "b", "c": "d"}, True),
        ("a=b,c=d", {"a": "b"}, False),
        ("", {"anything": "x"}, True),
    ],
)
def test_matching(text, labels, expected):
    assert parse(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        (",", "found ',', expected: !, identifier, or 'end of string'"),
        ("a=b,", "found '', expected: identifier after ','"),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a=(", "unable to parse requirement: found '(', expected: identifier"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("-a=b", 'unable to parse requirement: <nil>: Invalid value: "-a": ' + QNAME_MSG),
        ("a=-x", 'unable to parse requirement: values[0][a]: Invalid value: "-x": ' + LABEL_VALUE_MSG),
        (
            "a>x",
            'unable to parse requirement: values[0]: Invalid value: "x": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
    ],
)
def test_parse_errors_use_kubernetes_messages(text, message):
    with pytest.raises(SelectorError) as info:
        parse(text)
    assert str(info.value) == message


def test_negative_numbers_are_not_valid_label_values_even_for_lt():
    with pytest.raises(SelectorError) as info:
        parse("a<-1")
    assert (
        str(info.value)
        == 'unable to parse requirement: values[0][a]: Invalid value: "-1": ' + LABEL_VALUE_MSG
    )


def test_new_requirement_aggregates_errors():
    with pytest.raises(SelectorError) as info:
        new_requirement("-k", "in", [])
    assert str(info.value) == (
        '[key: Invalid value: "-k": ' + QNAME_MSG + ", "
        "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty]"
    )


def test_new_requirement_rejects_unknown_operator():
    with pytest.raises(SelectorError) as info:
        new_requirement("k", "like", ["x"])
    assert str(info.value) == (
        'operator: Unsupported value: "like": supported values: '
        '"in", "notin", "=", "==", "!=", "exists", "!", "gt", "lt"'
    )


def test_label_selector_object_converts_match_labels_and_expressions():
    selector = from_label_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["b", "a"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "zone", "operator": "Exists"},
            ],
        }
    )
    assert str(selector) == "app=web,!canary,env notin (dev),tier in (a,b),zone"
    assert selector.matches({"app": "web", "tier": "a", "zone": "z1"})
    assert not selector.matches({"app": "web", "tier": "a", "zone": "z1", "canary": "1"})
    assert not selector.matches({"app": "web", "tier": "a", "zone": "z1", "env": "dev"})


def test_missing_label_selector_selects_nothing_and_empty_selects_everything():
    assert not from_label_selector(None).matches({})
    assert from_label_selector(None).is_nothing()
    assert from_label_selector({}).matches({"a": "b"})
    assert from_label_selector({"matchLabels": {}}).is_empty()


def test_label_selector_with_unknown_operator():
    with pytest.raises(SelectorError) as info:
        from_label_selector({"matchExpressions": [{"key": "a", "operator": "Foo"}]})
    assert str(info.value) == '"Foo" is not a valid label selector operator'


def test_validate_label_selector_reports_field_errors():
    errs = validate_label_selector(
        {
            "matchLabels": {"app": "-x"},
            "matchExpressions": [
                {"key": "a", "operator": "In", "values": []},
                {"key": "b", "operator": "Exists", "values": ["x"]},
                {"key": "c", "operator": "Foo"},
                {"key": "-d", "operator": "In", "values": ["-v"]},
            ],
        },
        Path("spec", "selector"),
    )
    assert [str(e) for e in errs] == [
        'spec.selector.matchLabels: Invalid value: "-x": ' + LABEL_VALUE_MSG,
        "spec.selector.matchExpressions[0].values: Required value: "
        "must be specified when `operator` is 'In' or 'NotIn'",
        "spec.selector.matchExpressions[1].values: Forbidden: "
        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        'spec.selector.matchExpressions[2].operator: Invalid value: "Foo": not a valid selector operator',
        'spec.selector.matchExpressions[3].key: Invalid value: "-d": ' + QNAME_MSG,
        'spec.selector.matchExpressions[3].values[0]: Invalid value: "-v": ' + LABEL_VALUE_MSG,
    ]


def test_selector_from_set_and_exact_match():
    selector = selector_from_set({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.requires_exact_match("a") == "1"
    assert selector.requires_exact_match("z") is None
    assert parse("a in (x)").requires_exact_match("a") == "x"
    assert parse("a notin (x)").requires_exact_match("a") is None


def test_add_keeps_requirements_sorted_by_key():
    selector = parse("b=1").add(Requirement("a", Operator.EXISTS))
    assert str(selector) == "a,b=1"


# ---------------------------------------------------------------- properties

_keys = st.from_regex(
    r"\A([a-z0-9]{1,5}\.)?[a-z][a-z0-9]{0,4}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,4}[A-Za-z0-9])?\Z"
)
_values = st.from_regex(r"\A([A-Za-z0-9]([A-Za-z0-9_.-]{0,4}[A-Za-z0-9])?)?\Z")


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    key = draw(_keys)
    op = draw(st.sampled_from(list(Operator)))
    if op in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        values: tuple[str, ...] = ()
    elif op in (Operator.IN, Operator.NOT_IN):
        values = tuple(sorted(draw(st.sets(_values, min_size=1, max_size=3))))
    elif op in (Operator.GREATER_THAN, Operator.LESS_THAN):
        values = (str(draw(st.integers(0, 1000))),)  # "-1" is not a valid label value
    else:
        values = (draw(_values),)
    return new_requirement(key, op, values)


@given(st.lists(requirements(), max_size=4))
def test_canonical_string_reparses_to_an_equal_selector(reqs):
    selector = Selector(reqs)
    assert parse(str(selector)) == selector


@given(st.lists(requirements(), max_size=4), st.dictionaries(_keys, _values, max_size=4))
def test_reparsed_selector_matches_the_same_labels(reqs, labels):
    selector = Selector(reqs)
    assert parse(str(selector)).matches(labels) == selector.matches(labels)
