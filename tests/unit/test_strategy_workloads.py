"""Deployments, ReplicaSets, StatefulSets, DaemonSets, ReplicationControllers: defaults, selector
rules, generation, immutability and the autoscaling/v1 Scale view."""

from __future__ import annotations

import copy
from typing import Any

from kubeprov.apiserver.resources.builtin import builtin_resources
from kubeprov.apiserver.strategy import strategy_for

RT = {rt.resource: rt for rt in builtin_resources() if rt.stored}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}


def workload(resource: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    rt = RT[resource]
    body = {"selector": {"matchLabels": {"app": "web"}}, "template": copy.deepcopy(TEMPLATE)}
    if resource == "replicationcontrollers":
        body = {"template": copy.deepcopy(TEMPLATE)}
    return {
        "apiVersion": rt.api_version,
        "kind": rt.kind,
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {**body, **(spec or {})},
    }


def create(resource: str, obj: dict[str, Any]) -> dict[str, Any]:
    s = strategy_for(RT[resource])
    s.default(obj)
    s.prepare_for_create(obj)
    return obj


def errors(resource: str, obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in strategy_for(RT[resource]).validate(create(resource, obj))]


def update(resource: str, old: dict[str, Any], change: Any) -> tuple[dict[str, Any], list[str]]:
    s = strategy_for(RT[resource])
    new = copy.deepcopy(old)
    change(new)
    s.default(new)
    s.prepare_for_update(new, old)
    return new, [str(e) for e in s.validate_update(new, old)]


def test_a_deployment_with_only_selector_and_template_gets_the_kubernetes_defaults() -> None:
    obj = create("deployments", workload("deployments"))
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["template"]["metadata"] == {"creationTimestamp": None, "labels": {"app": "web"}}
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert obj["status"] == {}
    assert obj["metadata"]["generation"] == 1


def test_recreate_strategy_gets_no_rolling_update_defaults() -> None:
    obj = create("deployments", workload("deployments", {"strategy": {"type": "Recreate"}}))
    assert obj["spec"]["strategy"] == {"type": "Recreate"}


def test_deployment_selector_must_match_the_template_labels() -> None:
    msgs = errors("deployments", workload("deployments", {"selector": {"matchLabels": {"app": "other"}}}))
    assert msgs == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match '
        "template `labels`"
    ]


def test_a_deployment_without_selector_reports_both_errors() -> None:
    obj = workload("deployments")
    del obj["spec"]["selector"]
    assert errors("deployments", obj) == [
        "spec.selector: Required value",
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match '
        "template `labels`",
    ]


def test_empty_selector_and_surge_rules() -> None:
    msgs = errors(
        "deployments",
        workload(
            "deployments",
            {
                "selector": {},
                "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
                "minReadySeconds": -1,
            },
        ),
    )
    assert (
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
    ) in msgs
    assert "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0" in msgs
    assert "spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0" in msgs


def test_bad_percentages_and_progress_deadline() -> None:
    msgs = errors(
        "deployments",
        workload(
            "deployments",
            {"strategy": {"rollingUpdate": {"maxUnavailable": "110%", "maxSurge": "x"}}, "minReadySeconds": 700},
        ),
    )
    assert 'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "110%": must not be greater than 100%' in msgs
    assert (
        'spec.strategy.rollingUpdate.maxSurge: Invalid value: "x": a valid percent string must be a numeric '
        "string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
    ) in msgs
    assert "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds" in msgs


def test_template_restart_policy_must_be_always() -> None:
    obj = workload("deployments")
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert errors("deployments", obj) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'
    ]


def test_deployment_selector_is_immutable() -> None:
    old = create("deployments", workload("deployments"))

    def change(new: dict[str, Any]) -> None:
        new["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
        new["spec"]["template"]["metadata"]["labels"]["tier"] = "x"

    _, msgs = update("deployments", old, change)
    assert msgs == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"x"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    ]


