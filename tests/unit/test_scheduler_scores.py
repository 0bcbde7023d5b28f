"""Score plugins, normalization, weights and the choice among the best nodes."""

from __future__ import annotations

import random

from kubeprov.scheduler import NodeInfo, schedule
from kubeprov.scheduler.framework import Cycle, num_feasible_nodes_to_find
from kubeprov.scheduler.plugins.node_resources import NodeResourcesBalancedAllocation, NodeResourcesFit

from .test_scheduler_builders import info, node, pod


def run(p: dict, *nodes: NodeInfo, seed: int = 1, **kw):
    return schedule(p, list(nodes), rng=random.Random(seed), **kw)


def _score(plugin, p: dict, n: NodeInfo) -> int:
    cycle = Cycle(p, [n])
    plugin.pre_score(cycle, [n])
    return plugin.score(cycle, n)


def test_least_allocated_score_value():
    # cpu (4000-1000)*100/4000 = 75, memory (8-1)*100/8 = 87 (integer), mean 81
    assert _score(NodeResourcesFit(), pod(cpu="1", memory="1Gi"), info(node("a"))) == 81


def test_least_allocated_uses_non_zero_defaults_for_missing_requests():
    # a pod without requests counts 100m cpu and 200Mi memory
    assert _score(NodeResourcesFit(), pod(), info(node("a", cpu="1", memory="2000Mi"))) == (90 + 90) // 2


def test_least_allocated_prefers_emptier_node():
    full = info(node("a"), pod("x", cpu="3", memory="6Gi", node_name="a"))
    empty = info(node("b"))
    r = run(pod(cpu="500m", memory="512Mi"), full, empty)
    assert r.node == "b" and r.scores["b"] > r.scores["a"]


def test_balanced_allocation_score_values():
    n = info(node("a", cpu="4", memory="4Gi"))
    assert _score(NodeResourcesBalancedAllocation(), pod(cpu="2", memory="2Gi"), n) == 100
    # fractions 0.75 and 0.25: std 0.25
    assert _score(NodeResourcesBalancedAllocation(), pod(cpu="3", memory="1Gi"), n) == 75


def test_balanced_allocation_prefers_node_that_evens_out_usage():
    # both nodes are equally free in sum; on "b" the pod evens out cpu vs memory
    a = info(node("a", cpu="4", memory="4Gi"), pod("x", cpu="2", node_name="a"))
    b = info(node("b", cpu="4", memory="4Gi"), pod("y", memory="2Gi", node_name="b"))
    r = run(pod(cpu="2"), a, b)
    assert r.node == "b"


def test_prefer_no_schedule_taint_scores_lower_unless_tolerated():
    tainted = info(node("a", taints=[{"key": "spot", "value": "yes", "effect": "PreferNoSchedule"}]))
    plain = info(node("b"))
    r = run(pod(), tainted, plain)
    assert r.node == "b"
    assert r.scores["b"] - r.scores["a"] == 3 * 100
    tol = [{"key": "spot", "operator": "Equal", "value": "yes", "effect": "PreferNoSchedule"}]
    r = run(pod(tolerations=tol), tainted, plain)
    assert r.scores["a"] == r.scores["b"]


