"""Name, label, annotation and metadata validation give Kubernetes' exact messages."""

from __future__ import annotations

from random import Random

from hypothesis import given
from hypothesis import strategies as st

from kubeprov.api import names
from kubeprov.api.fielderrors import Path

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
    "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
    "is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
    "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def test_dns_subdomain_accepts_dotted_lowercase_names():
    assert names.is_dns1123_subdomain("my-app.example.com") == []


def test_dns_subdomain_rejects_uppercase_with_regex_message():
    assert names.is_dns1123_subdomain("MyApp") == [SUBDOMAIN_MSG]


def test_dns_subdomain_length_limit_is_253():
    assert names.is_dns1123_subdomain("a" * 253) == []
    assert names.is_dns1123_subdomain("a" * 254) == ["must be no more than 253 characters"]


def test_dns_label_rejects_dots_with_a_specific_message():
    assert names.is_dns1123_label("a.b") == ["must not contain dots"]


def test_dns_label_rejects_bad_characters_and_length():
    assert names.is_dns1123_label("My_Name") == [LABEL_MSG]
    assert names.is_dns1123_label("a" * 64) == ["must be no more than 63 characters"]


def test_dns1035_label_must_start_with_a_letter():
    assert names.is_dns1035_label("web") == []
    assert names.is_dns1035_label("1web") == [
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
        "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
        "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
    ]


def test_trailing_newline_is_not_accepted():
    assert names.is_dns1123_label("web\n") == [LABEL_MSG]


def test_qualified_names_with_and_without_prefix():
    assert names.is_qualified_name("app") == []
    assert names.is_qualified_name("app.kubernetes.io/name") == []
    assert names.is_qualified_name("-app") == ["name part " + QNAME_MSG]
    assert names.is_qualified_name("/app") == ["prefix part must be non-empty"]
    assert names.is_qualified_name("example.com/") == [
        "name part must be non-empty",
        "name part " + QNAME_MSG,
    ]
    assert names.is_qualified_name("Example.com/app") == ["prefix part " + SUBDOMAIN_MSG]
    assert names.is_qualified_name("a" * 64) == [
        "name part must be no more than 63 characters",
    ]


def test_qualified_name_with_two_slashes():
    assert names.is_qualified_name("a/b/c") == [
        "a qualified name "
        + QNAME_MSG
        + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
    ]


def test_label_values():
    assert names.is_valid_label_value("") == []
    assert names.is_valid_label_value("v1.2_x-y") == []
    assert names.is_valid_label_value("-x") == [LABEL_VALUE_MSG]
    assert names.is_valid_label_value("a" * 64) == ["must be no more than 63 characters"]


def test_path_segment_names():
    assert names.is_valid_path_segment_name("system:admin") == []
    assert names.is_valid_path_segment_name("..") == ["may not be '..'"]
    assert names.is_valid_path_segment_name("a/b%c") == ["may not contain '/'", "may not contain '%'"]
    assert names.validate_path_segment_name(".", True) == []


def test_generate_name_prefix_may_end_with_a_dash():
    assert names.name_is_dns_subdomain("web-", True) == []
    assert names.name_is_dns_subdomain("web-", False) == [SUBDOMAIN_MSG]


def test_generate_name_uses_kubernetes_alphabet_and_five_characters():
    name = names.generate_name("web-", Random(1))
    assert name.startswith("web-")
    assert len(name) == 9
    assert all(c in "bcdfghjklmnpqrstvwxz2456789" for c in name[4:])


def test_generate_name_truncates_long_prefixes_to_58_characters():
    name = names.generate_name("x" * 80)
    assert len(name) == 63
    assert name[:58] == "x" * 58


@given(st.text(alphabet="abc-", max_size=70))
def test_generated_names_are_at_most_63_characters(prefix):
    assert len(names.generate_name(prefix, Random(0))) <= 63


def test_object_meta_requires_name_or_generate_name():
    errs = names.validate_object_meta({"namespace": "default"}, namespaced=True)
    assert [str(e) for e in errs] == ["metadata.name: Required value: name or generateName is required"]