def test_generation_moves_with_spec_and_annotations_but_not_status() -> None:
    old = create("deployments", workload("deployments"))
    same, _ = update("deployments", old, lambda n: n.__setitem__("status", {"replicas": 3}))
    assert same["metadata"]["generation"] == 1
    assert same["status"] == {}
    scaled, _ = update("deployments", old, lambda n: n["spec"].__setitem__("replicas", 3))
    assert scaled["metadata"]["generation"] == 2
    annotated, _ = update("deployments", old, lambda n: n["metadata"].__setitem__("annotations", {"a": "b"}))
    assert annotated["metadata"]["generation"] == 2


def test_scale_view_and_scaling() -> None:
    s = strategy_for(RT["deployments"])
    obj = create("deployments", workload("deployments", {"replicas": 2}))
    obj["metadata"]["uid"] = "u1"
    obj["status"] = {"replicas": 2}
    assert s.to_scale(obj) == {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {"replicas": 2},
        "status": {"replicas": 2, "selector": "app=web"},
    }
    assert s.apply_scale(obj, {"spec": {"replicas": 5}}) == []
    assert obj["spec"]["replicas"] == 5
    assert [str(e) for e in s.apply_scale(obj, {"spec": {"replicas": -1}})] == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_replica_set_defaults_and_status() -> None:
    obj = create("replicasets", workload("replicasets"))
    assert obj["spec"]["replicas"] == 1
    assert obj["status"] == {"replicas": 0}


def test_replica_set_status_counters_may_not_exceed_replicas() -> None:
    s = strategy_for(RT["replicasets"])
    old = create("replicasets", workload("replicasets"))
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 1, "readyReplicas": 2}
    s.prepare_for_status_update(new, old)
    assert [str(e) for e in s.validate_status_update(new, old)] == [
        "status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas"
    ]


def test_statefulset_defaults() -> None:
    obj = create(
        "statefulsets",
        workload(
            "statefulsets",
            {
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                    }
                ]
            },
        ),
    )
    spec = obj["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["revisionHistoryLimit"] == 10
    claim = spec["volumeClaimTemplates"][0]
    assert claim["apiVersion"] == "v1" and claim["kind"] == "PersistentVolumeClaim"
    assert claim["spec"]["volumeMode"] == "Filesystem"
    assert claim["status"] == {"phase": "Pending"}
    assert obj["status"] == {"replicas": 0, "availableReplicas": 0}


def test_statefulset_forbidden_updates() -> None:
    old = create("statefulsets", workload("statefulsets", {"serviceName": "db"}))
    _, ok = update("statefulsets", old, lambda n: n["spec"].update(replicas=3, minReadySeconds=5))
    assert ok == []
    _, msgs = update("statefulsets", old, lambda n: n["spec"].__setitem__("serviceName", "other"))
    assert msgs == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
    ]


def test_daemonset_defaults_and_template_generation() -> None:
    obj = create("daemonsets", workload("daemonsets"))
    assert obj["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert obj["metadata"]["annotations"] == {"deprecated.daemonset.template.generation": "1"}
    assert obj["status"]["desiredNumberScheduled"] == 0
    changed, msgs = update(
        "daemonsets", obj, lambda n: n["spec"]["template"]["spec"]["containers"][0].update(image="b")
    )
    assert msgs == []
    assert changed["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"


def test_daemonset_rolling_update_needs_one_of_surge_or_unavailable() -> None:
    msgs = errors(
        "daemonsets",
        workload(
            "daemonsets",
            {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}},
        ),
    )
    assert msgs == ["spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"]


def test_replication_controller_selector_and_labels_default_from_the_template() -> None:
    obj = create("replicationcontrollers", workload("replicationcontrollers"))
    assert obj["spec"]["selector"] == {"app": "web"}
    assert obj["metadata"]["labels"] == {"app": "web"}
    assert obj["spec"]["replicas"] == 1
    assert strategy_for(RT["replicationcontrollers"]).to_scale(obj)["status"]["selector"] == "app=web"


def test_controller_revision_data_is_immutable() -> None:
    old = create(
        "controllerrevisions", {"metadata": {"name": "r", "namespace": "default"}, "data": {"a": 1}, "revision": 1}
    )
    _, msgs = update("controllerrevisions", old, lambda n: n.__setitem__("data", {"a": 2}))
    assert msgs == ['data: Invalid value: {"a":2}: field is immutable']
