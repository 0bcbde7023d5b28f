"""Strategic merge patches, as kubectl sends them, apply as on the Kubernetes API server."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeprov.api.patch.merge_patch import apply_merge_patch
from kubeprov.api.patch.strategic import (
    StrategicMergePatchError,
    StrategicMergeUnsupported,
    strategic_merge,
    supports_strategic_merge,
)


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": {"app": "web", "tier": "fe"},
            "finalizers": ["a.io/x", "b.io/y"],
        },
        "spec": {
            "replicas": 1,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.25",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        },
                        {"name": "side", "image": "busybox"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "k1", "operator": "Exists"}],
                },
            },
        },
    }


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def names(items: list[dict], key: str = "name") -> list:
    return [i[key] for i in items]


def test_set_image_changes_the_named_container_in_place():
    # kubectl set image deployment/web web=nginx:1.26
    patch = {"spec": {"template": {"spec": {"containers": [{"image": "nginx:1.26", "name": "web"}]}}}}
    result = strategic_merge(deployment(), patch, "Deployment")
    containers = pod_spec(result)["containers"]
    assert names(containers) == ["web", "side"]
    assert containers[0]["image"] == "nginx:1.26"
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert containers[1] == {"name": "side", "image": "busybox"}


def test_apply_image_change_with_set_element_order():
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
                    "containers": [{"image": "nginx:1.26", "name": "web"}],
                }
            }
        }
    }
    result = strategic_merge(deployment(), patch, "Deployment")
    assert names(pod_spec(result)["containers"]) == ["web", "side"]
    assert pod_spec(result)["containers"][0]["image"] == "nginx:1.26"
    assert "$setElementOrder/containers" not in pod_spec(result)


def test_apply_adding_an_env_var_places_it_where_the_order_says():
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "A"}, {"name": "C"}, {"name": "B"}],
                            "env": [{"name": "C", "value": "3"}],
                            "name": "web",
                        }
                    ],
                }
            }
        }
    }
    result = strategic_merge(deployment(), patch, "Deployment")
    assert pod_spec(result)["containers"][0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "C", "value": "3"},
        {"name": "B", "value": "2"},
    ]


def test_new_list_items_without_an_order_go_first():
    # Without $setElementOrder the server puts items absent from the live list first.
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "web", "env": [{"name": "C", "value": "3"}]}]}}
        }
    }
    result = strategic_merge(deployment(), patch, "Deployment")
    assert names(pod_spec(result)["containers"][0]["env"]) == ["C", "A", "B"]


def test_changing_an_env_var_value_keeps_the_others():
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "web", "env": [{"name": "B", "value": "20"}]}]}}
        }
    }
    result = strategic_merge(deployment(), patch, "Deployment")
    assert pod_spec(result)["containers"][0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "20"},
    ]


def test_deleting_a_container_with_patch_delete():
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}],
                    "containers": [{"$patch": "delete", "name": "side"}],
                }
            }
        }
    }
    result = strategic_merge(deployment(), patch, "Deployment")
    assert names(pod_spec(result)["containers"]) == ["web"]


def test_retain_keys_on_strategy_drops_rolling_update():
    # kubectl apply switching RollingUpdate to Recreate
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"}}}
    result = strategic_merge(deployment(), patch, "Deployment")
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_on_a_volume_switches_its_source():
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/volumes": [{"name": "data"}],
                    "volumes": [
                        {"$retainKeys": ["configMap", "name"], "configMap": {"name": "cfg"}, "name": "data"}
                    ],
                }
            }
        }
    }
    result = strategic_merge(deployment(), patch, "Deployment")
    assert pod_spec(result)["volumes"] == [{"name": "data", "configMap": {"name": "cfg"}}]


def test_delete_from_primitive_list_removes_a_finalizer():
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.io/x"]}}
    result = strategic_merge(deployment(), patch, "Deployment")
    assert result["metadata"]["finalizers"] == ["b.io/y"]


def test_delete_from_primitive_list_of_a_missing_list_does_nothing():
    obj = {"metadata": {"name": "c"}}
    result = strategic_merge(obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}, "ConfigMap")
    assert result == {"metadata": {"name": "c"}}


def test_finalizers_merge_as_a_set():
    result = strategic_merge(deployment(), {"metadata": {"finalizers": ["c.io/z", "a.io/x"]}}, "Deployment")
    assert result["metadata"]["finalizers"] == ["c.io/z", "a.io/x", "b.io/y"]


def test_finalizers_with_set_element_order():
    patch = {
        "metadata": {"$setElementOrder/finalizers": ["a.io/x", "b.io/y", "c.io/z"], "finalizers": ["c.io/z"]}
    }
    result = strategic_merge(deployment(), patch, "Deployment")
    assert result["metadata"]["finalizers"] == ["a.io/x", "b.io/y", "c.io/z"]


def test_null_deletes_a_key():
    result = strategic_merge(deployment(), {"metadata": {"labels": {"tier": None}}}, "Deployment")
    assert result["metadata"]["labels"] == {"app": "web"}


def test_patch_replace_in_a_map_replaces_it_whole():
    patch = {"metadata": {"labels": {"$patch": "replace", "new": "x"}}}
    assert strategic_merge(deployment(), patch, "Deployment")["metadata"]["labels"] == {"new": "x"}


def test_patch_delete_in_a_map_empties_it():
    result = strategic_merge(deployment(), {"metadata": {"labels": {"$patch": "delete"}}}, "Deployment")
    assert result["metadata"]["labels"] == {}


def test_patch_replace_in_a_list_replaces_the_whole_list():
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]}}
        }
    }
    result = strategic_merge(deployment(), patch, "Deployment")
    assert pod_spec(result)["containers"] == [{"name": "only", "image": "x"}]


def test_top_level_replace_returns_the_patch():
    result = strategic_merge({"data": {"a": "1"}}, {"$patch": "replace", "data": {"b": "2"}}, "ConfigMap")
    assert result == {"data": {"b": "2"}}


def test_lists_without_a_strategy_are_replaced():
    patch = {"spec": {"template": {"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}}}}
    result = strategic_merge(deployment(), patch, "Deployment")
    assert pod_spec(result)["tolerations"] == [{"key": "k2", "operator": "Exists"}]


def test_node_taints_are_replaced_and_pod_cidrs_merged():
    node = {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}], "podCIDRs": ["10.0.0.0/24"]}}
    patch = {"spec": {"taints": [{"key": "b", "effect": "NoExecute"}], "podCIDRs": ["fd00::/64"]}}
    result = strategic_merge(node, patch, "Node")
    assert result["spec"]["taints"] == [{"key": "b", "effect": "NoExecute"}]
    assert result["spec"]["podCIDRs"] == ["fd00::/64", "10.0.0.0/24"]


def test_service_ports_merge_on_port():
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]}}
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    result = strategic_merge(svc, patch, "Service")
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443, "targetPort": 8443}]


def test_container_ports_merge_on_container_port():
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "web", "ports": [{"containerPort": 80, "name": "http"}]}]}
            }
        }
    }
    result = strategic_merge(deployment(), patch, "Deployment")
    assert pod_spec(result)["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP", "name": "http"}
    ]


def test_owner_references_merge_on_uid():
    obj = {"metadata": {"ownerReferences": [{"uid": "1", "name": "a", "kind": "ReplicaSet"}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "1", "controller": True}, {"uid": "2", "name": "b"}]}}
    result = strategic_merge(obj, patch, "Pod")
    assert result["metadata"]["ownerReferences"] == [
        {"uid": "1", "name": "a", "kind": "ReplicaSet", "controller": True},
        {"uid": "2", "name": "b"},
    ]


def test_pod_status_conditions_merge_on_type():
    pod = {
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]
        }
    }
    patch = {
        "status": {
            "$setElementOrder/conditions": [{"type": "Ready"}, {"type": "PodScheduled"}],
            "conditions": [{"type": "Ready", "status": "True"}],
        }
    }
    result = strategic_merge(pod, patch, "Pod")
    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "PodScheduled", "status": "True"},
    ]


def test_other_merge_keys():
    spec = {
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}],
        "imagePullSecrets": [{"name": "r1"}],
        "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1}],
    }
    patch = {
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}],
        "imagePullSecrets": [{"name": "r2"}],
        "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}],
    }
    result = strategic_merge({"spec": spec}, {"spec": patch}, "Pod")["spec"]
    assert result["hostAliases"] == [{"ip": "10.0.0.1", "hostnames": ["b"]}]
    assert result["imagePullSecrets"] == [{"name": "r2"}, {"name": "r1"}]
    assert result["topologySpreadConstraints"] == [{"topologyKey": "zone", "maxSkew": 2}]


def test_cronjob_reaches_the_pod_spec_through_the_job_template():
    cron = {
        "spec": {
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "a"}]}}}}
        }
    }
    patch = {
        "spec": {
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "b"}]}}}}
        }
    }
    result = strategic_merge(cron, patch, "CronJob", "batch")
    assert result["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"] == [
        {"name": "c", "image": "b"}
    ]


def test_new_subtrees_are_cleaned_of_nulls_and_directives():
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "new", "image": "x", "args": None, "$setElementOrder/env": []}],
                    "nodeSelector": {"disk": "ssd", "zone": None},
                }
            }
        }
    }
    result = strategic_merge(deployment(), patch, "Deployment")
    assert pod_spec(result)["containers"][0] == {"name": "new", "image": "x"}
    assert pod_spec(result)["nodeSelector"] == {"disk": "ssd"}


def test_inputs_are_not_modified():
    original = deployment()
    patch = {"spec": {"template": {"spec": {"containers": [{"$patch": "delete", "name": "side"}]}}}}
    saved_original, saved_patch = copy.deepcopy(original), copy.deepcopy(patch)
    strategic_merge(original, patch, "Deployment")
    assert original == saved_original
    assert patch == saved_patch


def test_custom_resources_do_not_support_strategic_merge():
    assert not supports_strategic_merge("Widget")
    assert not supports_strategic_merge("Deployment", "example.com")
    assert supports_strategic_merge("Deployment", "apps")
    assert supports_strategic_merge("ConfigMap")
    with pytest.raises(StrategicMergeUnsupported) as info:
        strategic_merge({}, {}, "Widget")
    assert info.value.code == 415
    assert info.value.to_status()["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )
    assert info.value.to_status()["reason"] == "UnsupportedMediaType"


def test_missing_merge_key_is_an_error():
    patch = {"spec": {"template": {"spec": {"containers": [{"image": "nginx"}]}}}}
    with pytest.raises(StrategicMergePatchError) as info:
        strategic_merge(deployment(), patch, "Deployment")
    assert str(info.value) == "map: map[image:nginx] does not contain declared merge key: name"
    assert info.value.code == 500


@pytest.mark.parametrize(
    ("patch", "message", "code"),
    [
        (
            {"spec": {"template": {"spec": {"containers": [{"$patch": "merge", "name": "x"}]}}}},
            "merging lists cannot yet be specified in the patch",
            500,
        ),
        (
            {"metadata": {"labels": {"$patch": "frob"}}},
            "unknown patch type: frob in map: map[$patch:frob]",
            500,
        ),
        ({"spec": {"strategy": {"$retainKeys": "type"}}}, "invalid patch format of retainKeys", 400),
        (
            {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}},
            "invalid patch format of retainKeys",
            400,
        ),
        ({"metadata": {"$deleteFromPrimitiveList": ["x"]}}, "invalid patch format of primitive list", 400),
        (
            {"metadata": {"$setElementOrderfinalizers": ["x"]}},
            "invalid patch format of setElementOrder list",
            400,
        ),
        (
            {"metadata": {"$setElementOrder/finalizers": ["b.io/y"], "finalizers": ["c.io/z"]}},
            "The order in patch list:\n[c.io/z]\n doesn't match $setElementOrder list:\n[b.io/y]\n",
            500,
        ),
        (
            {"metadata": {"finalizers": [["x"]]}},
            "list element types are not identical: [[a.io/x b.io/y] [[x]]]",
            500,
        ),
    ],
)
def test_bad_patches(patch, message, code):
    with pytest.raises(StrategicMergePatchError) as info:
        strategic_merge(deployment(), patch, "Deployment")
    assert str(info.value) == message
    assert info.value.code == code


def test_lists_of_lists_are_not_supported():
    with pytest.raises(StrategicMergePatchError) as info:
        strategic_merge({"metadata": {"finalizers": []}}, {"metadata": {"finalizers": [["x"]]}}, "ConfigMap")
    assert str(info.value) == "lists of lists are not supported"
    assert info.value.code == 422


def test_error_statuses():
    bad = StrategicMergePatchError("invalid patch format of retainKeys", 400).to_status()
    assert (bad["code"], bad["reason"], bad["message"]) == (
        400,
        "BadRequest",
        "invalid patch format of retainKeys",
    )
    unprocessable = StrategicMergePatchError("lists of lists are not supported", 422).to_status()
    assert (unprocessable["code"], unprocessable["reason"]) == (422, "Invalid")
    internal = StrategicMergePatchError("boom").to_status()
    assert (internal["code"], internal["message"]) == (500, "boom")
    assert "reason" not in internal


def test_patch_must_be_an_object():
    with pytest.raises(StrategicMergePatchError) as info:
        strategic_merge({}, [1], "ConfigMap")
    assert str(info.value) == "json: cannot unmarshal array into Go value of type map[string]interface {}"
    assert info.value.code == 400


# Without list strategies or directives, a strategic merge patch is a JSON merge patch.
_keys = st.text(alphabet="abcxyz", min_size=1, max_size=3)
_scalars = st.one_of(st.booleans(), st.integers(-3, 3), st.text(alphabet="pq", max_size=2))
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(_keys, children, max_size=3)),
    max_leaves=10,
)
_objects = st.dictionaries(_keys, _values, max_size=4)
_patches = st.dictionaries(_keys, st.one_of(st.none(), _values), max_size=4)


@given(_objects, _patches)
def test_without_strategies_it_matches_json_merge_patch(original, patch):
    assert strategic_merge(original, patch, "ConfigMap") == apply_merge_patch(original, patch)


@given(
    st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4),
    st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), unique=True, max_size=4),
)
def test_patching_containers_by_name_keeps_every_container_once(live, patched):
    original = {"spec": {"containers": [{"name": n, "image": "old"} for n in live]}}
    patch = {"spec": {"containers": [{"name": n, "image": "new"} for n in patched]}}
    result = strategic_merge(original, patch, "Pod")["spec"]["containers"]
    assert sorted(names(result)) == sorted(set(live) | set(patched))
    assert all(c["image"] == ("new" if c["name"] in patched else "old") for c in result)
