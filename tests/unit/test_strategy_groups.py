"""RBAC, autoscaling (with v1<->v2 conversion), networking, storage, discovery, scheduling,
certificates, coordination, policy and CRDs."""

from __future__ import annotations

import copy
from typing import Any

from kubeprov.apiserver.resources.builtin import builtin_resources
from kubeprov.apiserver.strategy import hpa_v1_to_v2, hpa_v2_to_v1, set_requester, strategy_for
from tests.unit.test_strategy_registry import CSR_REQUEST, VALID

RT = {(rt.group, rt.resource, rt.version): rt for rt in builtin_resources() if rt.stored}


def rt_of(resource: str, group: str, version: str = "v1") -> Any:
    return RT[(group, resource, version)]


def create(rt: Any, obj: dict[str, Any]) -> dict[str, Any]:
    s = strategy_for(rt)
    obj.setdefault("apiVersion", rt.api_version)
    s.default(obj)
    s.prepare_for_create(obj)
    return obj


def errors(rt: Any, obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in strategy_for(rt).validate(create(rt, obj))]


def update(rt: Any, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    s = strategy_for(rt)
    s.default(new)
    s.prepare_for_update(new, old)
    return [str(e) for e in s.validate_update(new, old)]


RBAC = "rbac.authorization.k8s.io"


# --------------------------------------------------------------------------- RBAC


def test_binding_api_groups_default_by_subject_kind() -> None:
    obj = create(rt_of("rolebindings", RBAC), copy.deepcopy(VALID[(RBAC, "rolebindings")]))
    assert obj["roleRef"]["apiGroup"] == RBAC
    assert [s["apiGroup"] for s in obj["subjects"]] == [RBAC, ""]


def test_role_rules_need_api_groups_and_resources() -> None:
    obj = {"metadata": {"name": "r", "namespace": "default"}, "rules": [{"verbs": ["get"]}]}
    assert errors(rt_of("roles", RBAC), obj) == [
        "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
        "rules[0].resources: Required value: resource rules must supply at least one resource",
    ]
    urls = {"metadata": {"name": "r", "namespace": "default"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]}
    assert errors(rt_of("roles", RBAC), urls) == [
        'rules[0].nonResourceURLs: Invalid value: []string{"/x"}: namespaced rules cannot apply to non-resource URLs'
    ]


def test_subject_kinds() -> None:
    obj = {
        "metadata": {"name": "b", "namespace": "default"},
        "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [{"kind": "Robot", "name": "r2d2"}],
    }
    assert errors(rt_of("rolebindings", RBAC), obj) == [
        'subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"'
    ]


def test_cluster_role_bindings_only_bind_cluster_roles_and_role_ref_is_immutable() -> None:
    rt = rt_of("clusterrolebindings", RBAC)
    obj = {"metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "r"}}
    assert errors(rt, obj) == ['roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"']
    old = create(rt, copy.deepcopy(VALID[(RBAC, "clusterrolebindings")]))
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "admin"
    assert update(rt, old, new) == [
        'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"admin"}: '
        "cannot change roleRef"
    ]


# --------------------------------------------------------------------------- autoscaling

HPA_V2 = rt_of("horizontalpodautoscalers", "autoscaling", "v2")
HPA_V1 = rt_of("horizontalpodautoscalers", "autoscaling", "v1")
TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def test_hpa_v2_defaults_to_cpu_utilization_80() -> None:
    obj = create(
        HPA_V2,
        {"metadata": {"name": "h", "namespace": "default"}, "spec": {"scaleTargetRef": TARGET, "maxReplicas": 5}},
    )
    assert obj["spec"]["minReplicas"] == 1
    assert obj["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
    ]
    assert obj["status"] == {"currentMetrics": None, "desiredReplicas": 0}


def test_hpa_v2_validation() -> None:
    obj = {
        "metadata": {"name": "h", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment"},
            "minReplicas": 0,
            "maxReplicas": 5,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}},
                {"type": "Bogus"},
            ],
        },
    }
    assert errors(HPA_V2, obj) == [
        "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
        "spec.scaleTargetRef.name: Required value",
        "spec.metrics[0].resource.target.averageUtilization: Required value: must set either a target raw value or a "
        "target utilization",
        'spec.metrics[1].type: Unsupported value: "Bogus": supported values: "ContainerResource", "External", '
        '"Object", "Pods", "Resource"',
    ]


def test_hpa_v1_bodies_are_handled_in_their_own_shape() -> None:
    obj = create(
        HPA_V1,
        {
            "metadata": {"name": "h", "namespace": "default"},
            "spec": {"scaleTargetRef": TARGET, "maxReplicas": 5, "targetCPUUtilizationPercentage": 0},
        },
    )
    assert "metrics" not in obj["spec"]
    assert obj["status"] == {"currentReplicas": 0, "desiredReplicas": 0}
    assert [str(e) for e in strategy_for(HPA_V1).validate(obj)] == [
        "spec.targetCPUUtilizationPercentage: Invalid value: 0: must be greater than 0"
    ]


