"""VolumeBinding: claims, their volumes' node affinity and WaitForFirstConsumer classes decide the nodes."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from kubeprov.scheduler import NodeInfo, schedule
from kubeprov.scheduler.plugins.volume_binding import PreBindAction, prebind_actions

from .test_scheduler_builders import info, node, pod

NOT_HELPFUL = "preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."


@dataclass
class Volumes:
    """A VolumeLookup over plain dicts."""

    claims: dict[tuple[str, str], dict] = field(default_factory=dict)
    pvs: dict[str, dict] = field(default_factory=dict)
    classes: dict[str, dict] = field(default_factory=dict)

    def claim(self, namespace: str, name: str) -> dict | None:
        return self.claims.get((namespace, name))

    def volume(self, name: str) -> dict | None:
        return self.pvs.get(name)

    def storage_class(self, name: str) -> dict | None:
        return self.classes.get(name)

    def volumes(self) -> list[dict]:
        return list(self.pvs.values())

    def add_claim(self, name: str, *, cls: str | None = "standard", volume: str = "", size: str = "1Gi",
                  deleting: bool = False) -> dict:
        meta: dict = {"name": name, "namespace": "default", "uid": f"uid-{name}", "annotations": {}}
        spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
        if cls is not None:
            spec["storageClassName"] = cls
        if volume:
            spec["volumeName"] = volume
            meta["annotations"]["pv.kubernetes.io/bind-completed"] = "yes"
        if deleting:
            meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        claim = {"metadata": meta, "spec": spec, "status": {"phase": "Bound" if volume else "Pending"}}
        self.claims[("default", name)] = claim
        return claim

    def add_pv(self, name: str, *, cls: str = "standard", hosts: list[str] | None = None,
               zone: str | None = None, bound_to: str = "", size: str = "1Gi") -> dict:
        spec: dict = {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": cls}
        exprs = []
        if hosts:
            exprs.append({"key": "kubernetes.io/hostname", "operator": "In", "values": hosts})
        if zone:
            exprs.append({"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]})
        if exprs:
            spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": exprs}]}}
        if bound_to:
            spec["claimRef"] = {"namespace": "default", "name": bound_to}
        pv = {"metadata": {"name": name}, "spec": spec, "status": {"phase": "Bound" if bound_to else "Available"}}
        self.pvs[name] = pv
        return pv

    def add_class(self, name: str, *, mode: str = "Immediate", provisioner: str = "kubeprov.dev/hostpath",
                  zones: list[str] | None = None) -> None:
        sc: dict = {"metadata": {"name": name}, "provisioner": provisioner, "volumeBindingMode": mode}
        if zones:
            sc["allowedTopologies"] = [{"matchLabelExpressions": [{"key": "topology.kubernetes.io/zone",
                                                                    "values": zones}]}]
        self.classes[name] = sc


def with_claims(*names: str, **kw) -> dict:
    return pod(volumes=[{"name": f"v{i}", "persistentVolumeClaim": {"claimName": n}} for i, n in enumerate(names)],
               **kw)


def nodes(*names: str, zone: dict[str, str] | None = None) -> list[NodeInfo]:
    return [info(node(n, labels={"topology.kubernetes.io/zone": (zone or {}).get(n, "z1")})) for n in names]


def run(p: dict, ns: list[NodeInfo], vols: Volumes, **kw):
    return schedule(p, ns, rng=random.Random(1), volumes=vols, **kw)


def test_missing_claim_is_unresolvable_at_pre_filter():
    r = run(with_claims("data"), nodes("a", "b"), Volumes())
    assert r.node is None
    assert r.message == f'0/2 nodes are available: persistentvolumeclaim "data" not found. {NOT_HELPFUL.format(n=2)}'


def test_claim_being_deleted_is_unresolvable():
    vols = Volumes()
    vols.add_claim("data", deleting=True)
    assert 'persistentvolumeclaim "data" is being deleted.' in run(with_claims("data"), nodes("a"), vols).message


def test_unbound_immediate_claim_waits_for_the_binder():
    vols = Volumes()
    vols.add_class("standard")
    vols.add_claim("data")
    r = run(with_claims("data"), nodes("a", "b", "c", "d", "e"), vols)
    assert r.message == ("0/5 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
                         + NOT_HELPFUL.format(n=5))
    assert {s.plugin for s in r.statuses.values()} == {"VolumeBinding"}


def test_claim_of_missing_class_counts_as_immediate():
    vols = Volumes()
    vols.add_claim("data", cls="nope")
    assert "pod has unbound immediate PersistentVolumeClaims" in run(with_claims("data"), nodes("a"), vols).message


def test_claim_without_class_counts_as_immediate():
    vols = Volumes()
    vols.add_claim("data", cls=None)
    assert "pod has unbound immediate PersistentVolumeClaims" in run(with_claims("data"), nodes("a"), vols).message


def test_bound_claim_with_hostname_affinity_narrows_nodes():
    vols = Volumes()
    vols.add_claim("data", volume="pv1")
    vols.add_pv("pv1", hosts=["b"], bound_to="data")
    r = run(with_claims("data"), nodes("a", "b", "c"), vols)
    assert r.node == "b"
    assert r.failures == {"a": ["node(s) didn't satisfy plugin(s) [VolumeBinding]"],
                          "c": ["node(s) didn't satisfy plugin(s) [VolumeBinding]"]}


def test_bound_claim_with_zone_affinity_reports_node_affinity_conflict():
    vols = Volumes()
    vols.add_claim("data", volume="pv1")
    vols.add_pv("pv1", zone="z2", bound_to="data")
    r = run(with_claims("data"), nodes("a", "b", zone={"a": "z1", "b": "z1"}), vols)
    assert r.message == ("0/2 nodes are available: 2 node(s) had volume node affinity conflict. "
                         + NOT_HELPFUL.format(n=2))


def test_bound_claim_with_matching_zone_schedules():
    vols = Volumes()
    vols.add_claim("data", volume="pv1")
    vols.add_pv("pv1", zone="z2", bound_to="data")
    assert run(with_claims("data"), nodes("a", "b", zone={"b": "z2"}), vols).node == "b"


def test_bound_claim_whose_volume_is_gone():
    vols = Volumes()
    vols.add_claim("data", volume="gone")
    r = run(with_claims("data"), nodes("a"), vols)
    assert r.failures == {"a": ["node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"]}


def test_volumes_of_two_claims_on_different_hosts_leave_no_node():
    vols = Volumes()
    vols.add_claim("x", volume="pv1")
    vols.add_claim("y", volume="pv2")
    vols.add_pv("pv1", hosts=["a"], bound_to="x")
    vols.add_pv("pv2", hosts=["b"], bound_to="y")
    r = run(with_claims("x", "y"), nodes("a", "b"), vols)
    assert r.message.startswith("0/2 nodes are available: node(s) didn't satisfy plugin VolumeBinding. ")


def test_wait_for_first_consumer_claim_with_provisioner_fits_any_node():
    vols = Volumes()
    vols.add_class("local", mode="WaitForFirstConsumer")
    vols.add_claim("data", cls="local")
    r = run(with_claims("data"), nodes("a", "b"), vols)
    assert sorted(r.feasible) == ["a", "b"]


def test_wait_for_first_consumer_without_provisioner_needs_a_static_volume_on_the_node():
    vols = Volumes()
    vols.add_class("local", mode="WaitForFirstConsumer", provisioner="kubernetes.io/no-provisioner")
    vols.add_claim("data", cls="local")
    vols.add_pv("local-b", cls="local", hosts=["b"])
    r = run(with_claims("data"), nodes("a", "b"), vols)
    assert r.node == "b"
    assert r.failures == {"a": ["node(s) didn't find available persistent volumes to bind"]}


def test_wait_for_first_consumer_respects_allowed_topologies():
    vols = Volumes()
    vols.add_class("zonal", mode="WaitForFirstConsumer", zones=["z2"])
    vols.add_claim("data", cls="zonal")
    r = run(with_claims("data"), nodes("a", "b", zone={"a": "z1", "b": "z2"}), vols)
    assert r.node == "b"


def test_pod_without_claims_ignores_volume_data():
    assert run(pod(), nodes("a"), Volumes()).node == "a"


def test_without_volume_information_claims_are_not_checked():
    assert schedule(with_claims("data"), nodes("a"), rng=random.Random(1)).node == "a"


def test_prebind_marks_provisioned_claim_with_the_node():
    vols = Volumes()
    vols.add_class("local", mode="WaitForFirstConsumer")
    claim = vols.add_claim("data", cls="local")
    assert prebind_actions(with_claims("data"), node("a"), vols) == [PreBindAction(claim, None)]


def test_prebind_picks_the_static_volume_on_the_node():
    vols = Volumes()
    vols.add_class("local", mode="WaitForFirstConsumer", provisioner="kubernetes.io/no-provisioner")
    claim = vols.add_claim("data", cls="local")
    vols.add_pv("local-a", cls="local", hosts=["a"])
    pv_b = vols.add_pv("local-b", cls="local", hosts=["b"])
    assert prebind_actions(with_claims("data"), node("b"), vols) == [PreBindAction(claim, pv_b)]


def test_prebind_has_nothing_to_do_for_bound_claims():
    vols = Volumes()
    vols.add_claim("data", volume="pv1")
    vols.add_pv("pv1", bound_to="data")
    assert prebind_actions(with_claims("data"), node("a"), vols) == []
