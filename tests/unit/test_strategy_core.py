"""Core/v1 kinds other than pods and controllers: Services, Namespaces, ConfigMaps, Secrets, Nodes,
Events, volumes and claims, quotas and limit ranges."""

from __future__ import annotations

import copy
from typing import Any

from kubeprov.apiserver.resources.builtin import builtin_resources
from kubeprov.apiserver.strategy import strategy_for

RT = {rt.resource: rt for rt in builtin_resources() if rt.stored and rt.group == ""}


def create(resource: str, obj: dict[str, Any]) -> dict[str, Any]:
    s = strategy_for(RT[resource])
    s.default(obj)
    s.prepare_for_create(obj)
    return obj


def errors(resource: str, obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in strategy_for(RT[resource]).validate(create(resource, obj))]


def update(resource: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    s = strategy_for(RT[resource])
    s.default(new)
    s.prepare_for_update(new, old)
    return [str(e) for e in s.validate_update(new, old)]


def service(spec: dict[str, Any], name: str = "web") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


# --------------------------------------------------------------------------- Service


def test_service_defaults() -> None:
    obj = create("services", service({"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}))
    assert obj["spec"] == {
        "selector": {"app": "web"},
        "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}],
        "sessionAffinity": "None",
        "type": "ClusterIP",
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
    }
    assert obj["status"] == {"loadBalancer": {}}


def test_node_port_and_load_balancer_defaults() -> None:
    spec = create("services", service({"type": "LoadBalancer", "ports": [{"port": 80}]}))["spec"]
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert spec["allocateLoadBalancerNodePorts"] is True
    assert spec["ports"][0]["targetPort"] == 80


def test_client_ip_affinity_gets_a_timeout() -> None:
    spec = create("services", service({"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}))["spec"]
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_service_names_are_dns_1035_labels() -> None:
    assert errors("services", service({"ports": [{"port": 80}]}, name="1web")) == [
        'metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '
        "'-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
        "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
    ]


def test_service_port_rules() -> None:
    msgs = errors(
        "services",
        service(
            {
                "ports": [
                    {"name": "http", "port": 0, "protocol": "ICMP", "targetPort": "Bad_Name"},
                    {"name": "http", "port": 443, "nodePort": 30001},
                ]
            }
        ),
    )
    assert msgs == [
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        'spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        'spec.ports[0].targetPort: Invalid value: "Bad_Name": must contain only alpha-numeric characters (a-z, 0-9), '
        "and hyphens (-)",
        'spec.ports[1].name: Duplicate value: "http"',
        "spec.ports[1].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
    ]


def test_headless_and_external_name_services() -> None:
    headless = create("services", service({"clusterIP": "None", "selector": {"app": "db"}}))
    assert headless["spec"]["clusterIPs"] == ["None"]
    assert strategy_for(RT["services"]).validate(headless) == []
    assert errors("services", service({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]})) == [
        "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"
    ]
    external = create("services", service({"type": "ExternalName", "externalName": "db.example.com."}))
    assert "ipFamilies" not in external["spec"]
    assert strategy_for(RT["services"]).validate(external) == []
    assert errors("services", service({"type": "ExternalName"})) == ["spec.externalName: Required value"]


def test_cluster_ip_may_not_change_and_is_kept_when_omitted() -> None:
    old = create("services", service({"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}))
    omitted = service({"ports": [{"port": 80}]})
    assert update("services", old, omitted) == []
    assert omitted["spec"]["clusterIP"] == "10.96.0.10"
    changed = service({"clusterIP": "10.96.0.11", "ports": [{"port": 80}]})
    assert update("services", old, changed) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set'
    ]


def test_endpoints_ports_need_names_when_several() -> None:
    obj = {
        "metadata": {"name": "web", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}, {"port": 443}]}],
    }
    assert errors("endpoints", obj) == [
        "subsets[0].ports[0].name: Required value",
        "subsets[0].ports[1].name: Required value",
    ]
    assert create("endpoints", copy.deepcopy(obj))["subsets"][0]["ports"][0]["protocol"] == "TCP"


# --------------------------------------------------------------------------- Namespace


def test_namespace_gets_name_label_finalizer_and_active_phase() -> None:
    obj = create("namespaces", {"metadata": {"name": "team-a"}})
    assert obj["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert obj["spec"] == {"finalizers": ["kubernetes"]}
    assert obj["status"] == {"phase": "Active"}


def test_namespace_finalize_subresource_changes_only_finalizers() -> None:
    s = strategy_for(RT["namespaces"])
    old = create("namespaces", {"metadata": {"name": "team-a"}})
    new = copy.deepcopy(old)
    new["spec"]["finalizers"] = []
    new["metadata"]["labels"]["x"] = "y"
    s.prepare_for_subresource_update("finalize", new, old)
    assert new["spec"] == {"finalizers": []}
    assert s.validate_subresource_update("finalize", new, old) == []


# --------------------------------------------------------------------------- ConfigMap and Secret


def test_configmap_keys_may_not_repeat_in_binary_data() -> None:
    obj = {"metadata": {"name": "c", "namespace": "default"}, "data": {"k": "v"}, "binaryData": {"k": "dg=="}}
    assert errors("configmaps", obj) == ['data[k]: Invalid value: "k": duplicate of key present in binaryData']


def test_configmap_total_size_is_limited() -> None:
    obj = {"metadata": {"name": "c", "namespace": "default"}, "data": {"big": "x" * (1024 * 1024 + 1)}}
    assert errors("configmaps", obj) == [": Too long: may not be more than 1048576 bytes"]


def test_immutable_configmap() -> None:
    old = create(
        "configmaps", {"metadata": {"name": "c", "namespace": "default"}, "data": {"k": "v"}, "immutable": True}
    )
    new = {"metadata": {"name": "c", "namespace": "default"}, "data": {"k": "w"}}
    assert update("configmaps", old, new) == [
        "immutable: Forbidden: field is immutable when `immutable` is set",
        "data: Forbidden: field is immutable when `immutable` is set",
    ]


def test_secret_string_data_is_merged_into_data() -> None:
    obj = create(
        "secrets",
        {
            "metadata": {"name": "s", "namespace": "default"},
            "data": {"a": "YQ=="},
            "stringData": {"b": "hello", "a": "over"},
        },
    )
    assert obj == {
        "metadata": {"name": "s", "namespace": "default"},
        "type": "Opaque",
        "data": {"a": "b3Zlcg==", "b": "aGVsbG8="},
    }


def test_secret_data_must_be_base64_and_type_keys_present() -> None:
    bad = {"metadata": {"name": "s", "namespace": "default"}, "data": {"k": "not base64!"}}
    assert errors("secrets", bad) == [
        'data[k]: Invalid value: "<secret contents redacted>": illegal base64 data at input byte 3'
    ]
    docker = {
        "metadata": {"name": "s", "namespace": "default"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": "[]"},
    }
    assert errors("secrets", docker) == [
        'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": json: cannot unmarshal array into Go '
        "value of type map[string]interface {}"
    ]
    token = {"metadata": {"name": "s", "namespace": "default"}, "type": "kubernetes.io/service-account-token"}
    assert errors("secrets", token) == ["metadata.annotations[kubernetes.io/service-account.name]: Required value"]


def test_secret_type_is_immutable() -> None:
    old = create("secrets", {"metadata": {"name": "s", "namespace": "default"}})
    new = {
        "metadata": {"name": "s", "namespace": "default"},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": "u"},
    }
    assert update("secrets", old, new) == ['type: Invalid value: "kubernetes.io/basic-auth": field is immutable']


# --------------------------------------------------------------------------- Node and Event


def test_node_taints_must_be_unique_per_key_and_effect() -> None:
    taint = {"key": "gpu", "value": "yes", "effect": "NoSchedule"}
    obj = {"metadata": {"name": "n1"}, "spec": {"taints": [taint, dict(taint)]}}
    assert errors("nodes", obj) == [
        'metadata.taints[1]: Duplicate value: {"effect":"NoSchedule","key":"gpu","value":"yes"}: taints must be '
        "unique by key and effect pair"
    ]


def test_node_pod_cidr_is_set_once() -> None:
    old = create("nodes", {"metadata": {"name": "n1"}, "spec": {"podCIDRs": ["10.244.1.0/24"]}})
    new = {"metadata": {"name": "n1"}, "spec": {"podCIDRs": ["10.244.2.0/24"], "unschedulable": True}}
    assert update("nodes", old, new) == [
        'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid'
    ]
    bad = {"metadata": {"name": "n2"}, "spec": {"podCIDRs": ["10.244.1.0/33"]}}
    assert errors("nodes", bad) == [
        'spec.podCIDRs[0]: Invalid value: "10.244.1.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or '
        "2001:db8::/64)"
    ]


def test_node_allocatable_defaults_to_capacity() -> None:
    obj = create("nodes", {"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "2", "memory": "4096Mi"}}})
    assert obj["status"]["allocatable"] == {"cpu": "2", "memory": "4Gi"}


def test_new_style_events_need_reporting_fields() -> None:
    obj = {
        "metadata": {"name": "e", "namespace": "default"},
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
    }
    msgs = errors("events", obj)
    assert msgs[0] == "reportingController: Required value"
    assert 'reportingController: Invalid value: "": name part must be non-empty' in msgs
    assert msgs[-3:] == ["reportingInstance: Required value", "action: Required value", "reason: Required value"]


# --------------------------------------------------------------------------- storage


def test_persistent_volume_defaults() -> None:
    obj = create(
        "persistentvolumes",
        {
            "metadata": {"name": "pv"},
            "spec": {
                "capacity": {"storage": "1024Mi"},
                "accessModes": ["ReadWriteOnce"],
                "nfs": {"server": "nfs", "path": "/x"},
            },
        },
    )
    assert obj["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert obj["spec"]["volumeMode"] == "Filesystem"
    assert obj["spec"]["capacity"] == {"storage": "1Gi"}
    assert obj["status"]["phase"] == "Pending"


def test_persistent_volume_source_is_immutable() -> None:
    old = create(
        "persistentvolumes",
        {
            "metadata": {"name": "pv"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/a"}},
        },
    )
    new = copy.deepcopy(old)
    new["spec"]["hostPath"]["path"] = "/b"
    msgs = update("persistentvolumes", old, new)
    assert len(msgs) == 1
    assert msgs[0].startswith(
        "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation\n"
    )


def test_claim_defaults_and_access_modes() -> None:
    obj = create(
        "persistentvolumeclaims",
        {
            "metadata": {"name": "c", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
    )
    assert obj["spec"]["volumeMode"] == "Filesystem"
    assert obj["status"] == {"phase": "Pending"}
    bad = {
        "metadata": {"name": "c", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteSometimes"], "resources": {"requests": {"storage": "0"}}},
    }
    assert errors("persistentvolumeclaims", bad) == [
        'spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", '
        '"ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"',
        'spec.resources[storage]: Invalid value: "0": must be greater than zero',
    ]


def test_only_a_bound_claim_may_grow() -> None:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    old = create("persistentvolumeclaims", {"metadata": {"name": "c", "namespace": "default"}, "spec": spec})
    grown = copy.deepcopy(old)
    grown["spec"]["resources"]["requests"]["storage"] = "2Gi"
    msgs = update("persistentvolumeclaims", old, copy.deepcopy(grown))
    assert msgs[0].startswith(
        "spec: Forbidden: spec is immutable after creation except resources.requests and "
        "volumeAttributesClassName for bound claims\n"
    )
    old["status"] = {"phase": "Bound", "capacity": {"storage": "1Gi"}}
    assert update("persistentvolumeclaims", old, grown) == []


def test_resource_quota_names_and_scopes() -> None:
    obj = {
        "metadata": {"name": "q", "namespace": "default"},
        "spec": {"hard": {"widgets": "1", "pods": "1.5"}, "scopes": ["BestEffort", "NotBestEffort"]},
    }
    assert errors("resourcequotas", obj) == [
        'spec.hard[widgets]: Invalid value: "widgets": must be a standard resource type or fully qualified',
        'spec.hard[pods]: Invalid value: "1500m": must be an integer',
        'spec.scopes: Invalid value: []core.ResourceQuotaScope{"BestEffort", "NotBestEffort"}: conflicting scopes',
    ]


def test_limit_range_container_defaults() -> None:
    obj = create(
        "limitranges",
        {
            "metadata": {"name": "l", "namespace": "default"},
            "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}}]},
        },
    )
    item = obj["spec"]["limits"][0]
    assert item["default"] == {"cpu": "2"}
    assert item["defaultRequest"] == {"cpu": "2", "memory": "64Mi"}


def test_limit_range_type_must_be_standard() -> None:
    obj = {"metadata": {"name": "l", "namespace": "default"}, "spec": {"limits": [{"type": "Volume"}]}}
    assert errors("limitranges", obj) == [
        'spec.limits[0].type: Invalid value: "Volume": must be a standard limit type or fully qualified'
    ]


def test_headless_services_without_selector_are_dual_stack() -> None:
    spec = create("services", service({"clusterIP": "None"}))["spec"]
    assert (spec["ipFamilyPolicy"], spec["ipFamilies"]) == ("RequireDualStack", ["IPv4", "IPv6"])
    assert strategy_for(RT["services"]).validate(create("services", service({"clusterIP": "None"}))) == []


def test_ip_family_follows_a_requested_cluster_ip() -> None:
    spec = create("services", service({"clusterIP": "fd00::10", "ports": [{"port": 80}]}))["spec"]
    assert spec["ipFamilies"] == ["IPv6"]


def _limit_errors(item: dict) -> list[str]:
    obj = {"metadata": {"name": "l", "namespace": "default"}, "spec": {"limits": [{"type": "Container", **item}]}}
    return errors("limitranges", obj)


def test_limit_range_orderings_each_name_the_field_and_value_kubernetes_names() -> None:
    assert _limit_errors({"min": {"cpu": "3"}, "max": {"cpu": "2"}, "default": {"cpu": "4"},
                          "defaultRequest": {"cpu": "5"}}) == [
        'spec.limits[0].min[cpu]: Invalid value: "3": min value 3 is greater than max value 2',
        'spec.limits[0].defaultRequest[cpu]: Invalid value: "5": default request value 5 is greater than max value 2',
        'spec.limits[0].defaultRequest[cpu]: Invalid value: "5": default request value 5 is greater than default '
        "limit value 4",
        'spec.limits[0].default[cpu]: Invalid value: "2": default value 4 is greater than max value 2',
    ]
    assert _limit_errors({"min": {"cpu": "3"}, "default": {"cpu": "2"}, "defaultRequest": {"cpu": "1"}}) == [
        'spec.limits[0].defaultRequest[cpu]: Invalid value: "1": min value 3 is greater than default request '
        "value 1",
        'spec.limits[0].default[cpu]: Invalid value: "3": min value 3 is greater than default value 2',
    ]
