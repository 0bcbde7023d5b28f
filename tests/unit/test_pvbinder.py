"""Pure PersistentVolume matching: class, volumeMode, access modes, size, selector, claimRef; smallest first;
pre-bound volumes; and the hostPath provisioner's volume for a claim."""

from __future__ import annotations

from typing import Any

from kubeprov.controllers.config import ControllerManagerConfig
from kubeprov.controllers.volumes.hostpath import HostPathProvisioner, default_storage_class, new_volume, wants_volume
from kubeprov.controllers.volumes.pvbinder import STORAGE_PROVISIONER, find_best_volume, mismatch


def pv(name: str, size: str = "1Gi", modes: list[str] | None = None, cls: str | None = None,
       labels: dict | None = None, claim: dict | None = None, **spec: Any) -> dict:
    body: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": modes or ["ReadWriteOnce"]}
    if cls is not None:
        body["storageClassName"] = cls
    if claim is not None:
        body["claimRef"] = claim
    body.update(spec)
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": body, "status": {"phase": "Available"}}


def pvc(size: str = "1Gi", modes: list[str] | None = None, cls: str | None = None, **spec: Any) -> dict:
    body: dict[str, Any] = {"accessModes": modes or ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if cls is not None:
        body["storageClassName"] = cls
    body.update(spec)
    return {"metadata": {"name": "data", "namespace": "ns", "uid": "claim-uid"}, "spec": body}


def test_smallest_volume_that_fits_wins():
    volumes = [pv("b", "10Gi"), pv("a", "5Gi"), pv("c", "500Mi"), pv("d", "5Gi")]
    assert find_best_volume(pvc("1Gi"), volumes)["metadata"]["name"] == "a"


def test_access_modes_must_be_a_superset():
    assert mismatch(pv("a", modes=["ReadWriteOnce"]), pvc(modes=["ReadWriteMany"])) == "incompatible accessMode"
    assert mismatch(pv("a", modes=["ReadWriteOnce", "ReadOnlyMany"]), pvc(modes=["ReadOnlyMany"])) == ""


def test_unset_and_empty_class_both_mean_no_class():
    assert mismatch(pv("a"), pvc(cls="")) == ""
    assert mismatch(pv("a", cls=""), pvc()) == ""
    assert mismatch(pv("a", cls="fast"), pvc()) == "storageClassName does not match"
    assert mismatch(pv("a"), pvc(cls="fast")) == "storageClassName does not match"


def test_volume_mode_and_size_and_selector():
    assert mismatch(pv("a", volumeMode="Block"), pvc()) == "incompatible volumeMode"
    assert mismatch(pv("a", "1Gi"), pvc("2Gi")) == "requested PV is too small"
    selector = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fast"]}]}
    assert mismatch(pv("a", labels={"tier": "slow"}), pvc(selector=selector)) == "selector does not match"
    assert mismatch(pv("a", labels={"tier": "fast"}), pvc(selector=selector)) == ""


def test_volumes_claimed_by_another_claim_are_skipped():
    other = {"namespace": "ns", "name": "other", "uid": "x"}
    assert find_best_volume(pvc(), [pv("a", claim=other)]) is None


def test_a_volume_pre_bound_to_the_claim_comes_first():
    mine = {"namespace": "ns", "name": "data"}
    volumes = [pv("small"), pv("reserved", "50Gi", claim=mine)]
    assert find_best_volume(pvc(), volumes)["metadata"]["name"] == "reserved"


def test_deleting_volumes_are_not_candidates():
    volume = pv("a")
    volume["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert find_best_volume(pvc(), [volume]) is None


def hostpath_class(mode: str = "Immediate") -> dict:
    return {"metadata": {"name": "hp"}, "provisioner": "kubeprov.dev/hostpath", "reclaimPolicy": "Retain",
            "volumeBindingMode": mode}


def test_provisioner_waits_for_the_binder_and_the_selected_node():
    claim = pvc(cls="hp")
    assert not wants_volume(claim, hostpath_class())
    claim["metadata"]["annotations"] = {STORAGE_PROVISIONER: "kubeprov.dev/hostpath"}
    assert wants_volume(claim, hostpath_class())
    assert not wants_volume(claim, hostpath_class("WaitForFirstConsumer"))
    claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] = "n1"
    assert wants_volume(claim, hostpath_class("WaitForFirstConsumer"))
    assert not wants_volume(claim, {**hostpath_class(), "provisioner": "other"})


def test_provisioned_volume_is_prebound_and_sized_to_the_request():
    volume = new_volume(pvc("3Gi", cls="hp"), hostpath_class(), "/data/vols")
    assert volume["metadata"]["name"] == "pvc-claim-uid"
    spec = volume["spec"]
    assert spec["capacity"] == {"storage": "3Gi"} and spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["hostPath"]["path"] == "/data/vols/pvc-claim-uid"
    assert (spec["claimRef"]["name"], spec["claimRef"]["uid"]) == ("data", "claim-uid")
    assert "nodeAffinity" not in spec


def test_default_storage_class_is_standard_hostpath():
    sc = default_storage_class()
    assert sc["metadata"] == {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class":
                                                                  "true"}}
    assert (sc["provisioner"], sc["reclaimPolicy"], sc["volumeBindingMode"]) == (
        "kubeprov.dev/hostpath", "Delete", "Immediate")


def test_provisioner_options_come_from_the_manager_config():
    config = ControllerManagerConfig(hostpath_base_dir="/srv/vols", create_default_storage_class=False)
    assert HostPathProvisioner.options(config) == {"base_dir": "/srv/vols", "create_default_class": False}
    assert HostPathProvisioner.options(ControllerManagerConfig()) == {"base_dir": "/var/lib/kubeprov/volumes",
                                                                     "create_default_class": True}