def test_hpa_conversion_round_trips_the_cpu_target() -> None:
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h"},
        "spec": {"scaleTargetRef": TARGET, "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 60},
        "status": {"currentReplicas": 2, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 75},
    }
    v2 = hpa_v1_to_v2(v1)
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}
    ]
    assert v2["status"]["currentMetrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 75}}}
    ]
    assert hpa_v2_to_v1(v2) == v1


# --------------------------------------------------------------------------- networking

NET = "networking.k8s.io"


def ingress(rule: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "i", "namespace": "default"}, "spec": {"rules": [rule]}}


def test_ingress_hosts_paths_and_backends() -> None:
    rule = {
        "host": "10.0.0.1",
        "http": {
            "paths": [
                {"path": "api", "pathType": "Prefix", "backend": {"service": {"name": "web"}}},
                {"path": "/x", "pathType": "Regex", "backend": {}},
            ]
        },
    }
    assert errors(rt_of("ingresses", NET), ingress(rule)) == [
        'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address',
        'spec.rules[0].http.paths[0].path: Invalid value: "api": must be an absolute path',
        "spec.rules[0].http.paths[0].backend: Required value: port name or number is required",
        'spec.rules[0].http.paths[1].pathType: Unsupported value: "Regex": supported values: "Exact", '
        '"ImplementationSpecific", "Prefix"',
        'spec.rules[0].http.paths[1].backend: Invalid value: "": resource or service backend is required',
    ]


def test_ingress_wildcard_hosts() -> None:
    rule = {
        "host": "foo.*.com",
        "http": {
            "paths": [
                {"path": "/", "pathType": "Exact", "backend": {"service": {"name": "web", "port": {"name": "http"}}}}
            ]
        },
    }
    msgs = errors(rt_of("ingresses", NET), ingress(rule))
    assert len(msgs) == 1
    assert msgs[0].startswith(
        "spec.rules[0].host: Invalid value: \"foo.*.com\": a wildcard DNS-1123 subdomain must start with '*.'"
    )


def test_ingress_class_controller_is_immutable() -> None:
    rt = rt_of("ingressclasses", NET)
    old = create(rt, copy.deepcopy(VALID[(NET, "ingressclasses")]))
    new = copy.deepcopy(old)
    new["spec"]["controller"] = "example.com/other"
    assert update(rt, old, new) == ['spec.controller: Invalid value: "example.com/other": field is immutable']


