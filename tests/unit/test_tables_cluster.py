"""Rows of networking, RBAC, storage, scheduling, coordination and certificate kinds, and of custom resources."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubeprov.apiserver.resources import Registry, ResourceType, builtin_resources
from kubeprov.apiserver.tables import to_table
from kubeprov.apiserver.tables.jsonpath import JSONPathError, find

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
META = {"name": "x", "creationTimestamp": "2025-02-28T12:00:00Z"}
REGISTRY = Registry(builtin_resources())


def table(group: str, resource: str, obj: dict, rt: ResourceType | None = None) -> dict:
    rt = rt or REGISTRY.get(group, "v1", resource)
    assert rt is not None
    return to_table(rt, [{"metadata": META, **obj}], now=NOW)


def row(group: str, resource: str, obj: dict) -> list:
    return table(group, resource, obj)["rows"][0]["cells"]


def test_ingress_row() -> None:
    obj = {"spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
                    "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}]},
           "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}}
    assert row("networking.k8s.io", "ingresses", obj) == [
        "x", "nginx", "a.example.com,b.example.com", "203.0.113.7", "80, 443", "24h"]


@pytest.mark.parametrize(("rules", "hosts"), [
    ([], "*"),
    ([{"http": {}}], "*"),
    ([{"host": h} for h in "abcde"], "a,b,c + 2 more..."),
    ([{"host": "a"}, {"host": "b"}, {"host": "c"}, {}], "a,b,c + 1 more..."),
])
def test_ingress_hosts(rules: list[dict], hosts: str) -> None:
    assert row("networking.k8s.io", "ingresses", {"spec": {"rules": rules}})[1:5] == ["<none>", hosts, "", "80"]


def test_ingress_class_and_network_policy_rows() -> None:
    klass = {"spec": {"controller": "k8s.io/ingress-nginx",
                      "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}}
    assert row("networking.k8s.io", "ingressclasses", klass) == [
        "x", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/p", "24h"]
    assert row("networking.k8s.io", "networkpolicies", {"spec": {"podSelector": {}}}) == ["x", "<none>", "24h"]


def test_endpoint_slice_row() -> None:
    obj = {"addressType": "IPv4", "ports": [{"name": "http", "port": 80}, {"name": "named"}, {}],
           "endpoints": [{"addresses": [f"10.0.0.{i}"]} for i in range(5)]}
    assert row("discovery.k8s.io", "endpointslices", obj) == [
        "x", "IPv4", "80,named,*", "10.0.0.0,10.0.0.1,10.0.0.2 + 2 more...", "24h"]
    assert row("discovery.k8s.io", "endpointslices", {"addressType": "IPv6"})[2:4] == ["<unset>", "<unset>"]


def test_role_binding_row_lists_subjects_in_wide_columns() -> None:
    obj = {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
           "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                        {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
                        {"kind": "User", "name": "bob"}]}
    assert row("rbac.authorization.k8s.io", "rolebindings", obj) == [
        "x", "ClusterRole/view", "24h", "alice, bob", "devs", "tools/ci"]
    columns = table("rbac.authorization.k8s.io", "clusterrolebindings", obj)["columnDefinitions"]
    assert [(c["name"], c["priority"]) for c in columns] == [
        ("Name", 0), ("Role", 0), ("Age", 0), ("Users", 1), ("Groups", 1), ("ServiceAccounts", 1)]


def test_default_storage_class_is_marked() -> None:
    obj = {"metadata": {**META, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
           "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}
    assert row("storage.k8s.io", "storageclasses", obj) == [
        "x (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", False, "24h"]


def test_priority_class_always_shows_preemption_policy() -> None:
    obj = {"value": 2000001000, "globalDefault": False, "preemptionPolicy": "PreemptLowerPriority"}
    result = table("scheduling.k8s.io", "priorityclasses", obj)
    assert result["rows"][0]["cells"] == ["x", 2000001000, False, "24h", "PreemptLowerPriority"]
    assert all(c["priority"] == 0 for c in result["columnDefinitions"])


def test_lease_row() -> None:
    assert row("coordination.k8s.io", "leases", {"spec": {"holderIdentity": "node-1"}}) == ["x", "node-1", "24h"]
    assert row("coordination.k8s.io", "leases", {"spec": {}}) == ["x", "", "24h"]


@pytest.mark.parametrize(("status", "condition"), [
    ({}, "Pending"),
    ({"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"}, "Approved,Issued"),
    ({"conditions": [{"type": "Approved"}, {"type": "Denied"}]}, "Denied"),
    ({"conditions": [{"type": "Approved"}, {"type": "Failed"}]}, "Approved,Failed"),
])
def test_certificate_signing_request_condition(status: dict, condition: str) -> None:
    obj = {"spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "alice",
                    "expirationSeconds": 86400}, "status": status}
    assert row("certificates.k8s.io", "certificatesigningrequests", obj) == [
        "x", "24h", "kubernetes.io/kube-apiserver-client", "alice", "24h", condition]


# --- custom resources --------------------------------------------------------------------------

CRD = {"spec": {"group": "stable.example.com", "names": {"kind": "CronTab", "plural": "crontabs"},
                "versions": [{"name": "v1", "additionalPrinterColumns": [
                    {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
                    {"name": "First", "type": "string", "jsonPath": ".status.conditions[0].type", "priority": 1},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]}]}}
CUSTOM = ResourceType("stable.example.com", "v1", "crontabs", "CronTab", True, custom=True, extra={"crd": CRD})


def test_custom_resource_uses_its_printer_columns() -> None:
    obj = {"spec": {"cronSpec": "* * * * */5", "replicas": 2.0},
           "status": {"conditions": [{"type": "Synced", "status": "True"}, {"type": "Ready", "status": "False"}]}}
    result = table("", "", obj, CUSTOM)
    assert [(c["name"], c["type"], c["priority"]) for c in result["columnDefinitions"]] == [
        ("Name", "string", 0), ("Spec", "string", 0), ("Replicas", "integer", 0), ("Ready", "string", 0),
        ("First", "string", 1), ("Age", "date", 0)]
    assert result["rows"][0]["cells"] == ["x", "* * * * */5", 2, "False", "Synced", "24h"]


def test_missing_custom_values_are_null() -> None:
    assert table("", "", {}, CUSTOM)["rows"][0]["cells"] == ["x", None, None, None, None, "24h"]


def test_custom_resource_without_columns_shows_name_and_age() -> None:
    bare = ResourceType("stable.example.com", "v1", "crontabs", "CronTab", True, custom=True)
    result = table("", "", {}, bare)
    assert [c["name"] for c in result["columnDefinitions"]] == ["Name", "Age"]
    assert result["rows"][0]["cells"] == ["x", "24h"]


@pytest.mark.parametrize(("path", "found"), [
    (".spec.replicas", [3]),
    ("{.spec.replicas}", [3]),
    (".metadata.labels.app\\.kubernetes\\.io/name", ["web"]),
    (".metadata.labels['app.kubernetes.io/name']", ["web"]),
    (".spec.items[-1].n", [2]),
    (".spec.items[*].n", [1, 2]),
    (".spec.missing.deeper", []),
    (".spec.items[5]", []),
])
def test_jsonpath_subset(path: str, found: list) -> None:
    obj = {"metadata": {"labels": {"app.kubernetes.io/name": "web"}}, "spec": {"replicas": 3,
                                                                               "items": [{"n": 1}, {"n": 2}]}}
    assert find(obj, path) == found


def test_jsonpath_outside_the_subset_is_an_error() -> None:
    with pytest.raises(JSONPathError):
        find({}, ".spec..deep")