def test_object_meta_namespace_required_for_namespaced_kinds():
    errs = names.validate_object_meta({"name": "web"}, namespaced=True)
    assert [str(e) for e in errs] == ["metadata.namespace: Required value"]


def test_object_meta_namespace_forbidden_for_cluster_scoped_kinds():
    errs = names.validate_object_meta({"name": "n1", "namespace": "default"}, namespaced=False)
    assert [str(e) for e in errs] == ["metadata.namespace: Forbidden: not allowed on this type"]


def test_object_meta_name_checked_with_the_kinds_validator():
    errs = names.validate_object_meta(
        {"name": "Web"}, namespaced=False, name_validator=names.name_is_dns1035_label
    )
    assert str(errs[0]).startswith('metadata.name: Invalid value: "Web": a DNS-1035 label must consist')


def test_object_meta_labels_reported_at_the_map_path():
    errs = names.validate_object_meta({"name": "web", "labels": {"app": "-x"}}, namespaced=False)
    assert [str(e) for e in errs] == ['metadata.labels: Invalid value: "-x": ' + LABEL_VALUE_MSG]


def test_object_meta_annotations_total_size_limit():
    meta = {"name": "web", "annotations": {"a": "x" * (256 * 1024)}}
    errs = names.validate_object_meta(meta, namespaced=False)
    assert [str(e) for e in errs] == ["metadata.annotations: Too long: may not be more than 262144 bytes"]


def test_object_meta_finalizers_must_be_qualified():
    meta = {"name": "web", "finalizers": ["kubernetes", "example.com/cleanup", "cleanup"]}
    errs = names.validate_object_meta(meta, namespaced=False)
    assert [str(e) for e in errs] == [
        'metadata.finalizers: Invalid value: "cleanup": name is neither a standard finalizer name nor is it '
        "fully qualified"
    ]


def test_object_meta_orphan_and_foreground_exclude_each_other():
    meta = {"name": "web", "finalizers": ["orphan", "foregroundDeletion"]}
    errs = names.validate_object_meta(meta, namespaced=False)
    assert [str(e) for e in errs] == [
        'metadata.finalizers: Invalid value: ["orphan","foregroundDeletion"]: '
        "finalizer orphan and foregroundDeletion cannot be both set"
    ]


def test_owner_references_need_identity_and_one_controller():
    refs = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1", "controller": True},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2", "controller": True},
        {"apiVersion": "", "kind": "", "name": "", "uid": ""},
    ]
    errs = names.validate_owner_references(refs, Path("metadata", "ownerReferences"))
    messages = [str(e) for e in errs]
    assert messages[0].startswith("metadata.ownerReferences: Invalid value: [")
    assert messages[0].endswith(
        'Only one reference can have Controller set to true. Found "true" in references for '
        "ReplicaSet/a and ReplicaSet/b"
    )
    assert messages[1:] == [
        'metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty',
        'metadata.ownerReferences.kind: Invalid value: "": kind must not be empty',
        'metadata.ownerReferences.name: Invalid value: "": name must not be empty',
        'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty',
    ]


def test_update_keeps_identity_immutable_and_requires_resource_version():
    old = {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "5"}
    new = {"name": "web2", "namespace": "default", "uid": "u1"}
    errs = names.validate_object_meta_update(new, old)
    assert [str(e) for e in errs] == [
        'metadata.resourceVersion: Invalid value: "": must be specified for an update',
        'metadata.name: Invalid value: "web2": field is immutable',
    ]


def test_update_forbids_new_finalizers_while_deleting():
    old = {
        "name": "w",
        "resourceVersion": "1",
        "deletionTimestamp": "2024-01-01T00:00:00Z",
        "finalizers": ["a/b"],
    }
    new = dict(old, finalizers=["a/b", "c/d"])
    errs = names.validate_object_meta_update(new, old)
    assert [str(e) for e in errs] == [
        "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, "
        'found new finalizers []string{"c/d"}'
    ]


def test_object_meta_with_non_string_name_is_a_type_error():
    errs = names.validate_object_meta({"name": 5}, namespaced=False)
    assert [str(e) for e in errs] == ["metadata.name: Invalid value: 5: must be a string"]