def test_network_policy_defaults_policy_types_and_port_protocol() -> None:
    obj = create(rt_of("networkpolicies", NET), copy.deepcopy(VALID[(NET, "networkpolicies")]))
    assert obj["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert obj["spec"]["egress"][0]["ports"] == [{"port": 53, "protocol": "TCP"}]
    assert obj["metadata"]["generation"] == 1


def test_network_policy_peers_and_ports() -> None:
    obj = {
        "metadata": {"name": "n", "namespace": "default"},
        "spec": {
            "podSelector": {},
            "ingress": [
                {
                    "from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}, "podSelector": {}}],
                    "ports": [{"port": "http", "endPort": 90}],
                }
            ],
        },
    }
    assert errors(rt_of("networkpolicies", NET), obj) == [
        "spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is non-numeric",
        'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.1.0.0/24": must be a strict subset of `cidr`',
        "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer",
    ]


# --------------------------------------------------------------------------- storage, discovery, scheduling


def test_storage_class_defaults_and_immutability() -> None:
    rt = rt_of("storageclasses", "storage.k8s.io")
    old = create(rt, copy.deepcopy(VALID[("storage.k8s.io", "storageclasses")]))
    assert (old["reclaimPolicy"], old["volumeBindingMode"]) == ("Delete", "Immediate")
    new = copy.deepcopy(old)
    new["parameters"] = {"type": "ssd"}
    new["reclaimPolicy"] = "Retain"
    assert update(rt, old, new) == [
        "parameters: Forbidden: updates to parameters are forbidden.",
        "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.",
    ]


def test_endpoint_slice_addresses_match_the_type_which_is_immutable() -> None:
    rt = rt_of("endpointslices", "discovery.k8s.io")
    obj = {
        "metadata": {"name": "s", "namespace": "default"},
        "addressType": "IPv6",
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": []}],
    }
    assert errors(rt, obj) == [
        'endpoints[0].addresses[0]: Invalid value: "10.0.0.1": must be a valid IPv6 address',
        "endpoints[1].addresses: Required value: must contain at least 1 address",
    ]
    old = create(rt, copy.deepcopy(VALID[("discovery.k8s.io", "endpointslices")]))
    assert old["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
    new = copy.deepcopy(old)
    new["addressType"] = "FQDN"
    new["endpoints"] = [{"addresses": ["web.example.com"]}]
    assert update(rt, old, new) == ['addressType: Invalid value: "FQDN": field is immutable']


def test_priority_class_value_is_fixed_and_system_names_reserved() -> None:
    rt = rt_of("priorityclasses", "scheduling.k8s.io")
    old = create(rt, copy.deepcopy(VALID[("scheduling.k8s.io", "priorityclasses")]))
    assert old["preemptionPolicy"] == "PreemptLowerPriority"
    new = copy.deepcopy(old)
    new["value"] = 5
    assert update(rt, old, new) == ["value: Forbidden: may not be changed in an update."]
    assert errors(rt, {"metadata": {"name": "system-mine"}, "value": 1}) == [
        "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only"
    ]
    assert errors(rt, {"metadata": {"name": "system-node-critical"}, "value": 2000001000}) == []


# --------------------------------------------------------------------------- certificates

CERTS = "certificates.k8s.io"


def csr() -> dict[str, Any]:
    return {
        "metadata": {"name": "alice"},
        "spec": {"request": CSR_REQUEST, "usages": ["client auth", "client auth"], "signerName": "example"},
    }


def test_csr_validation() -> None:
    assert errors(rt_of("certificatesigningrequests", CERTS), csr()) == [
        'spec.signerName: Invalid value: "example": must be a fully qualified domain and path of the form '
        "'example.com/signer-name'",
        'spec.usages[1]: Duplicate value: "client auth"',
    ]


def test_csr_for_the_legacy_signer_is_refused_by_v1() -> None:
    body = csr()
    body["spec"].update(signerName="kubernetes.io/legacy-unknown", usages=["client auth"])
    assert errors(rt_of("certificatesigningrequests", CERTS), body) == [
        'spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the legacy signerName is not allowed via '
        "this API version"
    ]


def test_csr_spec_never_changes_and_approval_goes_through_the_subresource() -> None:
    rt = rt_of("certificatesigningrequests", CERTS)
    s = strategy_for(rt)
    old = create(rt, copy.deepcopy(VALID[(CERTS, "certificatesigningrequests")]))
    set_requester(old, "alice", groups=["system:authenticated"])
    tampered = copy.deepcopy(old)
    tampered["spec"]["usages"] = ["server auth"]
    tampered["status"] = {"conditions": [{"type": "Approved", "status": "True"}]}
    s.prepare_for_update(tampered, old)
    assert tampered["spec"] == old["spec"] and tampered["status"] == {}
    via_status = copy.deepcopy(old)
    via_status["status"] = {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "Y2VydA=="}
    s.prepare_for_status_update(via_status, old)
    assert via_status["status"] == {"certificate": "Y2VydA=="}
    approved = copy.deepcopy(old)
    approved["status"] = {"conditions": [{"type": "Approved", "reason": "OK"}], "certificate": "Y2VydA=="}
    s.default(approved)
    s.prepare_for_subresource_update("approval", approved, old)
    assert approved["status"] == {"conditions": [{"type": "Approved", "reason": "OK", "status": "True"}]}
    assert s.validate_subresource_update("approval", approved, old) == []
    both = copy.deepcopy(approved)
    both["status"]["conditions"].append({"type": "Denied", "status": "True"})
    assert [str(e) for e in s.validate_subresource_update("approval", both, old)][-1].endswith(
        "Approved and Denied conditions are mutually exclusive"
    )


# --------------------------------------------------------------------------- coordination, policy, CRDs


def test_lease_transitions_may_not_be_negative() -> None:
    obj = {"metadata": {"name": "l", "namespace": "default"}, "spec": {"leaseTransitions": -1}}
    assert errors(rt_of("leases", "coordination.k8s.io"), obj) == [
        "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_pdb_percentages() -> None:
    obj = {"metadata": {"name": "p", "namespace": "default"}, "spec": {"maxUnavailable": "120%"}}
    rt = rt_of("poddisruptionbudgets", "policy")
    assert errors(rt, obj) == ['spec.maxUnavailable: Invalid value: "120%": must not be greater than 100%']
    ok = create(rt, copy.deepcopy(VALID[("policy", "poddisruptionbudgets")]))
    assert ok["status"] == {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0}


def test_crd_defaults_and_stored_versions() -> None:
    rt = rt_of("customresourcedefinitions", "apiextensions.k8s.io")
    obj = create(rt, copy.deepcopy(VALID[("apiextensions.k8s.io", "customresourcedefinitions")]))
    names = obj["spec"]["names"]
    assert (names["singular"], names["listKind"]) == ("widget", "WidgetList")
    assert obj["spec"]["conversion"] == {"strategy": "None"}
    assert obj["status"] == {"acceptedNames": {"kind": "", "plural": ""}, "storedVersions": ["v1"]}
    new = copy.deepcopy(obj)
    new["spec"]["versions"][0]["storage"] = False
    new["spec"]["versions"].append(
        {"name": "v2", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}
    )
    assert update(rt, obj, new) == []
    assert new["status"]["storedVersions"] == ["v1", "v2"]
    assert new["metadata"]["generation"] == 2


def test_crd_group_and_schema_rules() -> None:
    rt = rt_of("customresourcedefinitions", "apiextensions.k8s.io")
    obj = {
        "metadata": {"name": "widgets.example"},
        "spec": {
            "group": "example",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    assert errors(rt, obj) == [
        'spec.group: Invalid value: "example": should be a domain with at least one dot',
        "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required",
    ]
