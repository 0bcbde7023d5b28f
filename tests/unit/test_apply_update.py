"""Every write records field ownership in metadata.managedFields as Kubernetes does."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from kubeprov.apiserver.apply import FieldManager, SchemaStore

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
T1 = datetime(2024, 5, 1, 11, 0, 0, tzinfo=UTC)
DEPLOY = {"api_version": "apps/v1", "kind": "Deployment", "group": "apps"}


@pytest.fixture(scope="module")
def fm() -> FieldManager:
    return FieldManager(SchemaStore())


def deployment() -> dict:
    """A Deployment as `kubectl create deployment nginx --image=nginx` stores it (defaulted)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "nginx",
            "namespace": "default",
            "uid": "0b6e",
            "resourceVersion": "100",
            "generation": 1,
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": {"app": "nginx"},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx",
                            "resources": {},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "imagePullPolicy": "Always",
                        }
                    ],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "securityContext": {},
                    "schedulerName": "default-scheduler",
                },
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {},
    }


# What a real API server records for that create.
KUBECTL_CREATE_FIELDS = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {
        "f:progressDeadlineSeconds": {},
        "f:replicas": {},
        "f:revisionHistoryLimit": {},
        "f:selector": {},
        "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
        "f:template": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"nginx"}': {
                        ".": {},
                        "f:image": {},
                        "f:imagePullPolicy": {},
                        "f:name": {},
                        "f:resources": {},
                        "f:terminationMessagePath": {},
                        "f:terminationMessagePolicy": {},
                    }
                },
                "f:dnsPolicy": {},
                "f:restartPolicy": {},
                "f:schedulerName": {},
                "f:securityContext": {},
                "f:terminationGracePeriodSeconds": {},
            },
        },
    },
}


def created(fm: FieldManager) -> dict:
    return fm.update(live=None, new=deployment(), manager="kubectl-create", now=T0, **DEPLOY)


def entries(obj: dict) -> dict[str, dict]:
    return {e["manager"] + ("/" + e["subresource"] if e.get("subresource") else ""): e
            for e in obj["metadata"]["managedFields"]}


def test_create_records_every_field_set_as_kubernetes_encodes_it(fm):
    obj = created(fm)
    assert obj["metadata"]["managedFields"] == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": "2024-05-01T10:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": KUBECTL_CREATE_FIELDS,
        }
    ]


def test_fields_v1_keys_come_in_kubernetes_order(fm):
    spec = created(fm)["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
    assert list(spec) == list(KUBECTL_CREATE_FIELDS["f:spec"])
    container = spec["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    assert list(container)[:2] == [".", "f:image"]


def test_update_does_not_modify_its_arguments(fm):
    new = deployment()
    fm.update(live=None, new=new, manager="kubectl-create", now=T0, **DEPLOY)
    assert new == deployment()


def test_second_manager_changing_replicas_takes_it_over(fm):
    live = created(fm)
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 3
    out = fm.update(live=live, new=new, manager="kubectl-scale", now=T1, **DEPLOY)
    by = entries(out)
    assert by["kubectl-scale"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert by["kubectl-scale"]["time"] == "2024-05-01T11:00:00Z"
    assert "f:replicas" not in by["kubectl-create"]["fieldsV1"]["f:spec"]
    assert by["kubectl-create"]["time"] == "2024-05-01T10:00:00Z"
    assert [e["manager"] for e in out["metadata"]["managedFields"]] == ["kubectl-create", "kubectl-scale"]


def test_added_list_item_is_owned_with_its_fields(fm):
    live = created(fm)
    new = copy.deepcopy(live)
    new["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    out = fm.update(live=live, new=new, manager="kubectl-edit", now=T1, **DEPLOY)
    assert entries(out)["kubectl-edit"]["fieldsV1"] == {
        "f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"nginx"}': {
            "f:env": {".": {}, 'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}}
        }}}}}
    }


