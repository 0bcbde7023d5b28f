"""Server-side apply merges, prunes, detects conflicts and records ownership as Kubernetes does."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from kubeprov.api.status import StatusError
from kubeprov.apiserver.apply import ApplyConflict, FieldManager, SchemaStore

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
T1 = datetime(2024, 5, 1, 11, 0, 0, tzinfo=UTC)
DEPLOY = {"api_version": "apps/v1", "kind": "Deployment", "group": "apps"}


@pytest.fixture(scope="module")
def fm() -> FieldManager:
    return FieldManager(SchemaStore())


def config(**spec_overrides: object) -> dict:
    container = {"name": "nginx", "image": "nginx:1.25", "args": ["-g", "daemon off;"],
                 "ports": [{"containerPort": 80}]}
    spec = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}},
    }
    spec.update(spec_overrides)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": spec}


def apply(fm: FieldManager, live: dict | None, cfg: dict, manager: str = "ci", *, force: bool = False,
          now: datetime = T0) -> dict:
    return fm.apply(live=live, applied=copy.deepcopy(cfg), manager=manager, force=force, now=now, **DEPLOY)


def containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def owners(obj: dict) -> dict[str, dict]:
    return {e["manager"]: e for e in obj["metadata"]["managedFields"]}


# ----------------------------------------------------------------------------- create and re-apply


def test_apply_creates_the_object_and_records_the_applied_fields(fm):
    obj = apply(fm, None, config())
    assert obj["spec"]["replicas"] == 2
    assert obj["metadata"]["managedFields"] == [{
        "manager": "ci",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": "2024-05-01T10:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"nginx"}': {
                    ".": {},
                    "f:args": {},
                    "f:image": {},
                    "f:name": {},
                    "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                }}},
            },
        }},
    }]


def test_reapplying_the_same_configuration_changes_nothing(fm):
    obj = apply(fm, None, config())
    again = apply(fm, obj, config(), now=T1)
    assert again == obj


def test_reapplying_keeps_fields_nobody_owns(fm):
    obj = apply(fm, None, config())
    obj["spec"]["progressDeadlineSeconds"] = 600  # set by defaulting: owned by nobody
    again = apply(fm, obj, config(replicas=3), now=T1)
    assert again["spec"]["progressDeadlineSeconds"] == 600
    assert again["spec"]["replicas"] == 3
    assert owners(again)["ci"]["time"] == "2024-05-01T11:00:00Z"


def test_a_field_no_longer_applied_is_removed(fm):
    obj = apply(fm, None, config())
    cfg = config()
    del containers(cfg)[0]["args"]
    after = apply(fm, obj, cfg, now=T1)
    assert "args" not in containers(after)[0]
    assert "f:args" not in json.dumps(after["metadata"]["managedFields"])


def test_a_list_item_no_longer_applied_is_removed(fm):
    cfg = config()
    containers(cfg).append({"name": "sidecar", "image": "busybox"})
    obj = apply(fm, None, cfg)
    after = apply(fm, obj, config(), now=T1)
    assert [c["name"] for c in containers(after)] == ["nginx"]


def test_a_field_still_applied_by_another_manager_is_kept(fm):
    obj = apply(fm, None, config())
    obj = apply(fm, obj, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                          "spec": {"replicas": 2}}, manager="scaler")
    cfg = config()
    del cfg["spec"]["replicas"]
    after = apply(fm, obj, cfg, now=T1)
    assert after["spec"]["replicas"] == 2
    assert owners(after)["scaler"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owners(after)["ci"]["fieldsV1"]["f:spec"]


def test_a_field_taken_over_by_an_update_is_kept(fm):
    obj = apply(fm, None, config())
    edited = copy.deepcopy(obj)
    containers(edited)[0]["image"] = "nginx:edited"
    obj = fm.update(live=obj, new=edited, manager="kubectl-edit", now=T1, **DEPLOY)
    cfg = config()
    del containers(cfg)[0]["image"]
    after = apply(fm, obj, cfg, now=T1)
    assert containers(after)[0]["image"] == "nginx:edited"


# ----------------------------------------------------------------------------- conflicts


def _owned_by_client_side_apply(fm: FieldManager) -> dict:
    live = apply(fm, None, config())
    live["metadata"]["managedFields"] = []
    return fm.update(live=None, new=live, manager="kubectl-client-side-apply", now=T0, **DEPLOY)


def test_changing_a_field_another_manager_owns_is_a_conflict(fm):
    live = _owned_by_client_side_apply(fm)
    with pytest.raises(ApplyConflict) as caught:
        apply(fm, live, config(replicas=5), manager="ci")
    err = caught.value
    assert err.to_status("deployments.apps", "web") == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: '
                   ".spec.replicas",
        "reason": "Conflict",
        "details": {"causes": [{
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
            "field": ".spec.replicas",
        }]},
        "code": 409,
    }
    assert err.code == 409
    assert [c.field_path for c in err.conflicts] == [".spec.replicas"]


def test_fields_set_before_tracking_belong_to_before_first_apply(fm):
    live = apply(fm, None, config())
    del live["metadata"]["managedFields"]
    with pytest.raises(ApplyConflict) as caught:
        apply(fm, live, config(replicas=4), manager="ci", now=T1)
    assert caught.value.message == (
        'Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas')
    after = apply(fm, live, config(), manager="ci", now=T1)
    assert set(owners(after)) == {"before-first-apply", "ci"}


def test_several_conflicts_are_listed_per_manager(fm):
    live = _owned_by_client_side_apply(fm)
    cfg = config(replicas=5)
    containers(cfg)[0]["image"] = "nginx:2"
    with pytest.raises(ApplyConflict) as caught:
        apply(fm, live, cfg, manager="ci")
    assert caught.value.message == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="nginx"].image'
    )


def test_conflicts_with_appliers_name_no_version(fm):
    live = apply(fm, None, config(), manager="team-a")
    with pytest.raises(ApplyConflict) as caught:
        apply(fm, live, config(replicas=9), manager="team-b")
    assert caught.value.message == 'Apply failed with 1 conflict: conflict with "team-a": .spec.replicas'


def test_force_takes_ownership_from_the_other_manager(fm):
    live = _owned_by_client_side_apply(fm)
    after = apply(fm, live, config(replicas=5), manager="ci", force=True, now=T1)
    assert after["spec"]["replicas"] == 5
    assert "f:replicas" in owners(after)["ci"]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in owners(after)["kubectl-client-side-apply"]["fieldsV1"]["f:spec"]


def test_applying_the_same_value_shares_ownership(fm):
    live = _owned_by_client_side_apply(fm)
    after = apply(fm, live, config(), manager="ci", now=T1)
    assert "f:replicas" in owners(after)["ci"]["fieldsV1"]["f:spec"]
    assert "f:replicas" in owners(after)["kubectl-client-side-apply"]["fieldsV1"]["f:spec"]


def test_kubectl_may_take_over_what_client_side_apply_last_applied(fm):
    live = apply(fm, None, config())
    live["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(config()) + "\n"}
    live["metadata"]["managedFields"] = []
    live = fm.update(live=None, new=live, manager="kubectl-client-side-apply", now=T0, **DEPLOY)
    after = apply(fm, live, config(replicas=4), manager="kubectl", now=T1)
    assert after["spec"]["replicas"] == 4
    annotation = after["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert json.loads(annotation)["spec"]["replicas"] == 4
    assert annotation.endswith("}\n")


# ----------------------------------------------------------------------------- list semantics


def test_keyed_list_items_merge_field_by_field(fm):
    live = apply(fm, None, config(), manager="a")
    extra = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
             "spec": {"template": {"spec": {"containers": [
                 {"name": "nginx", "env": [{"name": "MODE", "value": "x"}]},
                 {"name": "sidecar", "image": "busybox"},
             ]}}}}
    after = apply(fm, live, extra, manager="b")
    nginx, sidecar = containers(after)
    assert nginx["image"] == "nginx:1.25" and nginx["env"] == [{"name": "MODE", "value": "x"}]
    assert sidecar == {"name": "sidecar", "image": "busybox"}


def test_atomic_lists_are_replaced_whole(fm):
    live = apply(fm, None, config())
    cfg = config()
    containers(cfg)[0]["args"] = ["--new"]
    assert containers(apply(fm, live, cfg))[0]["args"] == ["--new"]


def test_set_lists_are_unions_of_what_each_manager_applies(fm):
    cm = {"api_version": "v1", "kind": "ConfigMap", "group": ""}

    def applied(finalizers: list[str]) -> dict:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": finalizers}}

    live = fm.apply(live=None, applied=applied(["a.io/x"]), manager="a", force=False, now=T0, **cm)
    after = fm.apply(live=live, applied=applied(["b.io/y"]), manager="b", force=False, now=T0, **cm)
    assert after["metadata"]["finalizers"] == ["a.io/x", "b.io/y"]
    assert owners(after)["b"]["fieldsV1"] == {"f:metadata": {"f:finalizers": {'v:"b.io/y"': {}}}}


def test_ports_are_keyed_by_port_and_protocol(fm):
    cfg = config()
    containers(cfg)[0]["ports"] = [{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53}]
    obj = apply(fm, None, cfg)
    assert len(containers(obj)[0]["ports"]) == 2
    ports = owners(obj)["ci"]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"][
        'k:{"name":"nginx"}']["f:ports"]
    assert list(ports) == ['k:{"containerPort":53,"protocol":"TCP"}', 'k:{"containerPort":53,"protocol":"UDP"}']


# ----------------------------------------------------------------------------- rejected configurations


def test_managed_fields_in_an_apply_configuration_are_rejected(fm):
    cfg = config()
    cfg["metadata"]["managedFields"] = [{"manager": "x"}]
    with pytest.raises(StatusError) as caught:
        apply(fm, None, cfg)
    assert (caught.value.code, caught.value.message) == (400, "metadata.managedFields must be nil")


def test_configuration_of_another_kind_is_rejected(fm):
    cfg = config()
    cfg["kind"] = "StatefulSet"
    with pytest.raises(StatusError) as caught:
        apply(fm, None, cfg)
    assert caught.value.message == "invalid object type: apps/v1, Kind=StatefulSet"
    del cfg["apiVersion"], cfg["kind"]
    with pytest.raises(StatusError) as caught:
        apply(fm, None, cfg)
    assert caught.value.message == "invalid object type: /, Kind="


def test_creating_without_a_name_is_rejected(fm):
    cfg = config()
    del cfg["metadata"]["name"]
    with pytest.raises(StatusError) as caught:
        fm.apply(live=None, applied=cfg, manager="ci", force=False, name="web", **DEPLOY)
    assert caught.value.message == "the name of the object (web based on URL) was undeterminable: name must be provided"


def test_unknown_fields_fail_the_typed_conversion(fm):
    cfg = config()
    cfg["spec"]["replicass"] = 3
    with pytest.raises(StatusError) as caught:
        apply(fm, None, cfg)
    assert caught.value.code == 500
    assert caught.value.message == (
        "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "
        ".spec.replicass: field not declared in schema"
    )


def test_keyed_items_missing_their_key_are_rejected(fm):
    cfg = config()
    del containers(cfg)[0]["name"]
    with pytest.raises(StatusError) as caught:
        apply(fm, None, cfg)
    assert caught.value.message.endswith(
        '.spec.template.spec.containers: element 0: associative list with keys has an element that omits key '
        'field "name" (and doesn\'t have default value)'
    )
