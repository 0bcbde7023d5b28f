"""Pure parts of the DaemonSet controller: node eligibility, daemon tolerations, pinning, update bounds."""

from __future__ import annotations

from kubeprov.api.informer import SharedInformerFactory
from kubeprov.controllers.daemonset import (
    DaemonSetController,
    _extra_pods,
    _split,
    daemon_tolerations,
    pin_to_node,
    should_run,
    target_node,
    template_pod,
    update_bounds,
)


def node(name: str = "n1", labels: dict | None = None, taints: list | None = None, unschedulable: bool = False) -> dict:
    spec: dict = {"taints": taints or []}
    if unschedulable:
        spec["unschedulable"] = True
        spec["taints"].append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def ds(**pod_spec: object) -> dict:
    return {"metadata": {"name": "d", "generation": 1},
            "spec": {"template": {"metadata": {"labels": {"app": "d"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}], **pod_spec}}}}


def test_plain_node_runs_the_pod():
    assert should_run(template_pod(ds()), node()) == (True, True)


def test_node_selector_and_required_affinity():
    picky = ds(nodeSelector={"disk": "ssd"})
    assert should_run(template_pod(picky), node(labels={"disk": "ssd"})) == (True, True)
    assert should_run(template_pod(picky), node()) == (False, False)
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}
    assert should_run(template_pod(ds(affinity=affinity)), node(labels={"zone": "b"})) == (False, False)


def test_unschedulable_nodes_still_get_pods():
    assert should_run(template_pod(ds()), node(unschedulable=True)) == (True, True)


def test_no_schedule_taint_stops_new_pods_but_keeps_running_ones():
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    assert should_run(template_pod(ds()), node(taints=[taint])) == (False, True)
    tolerant = ds(tolerations=[{"key": "dedicated", "operator": "Exists"}])
    assert should_run(template_pod(tolerant), node(taints=[taint])) == (True, True)


def test_no_execute_taint_evicts():
    taint = {"key": "broken", "effect": "NoExecute"}
    assert should_run(template_pod(ds()), node(taints=[taint])) == (False, False)


def test_not_ready_and_pressure_taints_are_tolerated():
    taints = [{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
              {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}]
    assert should_run(template_pod(ds()), node(taints=taints)) == (True, True)
    network = [{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]
    assert should_run(template_pod(ds()), node(taints=network))[0] is False
    assert should_run(template_pod(ds(hostNetwork=True)), node(taints=network))[0] is True


def test_daemon_tolerations_are_added_once():
    spec = {"tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}]}
    tolerations = daemon_tolerations(spec)
    assert len(tolerations) == 6
    assert all("tolerationSeconds" not in t for t in tolerations)


def test_pinning_replaces_required_terms_and_keeps_the_rest():
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {}}]}}
    pinned = pin_to_node(affinity, "n7")
    assert pinned["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n7"]}]}]}
    assert pinned["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert target_node({"spec": {"affinity": pinned}}) == "n7"
    assert target_node({"spec": {"nodeName": "n2", "affinity": pinned}}) == "n2"


def test_update_bounds_round_percentages_up_and_never_both_zero():
    def rolling(**ru: object) -> dict:
        return {"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": ru}}}
    assert update_bounds(rolling(maxUnavailable="10%"), 5) == (0, 1)
    assert update_bounds(rolling(maxUnavailable=2, maxSurge=0), 5) == (0, 2)
    assert update_bounds(rolling(maxUnavailable=0, maxSurge="50%"), 5) == (3, 0)
    assert update_bounds(rolling(maxUnavailable=0, maxSurge=0), 5) == (0, 1)
    assert update_bounds({"spec": {}}, 5) == (0, 1)


def pod(name: str, hash_: str, created: str, ready: bool = True) -> dict:
    return {"metadata": {"name": name, "creationTimestamp": created, "labels": {"controller-revision-hash": hash_}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_split_finds_new_and_old_pods():
    new, old = pod("a", "h2", "2024-01-01T00:00:02Z"), pod("b", "h1", "2024-01-01T00:00:01Z")
    assert _split([new, old], "h2", None) == (new, old, True)
    assert _split([new, dict(new, metadata=dict(new["metadata"], name="c"))], "h2", None)[2] is False


def test_extra_pods_keep_the_oldest_without_surge():
    a, b = pod("a", "h1", "2024-01-01T00:00:01Z"), pod("b", "h1", "2024-01-01T00:00:02Z")
    assert _extra_pods([b, a], "h1", 0) == [b]


def test_extra_pods_with_surge_keep_old_until_new_is_ready():
    old, new = pod("old", "h1", "2024-01-01T00:00:01Z"), pod("new", "h2", "2024-01-01T00:00:02Z", ready=False)
    assert _extra_pods([old, new], "h2", 1) == []
    ready_new = pod("new", "h2", "2024-01-01T00:00:02Z")
    assert _extra_pods([old, ready_new], "h2", 1) == [old]


def test_failed_pods_on_a_node_are_replaced_with_growing_delays():
    ctl = DaemonSetController(None, SharedInformerFactory(None))  # type: ignore[arg-type]
    ctl.queue.add_after = lambda *_args: None  # type: ignore[method-assign]
    assert ctl._failed_pod_may_go("ns/d", "n1", 100.0)  # the first failure: at once
    assert not ctl._failed_pod_may_go("ns/d", "n1", 100.5)  # then 1 s later at the earliest
    assert ctl._failed_pod_may_go("ns/d", "n1", 101.0)
    assert not ctl._failed_pod_may_go("ns/d", "n1", 102.5)  # then 2 s
    assert ctl._failed_pod_may_go("ns/d", "n1", 103.0)
    assert ctl._failed_pod_may_go("ns/d", "n2", 103.0)  # per node
