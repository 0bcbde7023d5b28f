"""Field selectors and per-kind selectable fields follow the API server."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeprov.api.fields import (
    FieldSelector,
    FieldTerm,
    SelectorError,
    convert_field_selector,
    escape_value,
    object_fields,
    parse,
    unescape_value,
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("metadata.name=web", "metadata.name=web"),
        ("metadata.name==web", "metadata.name=web"),
        ("status.phase!=Running", "status.phase!=Running"),
        ("spec.nodeName=n1,metadata.name=a", "metadata.name=a,spec.nodeName=n1"),
        ("a=b,,c=d", "a=b,c=d"),
        ("metadata.name=", "metadata.name="),
    ],
)
def test_parse_gives_sorted_canonical_form(text, canonical):
    assert str(parse(text)) == canonical


def test_escaped_separators_in_values():
    selector = parse(r"metadata.name=a\,b\=c\\d")
    assert selector.terms == (FieldTerm("metadata.name", "=", "a,b=c\\d"),)
    assert str(selector) == r"metadata.name=a\,b\=c\\d"


def test_escape_and_unescape_round_trip():
    assert escape_value("a,b=c\\") == r"a\,b\=c\\"
    assert unescape_value(r"a\,b\=c\\") == "a,b=c\\"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
        ("a=b,foo", "invalid selector: 'a=b,foo'; can't understand 'foo'"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        (r"a=b\x", "invalid field selector: invalid escape sequence: \\x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(SelectorError) as info:
        parse(text)
    assert str(info.value) == message


def test_matching_treats_missing_fields_as_empty():
    fields = {"metadata.name": "web", "status.phase": "Running"}
    assert parse("metadata.name=web,status.phase=Running").matches(fields)
    assert not parse("status.phase!=Running").matches(fields)
    assert parse("spec.nodeName=").matches(fields)
    assert parse("spec.nodeName!=n1").matches(fields)
    assert parse("").matches(fields)


def test_requires_exact_match():
    assert parse("spec.nodeName=n1").requires_exact_match("spec.nodeName") == "n1"
    assert parse("spec.nodeName!=n1").requires_exact_match("spec.nodeName") is None


def test_pod_fields():
    pod = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "nodeName": "n1",
            "restartPolicy": "Always",
            "serviceAccountName": "sa",
            "hostNetwork": True,
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.5",
            "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}],
        },
    }
    assert object_fields("Pod", pod) == {
        "metadata.name": "p",
        "metadata.namespace": "ns",
        "spec.nodeName": "n1",
        "spec.restartPolicy": "Always",
        "spec.schedulerName": "",
        "spec.serviceAccountName": "sa",
        "spec.hostNetwork": "true",
        "status.phase": "Running",
        "status.podIP": "10.0.0.5",
        "status.nominatedNodeName": "",
    }


def test_pod_host_network_defaults_to_false():
    assert object_fields("Pod", {"metadata": {"name": "p"}})["spec.hostNetwork"] == "false"


def test_cluster_scoped_kinds_have_no_namespace_field():
    node = {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}}
    assert object_fields("Node", node, namespaced=False) == {
        "metadata.name": "n1",
        "spec.unschedulable": "true",
    }
    ns = {"metadata": {"name": "kube-system"}, "status": {"phase": "Active"}}
    assert object_fields("Namespace", ns, namespaced=False) == {
        "metadata.name": "kube-system",
        "status.phase": "Active",
    }


def test_event_fields():
    event = {
        "metadata": {"name": "e", "namespace": "ns"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "ns", "uid": "u"},
        "reason": "Scheduled",
        "type": "Normal",
        "reportingComponent": "default-scheduler",
    }
    fields = object_fields("Event", event)
    assert fields["involvedObject.kind"] == "Pod"
    assert fields["involvedObject.fieldPath"] == ""
    assert fields["reason"] == "Scheduled"
    assert fields["source"] == "default-scheduler"
    assert fields["type"] == "Normal"


def test_other_kind_fields():
    assert object_fields("Secret", {"metadata": {"name": "s"}, "type": "Opaque"})["type"] == "Opaque"
    assert (
        object_fields("ReplicaSet", {"metadata": {"name": "r"}, "status": {"replicas": 3}})["status.replicas"]
        == "3"
    )
    assert object_fields("ReplicationController", {"metadata": {"name": "r"}})["status.replicas"] == "0"
    assert (
        object_fields("Job", {"metadata": {"name": "j"}, "status": {"succeeded": 1}})["status.successful"]
        == "1"
    )
    csr = {"metadata": {"name": "c"}, "spec": {"signerName": "kubernetes.io/kubelet-serving"}}
    assert object_fields("CertificateSigningRequest", csr, namespaced=False) == {
        "metadata.name": "c",
        "spec.signerName": "kubernetes.io/kubelet-serving",
    }
    assert object_fields("ConfigMap", {"metadata": {"name": "c", "namespace": "d"}}) == {
        "metadata.name": "c",
        "metadata.namespace": "d",
    }


def test_unsupported_field_for_a_kind_with_its_own_list():
    with pytest.raises(SelectorError) as info:
        convert_field_selector("Pod", parse("foo=bar"))
    assert str(info.value) == "field label not supported: foo"


def test_unsupported_field_for_a_kind_with_only_metadata_fields():
    with pytest.raises(SelectorError) as info:
        convert_field_selector("ConfigMap", parse("spec.x=1"))
    assert (
        str(info.value)
        == '"spec.x" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )


def test_node_does_not_accept_metadata_namespace():
    with pytest.raises(SelectorError, match="field label not supported: metadata.namespace"):
        convert_field_selector("Node", parse("metadata.namespace=x"))


def test_legacy_spec_host_is_renamed_for_pods():
    converted = convert_field_selector("Pod", parse("spec.host=n1"))
    assert str(converted) == "spec.nodeName=n1"


def test_custom_resource_selectable_fields_are_accepted():
    converted = convert_field_selector("Widget", parse("spec.color=red"), extra_fields=("spec.color",))
    assert str(converted) == "spec.color=red"


_value = st.text(alphabet="ab,=\\ x", max_size=8)


@given(
    st.lists(st.tuples(st.sampled_from(["a", "b.c", "d"]), st.sampled_from(["=", "!="]), _value), max_size=4)
)
def test_canonical_string_reparses_to_the_same_terms(terms):
    selector = FieldSelector(tuple(sorted((FieldTerm(f, op, v) for f, op, v in terms), key=str)))
    assert parse(str(selector)) == selector


@given(_value)
def test_escaping_round_trips(value):
    assert unescape_value(escape_value(value)) == value
