"""Pure StatefulSet rules: names and ordinals, the pods and claims made for an ordinal, the retention policy's
owner references, the rolling-update order with a partition, the revision of new pods, and the status counts."""

from __future__ import annotations

from typing import Any

from kubeprov.controllers import statefulset_util as su
from kubeprov.controllers.history import REVISION_HASH_LABEL


def sts(replicas: int = 3, **spec: Any) -> dict:
    body: dict[str, Any] = {
        "replicas": replicas, "serviceName": "svc", "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                     "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "cfg",
                                                                                          "emptyDir": {}}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"kind": "disk"}},
                                  "spec": {"accessModes": ["ReadWriteOnce"],
                                           "resources": {"requests": {"storage": "1Gi"}}}}]}
    body.update(spec)
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "set-uid", "generation": 2}, "spec": body}


def pod(name: str, phase: str = "Running", ready: bool = True, revision: str = "r1", deleting: bool = False) -> dict:
    meta: dict[str, Any] = {"name": name, "labels": {REVISION_HASH_LABEL: revision}, "uid": f"uid-{name}"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}


def test_names_and_ordinals():
    assert su.pod_name("web", 2) == "web-2"
    assert su.parent_and_ordinal("my-web-12") == ("my-web", 12)
    assert su.parent_and_ordinal("web") == ("web", -1)
    assert su.claim_name("data", "web", 0) == "data-web-0"
    assert su.is_member(sts(), {"metadata": {"name": "web-4"}})
    assert not su.is_member(sts(), {"metadata": {"name": "webx-4"}})


def test_ordinal_range_follows_ordinals_start():
    s = sts(2, ordinals={"start": 5})
    assert [o for o in range(0, 10) if su.in_ordinal_range(s, o)] == [5, 6]


def test_new_pod_has_identity_claim_volumes_and_owner():
    p = su.new_pod(sts(), sts()["spec"]["template"], 1, "web-abc")
    assert p["metadata"]["name"] == "web-1"
    assert p["metadata"]["labels"] == {"app": "web", su.POD_NAME_LABEL: "web-1", su.POD_INDEX_LABEL: "1",
                                       REVISION_HASH_LABEL: "web-abc"}
    assert p["metadata"]["annotations"] == {"a": "b"}
    assert (p["spec"]["hostname"], p["spec"]["subdomain"]) == ("web-1", "svc")
    assert p["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}},
                                    {"name": "cfg", "emptyDir": {}}]
    assert p["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                                                 "uid": "set-uid", "controller": True, "blockOwnerDeletion": True}]


def test_new_claim_carries_template_and_selector_labels():
    claim = su.new_claim(sts(), sts()["spec"]["volumeClaimTemplates"][0], 2)
    assert claim["metadata"]["name"] == "data-web-2"
    assert claim["metadata"]["labels"] == {"kind": "disk", "app": "web"}
    assert claim["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    assert "ownerReferences" not in claim["metadata"]  # Retain/Retain


def retention(when_deleted: str, when_scaled: str, replicas: int = 2) -> dict:
    return sts(replicas, persistentVolumeClaimRetentionPolicy={"whenDeleted": when_deleted,
                                                               "whenScaled": when_scaled})


def owner_kinds(refs: list[dict]) -> list[str]:
    return [r["kind"] for r in refs]


def test_retention_when_deleted_delete_owns_claims_by_the_set():
    claim = {"metadata": {"ownerReferences": [{"kind": "Other", "uid": "x"}]}}
    refs = su.desired_claim_refs(claim, retention("Delete", "Retain"), pod("web-1"), 1)
    assert owner_kinds(refs) == ["Other", "StatefulSet"]


def test_retention_when_scaled_delete_owns_scaled_away_claims_by_the_pod():
    s = retention("Delete", "Delete", replicas=1)
    assert owner_kinds(su.desired_claim_refs({"metadata": {}}, s, pod("web-1"), 1)) == ["Pod"]
    assert owner_kinds(su.desired_claim_refs({"metadata": {}}, s, pod("web-0"), 0)) == ["StatefulSet"]
    kept = retention("Retain", "Delete", replicas=1)
    assert su.desired_claim_refs({"metadata": {}}, kept, pod("web-0"), 0) == []


def test_retention_retain_removes_our_references():
    claim = {"metadata": {"ownerReferences": [{"kind": "StatefulSet", "uid": "set-uid"}]}}
    assert su.desired_claim_refs(claim, retention("Retain", "Retain"), None, 0) == []


def update_target(revisions: dict[int, str], partition: int = 0, healthy: dict[int, bool] | None = None,
                  terminating: dict[int, bool] | None = None) -> tuple[str, int | None]:
    ordinals = sorted(revisions)
    return su.next_update_target(ordinals, revisions, healthy or dict.fromkeys(ordinals, True),
                                 terminating or {}, "new", 0, partition)


def test_rolling_update_goes_from_the_highest_ordinal_down():
    assert update_target({0: "old", 1: "old", 2: "old"}) == ("delete", 2)
    assert update_target({0: "old", 1: "old", 2: "new"}) == ("delete", 1)
    assert update_target({0: "new", 1: "new", 2: "new"}) == ("done", None)


def test_rolling_update_waits_for_an_unhealthy_updated_pod():
    assert update_target({0: "old", 1: "old", 2: "new"}, healthy={0: True, 1: True, 2: False}) == ("wait", 2)
    assert update_target({0: "old", 1: "old", 2: "old"}, terminating={2: True}) == ("wait", 2)


def test_rolling_update_leaves_ordinals_below_the_partition():
    assert update_target({0: "old", 1: "old", 2: "new"}, partition=2) == ("done", None)
    assert update_target({0: "old", 1: "old", 2: "old"}, partition=2) == ("delete", 2)


def test_new_pods_below_the_partition_get_the_current_revision():
    s = sts(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    assert [su.revision_for_new_pod(s, o, 0) for o in range(3)] == ["current", "current", "update"]
    assert su.revision_for_new_pod(sts(updateStrategy={"type": "OnDelete"}), 0, 3) == "update"


def test_status_counts_and_completed_rolling_update():
    s = sts()
    pods = [pod("web-0", revision="r1"), pod("web-1", revision="r2"), pod("web-2", ready=False, revision="r2")]
    st = su.compute_status(s, pods, "r1", "r2", 0, 0.0)
    assert (st["replicas"], st["readyReplicas"], st["currentReplicas"], st["updatedReplicas"],
            st["availableReplicas"], st["observedGeneration"]) == (3, 2, 1, 2, 2, 2)
    assert (st["currentRevision"], st["updateRevision"]) == ("r1", "r2")
    done = su.compute_status(s, [pod(f"web-{i}", revision="r2") for i in range(3)], "r1", "r2", 0, 0.0)
    assert (done["currentRevision"], done["currentReplicas"]) == ("r2", 3)


def test_terminating_pods_count_as_replicas_but_not_as_updated():
    st = su.compute_status(sts(), [pod("web-0", revision="r2", deleting=True)], "r1", "r2", 0, 0.0)
    assert (st["replicas"], st["updatedReplicas"]) == (1, 0)


def test_min_ready_seconds_delays_availability():
    s = sts(minReadySeconds=30)
    ready_at = 1767225600.0  # 2026-01-01T00:00:00Z
    assert not su.is_running_and_available(pod("web-0"), 30, ready_at + 10)
    assert su.is_running_and_available(pod("web-0"), 30, ready_at + 31)
    assert su.compute_status(s, [pod("web-0")], "r", "r", 0, ready_at + 10)["availableReplicas"] == 0