def test_preferred_node_affinity_weights_normalized():
    a = info(node("a", labels={"disk": "ssd"}))
    b = info(node("b", labels={"disk": "hdd"}))
    pref = [
        {"weight": 1, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
        {"weight": 5, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]}},
    ]
    r = run(pod(affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": pref}}), a, b)
    assert r.node == "b"
    # weight 2: hdd gets 100, ssd 100*1/5 = 20
    assert r.scores["b"] - r.scores["a"] == 2 * (100 - 20)


def _zones(*pods_on: tuple[str, dict]) -> list[NodeInfo]:
    zones = {"a": "z1", "b": "z1", "c": "z2"}
    return [
        info(node(n, labels={"topology.kubernetes.io/zone": z}), *[p for on, p in pods_on if on == n])
        for n, z in zones.items()
    ]


def _pref(kind: str, key: str, weight: int = 10) -> dict:
    term = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": key}
    return {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": weight, "podAffinityTerm": term}]}}


def test_preferred_pod_affinity_by_zone():
    nodes = _zones(("a", pod("db", labels={"app": "db"}, node_name="a")))
    r = run(pod(affinity=_pref("podAffinity", "topology.kubernetes.io/zone")), *nodes)
    # b and c are both empty, only b shares the zone with the db pod: inter-pod affinity (weight 2) adds 200
    assert r.scores["b"] - r.scores["c"] == 2 * 100
    assert r.node in {"a", "b"}


def test_preferred_pod_anti_affinity_by_hostname():
    nodes = _zones(("c", pod("db", labels={"app": "db"}, node_name="c")))
    r = run(pod(affinity=_pref("podAntiAffinity", "kubernetes.io/hostname")), *nodes)
    assert r.node in {"a", "b"}
    assert r.scores["a"] - r.scores["c"] >= 2 * 100  # plus a little for c hosting the db pod


def test_existing_pods_preferred_affinity_attracts_incoming_pod():
    db = pod("db", labels={"app": "cache"}, node_name="c", affinity=_pref("podAffinity", "kubernetes.io/hostname"))
    r = run(pod(labels={"app": "db"}), *_zones(("c", db)))
    assert r.node == "c"


RS_SELECTOR = {"matchLabels": {"app": "web"}}


def _rs_pod(name: str, node_name: str | None = None) -> dict:
    p = pod(name, labels={"app": "web"}, node_name=node_name)
    p["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "web", "uid": "rs1", "controller": True}]
    return p


def test_default_constraints_spread_replicaset_pods_over_nodes():
    # resources favour "a"/"b" (their pods request nothing), spreading favours "c" (no replica there yet)
    a = info(node("a"), _rs_pod("w1", "a"), _rs_pod("w2", "a"))
    b = info(node("b"), _rs_pod("w3", "b"))
    c = info(node("c"), pod("other", cpu="1", node_name="c"))
    assert run(_rs_pod("new"), a, b, c).node != "c"
    r = run(_rs_pod("new"), a, b, c, default_spread_selector=RS_SELECTOR)
    assert r.node == "c"
    assert r.scores["c"] > r.scores["b"] > r.scores["a"]


def test_schedule_anyway_constraint_prefers_emptier_zone():
    web = {"app": "web"}
    nodes = _zones(("a", pod("w1", labels=web, node_name="a")))
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": web},
        }
    ]
    r = run(pod(labels=web, topologySpreadConstraints=spread), *nodes)
    assert r.node == "c" and set(r.feasible) == {"a", "b", "c"}


def test_single_feasible_node_is_chosen_without_scoring():
    r = run(pod(nodeSelector={"x": "y"}), info(node("a", labels={"x": "y"})), info(node("b")))
    assert r.node == "a" and r.scores == {}


def test_ties_broken_by_seeded_rng_deterministically():
    nodes = [info(node(n)) for n in "abcdef"]
    first = run(pod(), *nodes, seed=7).node
    assert all(run(pod(), *nodes, seed=7).node == first for _ in range(5))
    picks = {run(pod(), *nodes, seed=s).node for s in range(40)}
    assert len(picks) > 1  # the tie is really broken at random, not by position
    assert len(set(run(pod(), *nodes).scores.values())) == 1


def test_higher_score_beats_tie_breaking():
    nodes = [info(node(n)) for n in "abc"] + [info(node("big", cpu="64", memory="256Gi"))]
    assert {run(pod(cpu="1"), *nodes, seed=s).node for s in range(20)} == {"big"}


def test_number_of_nodes_to_find():
    assert num_feasible_nodes_to_find(50, 0) == 50
    assert num_feasible_nodes_to_find(1000, 0) == 420  # adaptive 50 - 1000/125 = 42%
    assert num_feasible_nodes_to_find(150, 10) == 100  # never below 100
    assert num_feasible_nodes_to_find(6000, 0) == 6000 * 5 // 100  # adaptive floor 5%
    assert num_feasible_nodes_to_find(300, 100) == 300


def test_percentage_of_nodes_limits_feasible_nodes_found():
    nodes = [info(node(f"n{i}")) for i in range(200)]
    r = run(pod(), *nodes, percentage_of_nodes_to_score=10)
    assert len(r.feasible) == 100


def test_default_selector_from_services_and_owning_replicaset():
    from kubeprov.scheduler.plugins.pod_topology_spread import default_selector

    p = _rs_pod("new")
    p["metadata"]["ownerReferences"][0]["apiVersion"] = "apps/v1"
    p["metadata"]["labels"]["tier"] = "front"
    svc = {"metadata": {"name": "s", "namespace": "default"}, "spec": {"selector": {"tier": "front"}}}
    other_svc = {"metadata": {"name": "o", "namespace": "default"}, "spec": {"selector": {"tier": "back"}}}
    rs = {"kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": RS_SELECTOR}}
    assert default_selector(p, services=[svc, other_svc], controllers=[rs]) == {
        "matchLabels": {"tier": "front"},
        "matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}],
    }
    assert default_selector(pod("lonely")) is None


def test_partial_search_starts_at_start_index():
    nodes = [info(node(f"n{i:03}")) for i in range(200)]
    r = run(pod(), *nodes, percentage_of_nodes_to_score=10, start_index=150)
    assert r.processed == 100
    assert r.feasible[0] == "n150" and r.feasible[-1] == "n049"  # wraps around