def _cm_update(fm: FieldManager, live: dict | None, data: dict, manager: str, now: datetime) -> dict:
    new = copy.deepcopy(live) if live else {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    new["data"] = data
    return fm.update(live=live, new=new, manager=manager, api_version="v1", kind="ConfigMap", group="", now=now)


def test_removed_fields_leave_their_owner_and_empty_entries_vanish(fm):
    obj = _cm_update(fm, None, {"a": "1"}, "creator", T0)
    obj = _cm_update(fm, obj, {"a": "1", "b": "2"}, "second", T0)
    assert entries(obj)["second"]["fieldsV1"] == {"f:data": {"f:b": {}}}
    out = _cm_update(fm, obj, {"c": "3"}, "editor", T1)
    by = entries(out)
    assert set(by) == {"creator", "editor"}
    # the creator keeps the map it added, as in Kubernetes, but not the removed key
    assert by["creator"]["fieldsV1"] == {"f:data": {}}
    assert by["editor"]["fieldsV1"] == {"f:data": {"f:c": {}}}


def test_a_write_that_changes_nothing_leaves_managed_fields_alone(fm):
    live = created(fm)
    new = copy.deepcopy(live)
    new["metadata"]["resourceVersion"] = "101"
    out = fm.update(live=live, new=new, manager="kubectl-replace", now=T1, **DEPLOY)
    assert out["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_same_manager_writing_again_keeps_one_entry_with_a_new_time(fm):
    live = created(fm)
    new = copy.deepcopy(live)
    new["metadata"]["labels"]["tier"] = "web"
    out = fm.update(live=live, new=new, manager="kubectl-create", now=T1, **DEPLOY)
    (entry,) = out["metadata"]["managedFields"]
    assert entry["time"] == "2024-05-01T11:00:00Z"
    assert entry["fieldsV1"]["f:metadata"] == {"f:labels": {".": {}, "f:app": {}, "f:tier": {}}}


def test_status_writes_own_status_and_annotations_but_never_spec(fm):
    live = created(fm)
    new = copy.deepcopy(live)
    new["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "1"}
    new["status"] = {"observedGeneration": 1, "replicas": 1,
                     "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}
    new["spec"]["replicas"] = 7  # reset by the status strategy: never owned through /status
    out = fm.update(live=live, new=new, manager="kube-controller-manager", subresource="status", now=T1, **DEPLOY)
    entry = entries(out)["kube-controller-manager/status"]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}},
        "f:status": {
            "f:conditions": {".": {}, 'k:{"type":"Available"}': {".": {}, "f:reason": {}, "f:status": {},
                                                                  "f:type": {}}},
            "f:observedGeneration": {},
            "f:replicas": {},
        },
    }
    assert list(out["metadata"]["managedFields"][1]) == [
        "manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource"]


def test_status_is_compared_as_kubernetes_typed_objects_always_have_it(fm):
    live = created(fm)
    del live["status"]  # Go's zero value has ``status: {}``: the first status write does not own it whole
    new = copy.deepcopy(live)
    new["status"] = {"replicas": 1}
    out = fm.update(live=live, new=new, manager="kube-controller-manager", subresource="status", now=T1, **DEPLOY)
    assert entries(out)["kube-controller-manager/status"]["fieldsV1"] == {"f:status": {"f:replicas": {}}}


def test_main_resource_writes_never_own_status(fm):
    new = deployment()
    new["status"] = {"replicas": 4}
    out = fm.update(live=None, new=new, manager="kubectl-create", now=T0, **DEPLOY)
    assert "f:status" not in out["metadata"]["managedFields"][0]["fieldsV1"]


def test_server_set_metadata_is_never_owned(fm):
    fields = created(fm)["metadata"]["managedFields"][0]["fieldsV1"]
    assert set(fields["f:metadata"]) == {"f:labels"}
    assert "f:apiVersion" not in fields and "f:kind" not in fields


def test_managed_fields_sent_by_the_client_are_kept(fm):
    live = created(fm)
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"][0]["manager"] = "renamed"
    out = fm.update(live=live, new=new, manager="kubectl-edit", now=T1, **DEPLOY)
    assert [e["manager"] for e in out["metadata"]["managedFields"]] == ["renamed"]


def test_empty_entry_list_item_clears_managed_fields(fm):
    live = created(fm)
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [{}]
    out = fm.update(live=live, new=new, manager="kubectl-patch", now=T1, **DEPLOY)
    assert "managedFields" not in out["metadata"]


def test_objects_without_managed_fields_stay_untracked_on_update(fm):
    live = deployment()  # stored with a uid, nobody tracked
    new = deployment()
    new["spec"]["replicas"] = 2
    out = fm.update(live=live, new=new, manager="kubectl-edit", now=T1, **DEPLOY)
    assert "managedFields" not in out["metadata"]


def test_unreadable_managed_fields_fall_back_to_the_live_ones(fm):
    live = created(fm)
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [{"manager": "x", "operation": "Bogus"}]
    out = fm.update(live=live, new=new, manager="kubectl-patch", now=T1, **DEPLOY)
    assert out["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_entries_are_sorted_apply_first_then_by_time_then_manager(fm):
    live = created(fm)
    live["metadata"]["managedFields"].append({
        "manager": "ci", "operation": "Apply", "apiVersion": "apps/v1", "time": "2024-06-01T00:00:00Z",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:paused": {}}}})
    live["spec"]["paused"] = False
    new = copy.deepcopy(live)
    new["metadata"]["labels"]["b"] = "1"
    out = fm.update(live=live, new=new, manager="a-editor", now=T1, **DEPLOY)
    assert [e["manager"] for e in out["metadata"]["managedFields"]] == ["ci", "kubectl-create", "a-editor"]


def test_update_managers_are_capped_at_ten_by_merging_the_oldest(fm):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    for i in range(12):
        new = copy.deepcopy(obj)
        new["data"][f"k{i}"] = "v"
        obj = fm.update(live=obj, new=new, manager=f"m{i:02d}", api_version="v1", kind="ConfigMap", group="",
                        now=datetime(2024, 1, 1, 0, i, tzinfo=UTC))
    managers = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(managers) == 10
    assert managers[0] == "ancient-changes"
    first = obj["metadata"]["managedFields"][0]
    assert first["fieldsV1"] == {"f:data": {"f:k0": {}, "f:k1": {}, "f:k2": {}}}
    assert first["time"] == "2024-01-01T00:02:00Z"


def test_custom_resources_own_their_spec_object_itself(fm):
    cr = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}
    out = fm.update(live=None, new=cr, manager="kubectl-create", api_version="example.com/v1", kind="Widget",
                    group="example.com", now=T0)
    assert out["metadata"]["managedFields"][0]["fieldsV1"] == {"f:spec": {".": {}, "f:size": {}}}


def test_objects_without_metadata_are_returned_unchanged(fm):
    assert fm.update(live=None, new={"kind": "X"}, manager="m", api_version="v1", kind="X", group="") == {"kind": "X"}
